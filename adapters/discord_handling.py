"""Handling what Discord sent, once stored: off the event loop, several people at a time, one person's
messages in their order (a mixin of the adapter).

`Core.handle_stored` runs on a small pool of single-thread workers; a person is always on the same
worker, so their commands keep their order while other people's run beside them (the core already runs
beside itself for Telegram; SQLite serialises the writes, PostgreSQL takes them in parallel). Its replies
come back as outbox rows claimed by this process, written in the handling's transaction, and are sent
at once through the pump (`deliver_now`: each row marked sending in its own commit before its call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from adapters.discord_intake import PLATFORM, Acknowledging, GroupCommit, Stored
from adapters.discord_replies import interaction_layout, message_layout
from adapters.outbox_pump import DeliveryUncertain, OutboxPump
from bot.messages import OutMessage

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("adapters.discord_adapter")

# Handling threads on PostgreSQL: enough to overlap the database's round trips, few for a small machine.
# On SQLite, one: it has one writer, and a transaction whose thread waits for the interpreter (the GIL)
# holds that writer meanwhile — the inbox's commits, and so the acknowledgements, would wait behind it.
WORKERS = 4
YIELD = 1.0  # seconds a handling waits at most for the acknowledgements being stored


class Counter:
    """A count shared by the event loop and the handling threads; `quiet` is set while it is zero."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self.quiet = threading.Event()
        self.quiet.set()

    def add(self, n: int) -> None:
        with self._lock:
            self._count += n
            if self._count > 0:
                self.quiet.clear()
            else:
                self.quiet.set()


class Handling:
    """Mixed into `DiscordAdapter`, which provides these attributes and `_send_out`."""

    app: App
    intake: GroupCommit
    acks: Acknowledging
    pump: OutboxPump
    _workers: list[ThreadPoolExecutor]
    _inflight: set[asyncio.Task[Any]]
    _loop: asyncio.AbstractEventLoop | None = None
    _resuming: bool = False
    _one_writer: bool = False
    _unsent: Counter

    if TYPE_CHECKING:  # the adapter's (from `ReplySender`); a stub here would shadow it

        async def _send_out(self, message: OutMessage) -> None: ...

    def start_workers(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._one_writer = self.app.engine.dialect.name == "sqlite"
        self._unsent = Counter()
        if not self._workers:
            count = 1 if self._one_writer else WORKERS
            self._workers = [
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"klub-discord-core-{n}") for n in range(count)
            ]

    def stop_workers(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.shutdown(wait=False, cancel_futures=True)

    def _track(self) -> None:
        """The running event handler counts as in flight until it ends (`settle`, `stop` wait for it)."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _store(self, stored: Stored) -> bool:
        """In the inbox before Discord hears from us. False: already there (sent twice), or not stored
        (the database refused: then it is not acknowledged either, and Discord shows the failure)."""
        try:
            return await self.intake.store(stored.key, stored.to_json())
        except Exception:
            return False

    async def handle_stored(self, stored: Stored) -> None:
        """The core on the person's worker; then its replies, sent at once, in order."""
        incoming = stored.incoming
        layout = (interaction_layout if stored.kind == "interaction" else message_layout)(
            stored, self.app.config.language
        )
        core = partial(self.app.core.handle_stored, incoming, inbox_key=stored.key, address=layout)

        def run() -> list[OutMessage]:
            # Acknowledgements first: a burst's inbox commits must not queue behind handlings for the
            # database (SQLite's one writer) and the interpreter; bounded, so a steady stream still flows.
            self.acks.quiet.wait(YIELD)
            if self._one_writer:
                # Then the answers already decided: on SQLite their short commits (sending, sent) would
                # otherwise starve behind one handling after the other, and every answer wait for the last.
                self._unsent.quiet.wait(YIELD)
            messages = core()
            self._unsent.add(sum(m.ledger_id is not None for m in messages))  # before the next handling
            return messages

        worker = self._workers[zlib.crc32(incoming.user.user_id.encode()) % len(self._workers)]
        messages = await asyncio.get_running_loop().run_in_executor(worker, run)
        try:
            await self._deliver_replies(messages)
        finally:
            self._unsent.add(-sum(m.ledger_id is not None for m in messages))

    async def _deliver_replies(self, messages: list[OutMessage]) -> None:
        for message in messages:
            with contextlib.suppress(TimeoutError):  # acknowledgements first (bounded: a steady stream)
                await asyncio.wait_for(self.acks.idle(), YIELD)
            if message.ledger_id is not None:
                await self.pump.deliver_now(message, fast=True)
                continue
            try:  # an apology the database could not even store (see Core.handle_stored): sent without a row
                await self._send_out(message)
            except Exception as exc:
                level = logging.ERROR if isinstance(exc, DeliveryUncertain | OSError) else logging.WARNING
                log.log(level, "réponse non envoyée dans %s : %s", message.chat.chat_id, exc)

    def resume_inbox(self) -> int:
        """Handle the stored updates nobody holds (ours from before a restart, or a dead instance's)."""
        if self._loop is None or self._resuming or not self._workers:
            return 0
        self._resuming = True
        task = asyncio.get_running_loop().create_task(self._resume(), name="discord-inbox-resume")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return 1

    async def _resume(self) -> None:
        try:
            rows = await asyncio.to_thread(self.app.inbox.take, PLATFORM)
        finally:
            self._resuming = False
        if rows:
            log.info("Discord : %d message(s) reçu(s) avant l'arrêt repris", len(rows))
        handled = []
        for key, payload in rows:
            try:
                stored = Stored.from_json(payload)
            except (ValueError, KeyError, TypeError):
                log.exception("Discord : message reçu illisible dans la boîte de réception (%s)", key)
                await asyncio.to_thread(self.app.inbox.finish, PLATFORM, key)  # not to be taken forever
                continue
            handled.append(asyncio.create_task(self.handle_stored(stored)))
        if handled:
            await asyncio.gather(*handled, return_exceptions=True)

    def _on_released(self) -> None:
        # From the heartbeat (another thread or task): a dead instance's updates are ours to take.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.resume_inbox)
