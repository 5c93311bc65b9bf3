"""One platform's share of the durable outbox: claim rows, mark each sending, send it once, record it.

Shared by the chat adapters. Only the sending itself is the platform's: a row is claimed in batches
(shared with the other instances), committed as 'sending' just before the call, tried once, and then
recorded sent, failed, or uncertain when it may have arrived — never retried: a reminder twice is worse
than a reminder late. The pump wakes when this process commits rows, and every `delivery.poll` seconds
for rows written by other processes. Database calls run off the event loop.

One commit per message: the outcome of a call is kept in memory (`_ended`) and written in the commit
that marks the next message sending, or in the next claim; at most one row is 'sending' at any time, so
a crash leaves at most that one uncertain (sent or not, it is never repeated).

A platform that cannot be reached (the adapter's `unreachable` says so of an error that certainly did
not deliver: refused connection, DNS, 5xx) loses nothing: the row is pending again ("later"), the pump
stops sending and tries again after a capped, growing wait (`adapters.reconnect`), or as soon as the
adapter says the platform is back (`resume`). The adapter can also hold the pump (`suspend`): a token
the platform refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Protocol

from adapters.base import PlatformUnreachable
from adapters.reconnect import Backoff, seconds
from bot.app import App
from bot.messages import MemberAction, OutMessage
from bot.outbox import Outcome

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
        kinds: Mapping[str, Callable[[OutMessage], Awaitable[None]]] | None = None,
        fast_slots: int = 1,
        unreachable: Callable[[Exception], str | None] | None = None,
    ) -> None:
        """`send` posts a message and `execute` carries out a member action; both raise on failure.
        `kinds` carry out the other rows that are not messages, by `meta["kind"]` (Discord's event
        syncs). `expected` errors are logged in one line (others with their trace); `after_batch` runs
        after a batch in which something was sent or given up. `fast_slots` > 1: that many replies sent
        at once through `deliver_now(fast=True)`, beside the batch (see `deliver_now`). `unreachable(exc)`:
        why the platform cannot be reached (in French) when `exc` says so and the call certainly did not
        deliver, else None; such a row waits, pending, and the pump pauses (see the module's docstring)."""
        self.app = app
        self.platform = platform
        self._send = send
        self._execute = execute
        self._expected = expected
        self._after_batch = after_batch
        self._kinds = dict(kinds or {})
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False
        self._held: list[OutMessage] = []  # claimed by us and not yet sending: given back on stop
        # One platform call in flight per instance and platform (fast-path replies and the batch take
        # turns, one message each): a crash leaves at most one row uncertain.
        self._sending = asyncio.Lock()
        # The last call that ended, its row still 'sending': recorded by the next commit (under the lock).
        self._ended: Outcome | None = None
        # fast_slots > 1: replies sent beside the batch, each with its own commits (see `deliver_now`).
        self._fast: asyncio.Semaphore | None = asyncio.Semaphore(fast_slots) if fast_slots > 1 else None
        self.poll = app.config.delivery.poll
        self.batch = app.config.delivery.batch
        self._unreachable = unreachable or (lambda _exc: None)
        self.backoff = Backoff.from_config(app.config.adapters.reconnect)
        self._retry_at: float | None = None  # loop time of the next try at an unreachable platform
        self._suspended = False  # held by the adapter until `resume`
        self._why = ""  # the cause of the last "later", for its log line

    @property
    def waiting(self) -> bool:
        """True while nothing is sent: the platform was unreachable, or the adapter holds the pump."""
        return self._suspended or self._retry_at is not None

    def suspend(self) -> None:
        """Send nothing until `resume` (the rows stay pending): the adapter knows it cannot work now."""
        self._suspended = True

    def resume(self) -> None:
        """The platform answers again: send what waits, now."""
        if not self.waiting:
            return
        self._suspended = False
        self._retry_at = None
        self.backoff.reset()
        self._wake.set()

    def _later(self) -> None:
        """A row found the platform unreachable: wait before the next try, longer each time."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        delay = self.backoff.next()
        self._retry_at = self._loop.time() + delay
        log.warning(
            "%s injoignable (%s) : les envois attendent, nouvel essai dans %s s",
            self.platform.capitalize(),
            self._why,
            seconds(delay),
        )

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
        await self._settle()

    def _on_outbox(self, platform: str) -> None:
        # May be called from another thread (a message handler, the scheduler): wake through the loop.
        if platform != self.platform or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Rows written by another process wake nobody here: look every `poll` seconds anyway.
            timeout = self.poll if self._retry_at is None else max(0.0, self._retry_at - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            if self._closing:
                return
            if self._suspended:
                continue
            if self._retry_at is not None:
                if loop.time() < self._retry_at:
                    continue  # new rows meanwhile: they wait with the others
                self._retry_at = None  # time to try again
            try:
                done = await self.flush()
            except Exception:
                log.exception("%s : lecture de la file d'envoi impossible", self.platform)
                continue
            if done != (0, 0) and self._after_batch is not None:
                self._after_batch()

    async def flush(self) -> tuple[int, int]:
        """Send what the outbox holds for this platform, batch after batch; returns (sent, given up),
        counting messages and member actions (the other kinds of rows are carried out, not counted)."""
        sent = failed = 0
        try:
            while not self._closing:
                async with self._sending:  # the next claim also records the last outcome
                    ended, self._ended = self._ended, None
                    try:
                        batch = await asyncio.to_thread(
                            partial(self.app.outbox.claim, self.platform, self.batch, after=ended)
                        )
                    except BaseException:
                        self._ended = ended  # not recorded: the next commit tries again
                        raise
                self._tell(ended)
                if not batch:
                    break
                self._held = list(batch)
                later = False
                while self._held:
                    if self._closing:
                        break
                    message = self._held.pop(0)
                    outcome = await self._send_one(message)
                    if outcome == "later":
                        later = True  # the platform cannot be reached: the rest of the batch waits too
                        break
                    if message.meta.get("kind", "") in self._kinds:
                        continue  # bookkeeping rows (event syncs): not counted as messages sent
                    if outcome == "sent":
                        sent += 1
                    else:
                        failed += 1
                if self._held:  # stopping, or unreachable: what we hold and did not start goes back at once
                    await asyncio.to_thread(self.app.outbox.release, self._held)
                    self._held = []
                if later:
                    self._later()
                    break
        finally:
            await self._settle()
        return sent, failed

    async def deliver_now(self, message: OutMessage, *, fast: bool = False) -> bool:
        """Send one claimed row at once (the fast path for replies): sending, call, outcome recorded.
        `fast`: a reply in one of the `fast_slots` (a platform whose replies do not share one queue, such
        as Discord's per-interaction webhooks), with a commit of its own before and after its call: each
        row is still committed 'sending' before its call, so after a crash only the rows then in flight —
        at most `fast_slots` + 1 — can be uncertain."""
        if fast and self._fast is not None:
            async with self._fast:
                if not await asyncio.to_thread(self.app.outbox.mark_sending, message):
                    log.info("message %s repris par une autre instance : pas envoyé ici", message.ledger_id)
                    return False
                outcome = await self._deliver(message)
            try:
                await asyncio.to_thread(partial(self.app.outbox.settle, (message, outcome), tell=False))
            except Exception:
                log.exception("accusé d'envoi en échec pour %s", message.chat.chat_id)
                return outcome == "sent"
            self._tell((message, outcome))
            if outcome == "later":
                self._later()
            return outcome == "sent"
        outcome = await self._send_one(message)
        await self._settle()
        if outcome == "later":
            self._later()
        return outcome == "sent"

    async def _send_one(self, message: OutMessage) -> str:
        """Mark the row sending (recording the previous outcome in the same commit) and call the
        platform; its own outcome waits in `_ended` for the next commit."""
        async with self._sending:
            ended, self._ended = self._ended, None
            try:
                marked = await asyncio.to_thread(partial(self.app.outbox.mark_sending, message, after=ended))
            except BaseException:
                self._ended = ended
                raise
            self._tell(ended)
            if not marked:
                log.info("message %s repris par une autre instance : pas envoyé ici", message.ledger_id)
                return "taken"
            outcome = await self._deliver(message)
            self._ended = (message, outcome)
            return outcome

    async def _settle(self) -> None:
        """Record the last outcome in a commit of its own (nothing follows it now)."""
        async with self._sending:
            ended, self._ended = self._ended, None
            if ended is None:
                return
            try:
                await asyncio.to_thread(partial(self.app.outbox.settle, ended, tell=False))
            except Exception:
                self._ended = ended  # still 'sending' in the database: the next commit records it
                log.exception("accusé d'envoi en échec pour %s", ended[0].chat.chat_id)
                return
        self._tell(ended)

    def _tell(self, ended: Outcome | None) -> None:
        if ended is not None:
            self.app.outbox.tell(ended)

    async def _deliver(self, message: OutMessage) -> str:
        """The platform call: "sent", "failed" (certainly not delivered), "uncertain", or "later"
        (certainly not delivered, the platform unreachable: the row waits)."""
        where = message.chat.chat_id
        action = MemberAction.from_out(message)
        special = self._kinds.get(message.meta.get("kind", ""))
        try:
            if action is not None:
                await self._execute(action)
            elif special is not None:
                await special(message)
            else:
                await self._send(message)
        except DeliveryUncertain as exc:
            log.warning("envoi incertain, non répété (jamais deux fois) : %s", exc)
            return "uncertain"
        except Exception as exc:
            why = self._unreachable(exc)
            if why is None:
                return self._failed(where, exc)
            self._why = why
            return "later"
        return "sent"

    def _failed(self, where: str, exc: Exception) -> str:
        if isinstance(exc, self._expected):
            log.error("message de la file non envoyé dans %s : %s", where, exc)
        else:  # not an error the platform gives: a bug, with its trace
            log.error("message de la file non envoyé dans %s", where, exc_info=exc)
        return "failed"


class _Sender(Protocol):
    pump: OutboxPump

    async def open(self) -> object: ...
    async def flush_outbox(self) -> tuple[int, int]: ...
    async def stop(self) -> None: ...


def deliver_pending(
    app: App, platform: str, make: Callable[[], _Sender], unreachable: type[Exception]
) -> tuple[int, int]:
    """Carry out what the outbox holds for `platform` from a process that is not the running bot (the
    command line): connect without listening, drain, close. Returns (done, not done); when the platform
    cannot be reached, what was queued counts as not done."""

    async def run() -> tuple[int, int, bool]:
        sender = make()
        await sender.open()
        try:
            done, failed = await sender.flush_outbox()
            return done, failed, sender.pump.waiting
        finally:
            await sender.stop()

    try:
        done, failed, cut_off = asyncio.run(run())
    except (unreachable, PlatformUnreachable) as exc:
        # The rows stay in the outbox: the running bot (or the next `klub run`) delivers them.
        pending = app.outbox.pending(platform)
        log.error("%s injoignable : %s", platform, exc)
        return 0, pending
    if cut_off:  # lost the platform on the way: the rest waits in the outbox, not done here
        failed += app.outbox.pending(platform)
    return done, failed
