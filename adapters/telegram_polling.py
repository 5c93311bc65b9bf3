"""Telegram unreachable: what an error says, and the long polling that waits the outage out.

python-telegram-bot keeps one connection for getUpdates (`get_updates_request`). Klub's `PollingRequest`
is that connection: when Telegram cannot be reached it waits (Klub's capped, growing wait,
`adapters.reconnect`), writes one French line per attempt, and tries again itself. PTB's polling loop
never sees the outage — it would log a traceback for each failure. Repeating getUpdates is safe: the
offset says what was received, and every update is stored in the inbox before it is confirmed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httpx
from telegram.error import BadRequest, InvalidToken, NetworkError, TimedOut
from telegram.request import HTTPXRequest, RequestData

from adapters.reconnect import Backoff, network_cause, seconds

log = logging.getLogger("adapters.telegram_adapter")

# Failures raised before the request left this machine, or answered by a server error: safe to retry.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
REFUSED = (HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND)  # PTB's InvalidToken: a token Telegram does not know
_NOTHING = b'{"ok": true, "result": []}'


def certainly_not_sent(exc: NetworkError) -> bool:
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError):
        return isinstance(cause, NOT_SENT)
    return not isinstance(exc, TimedOut)  # the Bot API answered 5xx: the call was not carried out


def cause(exc: BaseException) -> str:
    """Why Telegram cannot be reached, in French. Never the exception's own text: PTB puts the token in
    some of them."""
    if isinstance(exc, NetworkError) and not isinstance(exc.__cause__, httpx.HTTPError):
        return "erreur du serveur Telegram"  # a 5xx answer (PTB's NetworkError without a transport cause)
    found = network_cause(exc)
    if found is not None:
        return found
    inner = exc.__cause__
    return type(inner if isinstance(inner, httpx.HTTPError) else exc).__name__


def not_delivered(exc: BaseException, token_env: str) -> str | None:
    """Why Telegram cannot be reached, when `exc` says so of a call that certainly did nothing (the outbox
    keeps the row for later); None otherwise. A refused token too: the row waits for a good one."""
    if isinstance(exc, InvalidToken):
        return f"jeton refusé, vérifiez {token_env}"
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest) and certainly_not_sent(exc):
        return cause(exc)
    return None


class PollingRequest(HTTPXRequest):
    """getUpdates' connection, waiting out an unreachable Telegram (see the module's docstring).

    `on_back` runs when getUpdates works again after failures; `on_refused` when Telegram refuses the
    token (401, 404): polling then waits until the adapter stops, it will never work. `stopping`: the
    adapter is stopping, PTB's last getUpdates (confirming the offset) is tried once and its failure
    swallowed — the updates it would confirm are in the inbox, and Telegram sends them again."""

    def __init__(
        self,
        backoff: Backoff,
        *,
        on_back: Callable[[], None],
        on_refused: Callable[[], None],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        super().__init__(connection_pool_size=1)  # PTB's default for getUpdates
        self.backoff = backoff
        self.on_back = on_back
        self.on_refused = on_refused
        self.sleep = sleep
        self.stopping = False
        self.failing = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        while True:
            try:
                code, payload = await super().do_request(
                    url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
                )
            except NetworkError as exc:  # TimedOut included: a long poll that never came back
                why = cause(exc)
            else:
                if code in REFUSED and not self.stopping:
                    self.on_refused()
                    await asyncio.Event().wait()  # until the adapter stops (PTB cancels the poll)
                if code < HTTPStatus.INTERNAL_SERVER_ERROR and code not in REFUSED:
                    if self.failing:
                        self.failing = False
                        self.backoff.reset()
                        self.on_back()
                    return code, payload
                why = f"réponse {code} de Telegram"
            if self.stopping:
                log.info("Telegram injoignable à l'arrêt (%s) : les derniers messages reçus seront relus", why)
                return HTTPStatus.OK, _NOTHING
            self.failing = True
            delay = self.backoff.next()
            log.warning("Telegram injoignable (%s) : nouvel essai dans %s s", why, seconds(delay))
            await self.sleep(delay)
