"""One platform's share of the outbox: send each message once, acknowledge it, record give-ups.

Shared by the chat adapters. Only the sending itself is the platform's: a message is tried once, and a
failure is recorded in the ledger (failed, or uncertain when it may have arrived) instead of retried —
a reminder twice is worse than a reminder late, and never is decided by the ledger, not here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.bootstrap import App
from bot.messages import MemberAction, OutMessage

log = logging.getLogger(__name__)

STOP_GRACE = 30.0  # seconds a stop waits for the message being sent


class DeliveryUncertain(Exception):
    """The message may have reached the platform (wholly or in part): sending again could duplicate it."""


class OutboxPump:
    def __init__(
        self,
        app: App,
        platform: str,
        send: Callable[[OutMessage], Awaitable[None]],
        execute: Callable[[MemberAction], Awaitable[None]],
        *,
        expected: tuple[type[Exception], ...] = (),
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        """`send` posts a message and `execute` carries out a member action; both raise on failure.
        `expected` errors are logged in one line (others with their trace); `after_batch` runs after a
        batch in which something was sent or given up."""
        self.app = app
        self.platform = platform
        self._send = send
        self._execute = execute
        self._expected = expected
        self._after_batch = after_batch
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False

    def start(self) -> None:
        """Start draining in the running loop, beginning with whatever was queued before."""
        self._loop = asyncio.get_running_loop()
        if not self._listening:
            self.app.outbox.listen(self._on_outbox)
            self._listening = True
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"{self.platform}-outbox")
        self._wake.set()

    async def stop(self) -> None:
        self._closing = True
        if self._task is None:
            return
        self._wake.set()
        try:
            # Let the message being sent finish: cancelling mid-request could duplicate it later.
            await asyncio.wait_for(self._task, timeout=STOP_GRACE)
        except TimeoutError:
            log.warning("%s : envoi de la file interrompu à l'arrêt", self.platform)
        self._task = None

    def _on_outbox(self, platform: str) -> None:
        # May be called from another thread (a scheduler): wake the sender through the loop.
        if platform != self.platform or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self.flush() != (0, 0) and self._after_batch is not None:
                self._after_batch()
            if self._closing:
                return

    async def flush(self) -> tuple[int, int]:
        """Send what the outbox holds for this platform; returns (sent, given up)."""
        sent = failed = 0
        for message in self.app.outbox.drain(self.platform):
            if await self._deliver(message):
                sent += 1
            else:
                failed += 1
        return sent, failed

    async def _deliver(self, message: OutMessage) -> bool:
        where = message.chat.chat_id
        action = MemberAction.from_out(message)
        try:
            if action is not None:
                await self._execute(action)
            else:
                await self._send(message)
        except DeliveryUncertain as exc:
            log.warning("envoi incertain, non répété (jamais deux fois) : %s", exc)
            self.app.outbox.fail(message, "uncertain")
            return False
        except self._expected as exc:
            log.error("message de la file non envoyé dans %s : %s", where, exc)
            self.app.outbox.fail(message, "failed")
            return False
        except Exception:
            log.exception("message de la file non envoyé dans %s", where)
            self.app.outbox.fail(message, "failed")
            return False
        try:
            self.app.outbox.ack(message)
        except Exception:
            log.exception("accusé d'envoi en échec pour %s", where)
        return True


class _Sender(Protocol):
    async def open(self) -> object: ...
    async def flush_outbox(self) -> tuple[int, int]: ...
    async def stop(self) -> None: ...


def deliver_pending(
    app: App, platform: str, make: Callable[[], _Sender], unreachable: type[Exception]
) -> tuple[int, int]:
    """Carry out what the outbox holds for `platform` from a process that is not the running bot (the
    command line): connect without listening, drain, close. Returns (done, not done); when the platform
    cannot be reached, what was queued counts as not done."""

    async def run() -> tuple[int, int]:
        sender = make()
        await sender.open()
        try:
            return await sender.flush_outbox()
        finally:
            await sender.stop()

    try:
        return asyncio.run(run())
    except unreachable as exc:
        pending = app.outbox.pending(platform)
        app.outbox.drain(platform)
        log.error("%s injoignable : %s", platform, exc)
        return 0, pending
