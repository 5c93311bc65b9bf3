"""Waiting for a platform that cannot be reached (network down, DNS, refused, 5xx): how long, and how to
say it in the log.

The people who run Klub are tourism-office staff on a small server: an outage must read as one French
line per attempt (« Discord injoignable (connexion refusée) : nouvel essai dans 4 s »), never as a
Python traceback, and Klub must come back by itself once the platform answers again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.base import PlatformUnreachable
from bot.config import ReconnectConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

JITTER = 0.2  # each wait is up to a fifth shorter, at random
_ERRNO = {
    errno.ECONNREFUSED: "connexion refusée",
    errno.ECONNRESET: "connexion coupée",
    errno.ECONNABORTED: "connexion coupée",
    errno.EPIPE: "connexion coupée",
    errno.ETIMEDOUT: "délai dépassé",
    errno.ENETUNREACH: "réseau injoignable",
    errno.EHOSTUNREACH: "serveur injoignable",
    errno.ENETDOWN: "réseau coupé",
}


class Backoff:
    """`first` seconds, doubled after each failure up to `most`, jittered so that several instances (or
    adapters) restarted together do not all knock at the same second. `reset` after a success."""

    def __init__(self, first: float, most: float, *, rand: Callable[[], float] = random.random) -> None:
        self.first = first
        self.most = most
        self.rand = rand
        self.failures = 0

    @classmethod
    def from_config(cls, cfg: ReconnectConfig) -> Backoff:
        return cls(cfg.first, cfg.max)

    def next(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        base = min(self.most, self.first * 2 ** min(self.failures, 32))
        self.failures += 1
        return base * (1 - JITTER * self.rand())

    def reset(self) -> None:
        self.failures = 0


def seconds(delay: float) -> str:
    """A wait as the log says it: « 45 », « 2,5 », « 0,2 » (French decimal comma)."""
    if delay >= 10:
        return f"{delay:.0f}"
    return f"{delay:.1f}".replace(".", ",")


def network_cause(exc: BaseException) -> str | None:
    """What went wrong on the way, in French, from the OS-level error in the exception's chain; None when
    it is not a network failure. Never the exception's text: a URL there may hold a token."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "adresse introuvable (DNS)"
        if isinstance(current, TimeoutError):
            return "délai dépassé"
        if isinstance(current, OSError) and current.errno is not None:
            # asyncio raises a bare OSError(errno, …) for a refused connection: the number says which.
            return _ERRNO.get(current.errno, f"erreur réseau {errno.errorcode.get(current.errno, current.errno)}")
        # aiohttp keeps the OS error aside (`os_error`), httpx and PTB chain it as the cause.
        inner = getattr(current, "os_error", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__ or current.__context__
    return None


async def pause(delay: float, stopping: asyncio.Event) -> bool:
    """Sleep `delay` seconds, or less if `stopping` is set; True when stopping."""
    try:
        await asyncio.wait_for(stopping.wait(), delay)
    except TimeoutError:
        return False
    return True


async def keep_trying(
    platform: str,
    why: str,
    backoff: Backoff,
    stopping: asyncio.Event,
    attempt: Callable[[], Awaitable[T]],
    refused: type[Exception],
    on_refused: Callable[[str], None],
) -> tuple[bool, T | None]:
    """Call `attempt` again and again, one French line and a growing wait before each, until it works:
    (True, its result). (False, None) when stopping, when the platform refuses the token (`on_refused` says
    it once), or on an error that is no outage (a bug: logged with its trace, not retried for ever)."""
    while True:
        delay = backoff.next()
        log.warning("%s injoignable (%s) : nouvel essai dans %s s", platform, why, seconds(delay))
        if await pause(delay, stopping):
            return False, None
        try:
            result = await attempt()
        except PlatformUnreachable as exc:
            why = str(exc)
            continue
        except refused as exc:
            on_refused(str(exc))
            return False, None
        except Exception:
            log.exception("%s : connexion impossible", platform)
            return False, None
        backoff.reset()
        return True, result
