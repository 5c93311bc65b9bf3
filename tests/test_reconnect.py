"""The wait before trying an unreachable platform again, and how the log names the cause."""

from __future__ import annotations

import errno
import socket

import pytest

from adapters.reconnect import Backoff, network_cause, seconds
from bot.config import ReconnectConfig


def test_the_wait_doubles_up_to_its_cap_and_starts_again_after_a_success() -> None:
    longest = Backoff(1, 60, rand=lambda: 0.0)
    assert [longest.next() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    longest.reset()
    assert longest.next() == 1
    shortest = Backoff(1, 60, rand=lambda: 1.0)  # the jitter takes at most a fifth off
    assert [round(shortest.next(), 3) for _ in range(3)] == [0.8, 1.6, 3.2]


def test_a_long_outage_never_overflows_the_wait() -> None:
    backoff = Backoff(0.05, 0.2, rand=lambda: 0.0)
    for _ in range(10_000):
        delay = backoff.next()
    assert delay == 0.2


def test_the_wait_is_written_the_french_way() -> None:
    assert [seconds(d) for d in (0.84, 2.5, 9.96, 45.4, 60)] == ["0,8", "2,5", "10,0", "45", "60"]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "adresse introuvable (DNS)"),
        (OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 1)"), "connexion refusée"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connexion coupée"),
        (TimeoutError(), "délai dépassé"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "réseau injoignable"),
    ],
)
def test_the_cause_is_named_from_the_os_error_in_the_chain(error: OSError, said: str) -> None:
    try:
        try:
            raise error
        except OSError as inner:
            raise RuntimeError("https://api.example/bot123:SECRET/getMe") from inner  # a text never shown
    except RuntimeError as outer:
        assert network_cause(outer) == said


def test_what_is_not_a_network_failure_has_no_cause() -> None:
    assert network_cause(ValueError("no")) is None


def test_the_defaults_are_one_second_doubling_to_a_minute() -> None:
    backoff = Backoff.from_config(ReconnectConfig())
    assert (backoff.first, backoff.most) == (1.0, 60.0)
