"""Discord's side of the durable inbox: what arrives is a row before Discord is told we have it.

An interaction must be acknowledged within 3 seconds. One commit per interaction, taken one after
the other, does not fit a burst on a loaded database; so arrivals are grouped: while one batch is being
written (one transaction, off the event loop), the next ones queue, and go together in the next commit
(`GroupCommit`). Each interaction is deferred as soon as its batch is committed.

A stored row carries what handling needs after a restart (`Stored`): the core's message, and for an
interaction its application id and webhook token (valid 15 minutes, independent of the gateway), so that
its answers can still follow up — or, for one that was never deferred, go to the person (privately) or
the channel (public answers) instead. The token is the payload's `token` key, which the core removes once
the row is handled or expired (`bot.tokens`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from bot.inbox import Inbox
from bot.messages import ChatRef, Incoming, UserRef

log = logging.getLogger(__name__)

PLATFORM = "discord"
MAX_BATCH = 500  # rows per commit


@dataclass(frozen=True)
class Stored:
    """An incoming interaction or message as the inbox keeps it."""

    incoming: Incoming
    kind: str  # "interaction" | "message"
    channel_id: str = ""  # where it happened (a thread's own id; "" for a DM)
    application_id: str = ""  # interactions: the follow-up webhook is (application id, token)
    token: str = ""  # named as `bot.tokens.KEY`: removed from the stored row once handled or expired
    interaction_id: str = ""
    hidden: bool = False  # the deferral (and so the original response) is ephemeral
    private: bool = False  # an exchange that never shows in the channel (/verifier)
    in_guild: bool = False

    @property
    def key(self) -> str:
        """Unique per platform in the inbox: Discord's snowflakes never repeat across kinds."""
        return f"{self.kind[0]}:{self.interaction_id or self.incoming.message_id}"

    def to_json(self) -> str:
        data = asdict(self)
        if not self.token:
            del data["token"]  # a message: nothing for the token scrub to look at
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str) -> Stored:
        data: dict[str, Any] = json.loads(payload)
        raw = data.pop("incoming")
        incoming = Incoming(
            **{
                **raw,
                "chat": ChatRef(**raw["chat"]),
                "user": UserRef(**raw["user"]),
            }
        )
        return cls(incoming=incoming, **data)


class Acknowledging:
    """Counts the interactions received and not yet acknowledged. While there are some, handling and
    sending wait (bounded): in a burst, the 3-second acknowledgements go first — the database (SQLite has
    one writer), the interpreter and the event loop are theirs — and the answers, which have 15 minutes,
    follow."""

    def __init__(self) -> None:
        self._count = 0
        self.quiet = threading.Event()  # for the handling threads
        self.quiet.set()
        self._idle = asyncio.Event()  # for the event loop
        self._idle.set()

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        self._count += 1
        self.quiet.clear()
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self.quiet.set()
                self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


class GroupCommit:
    """Stores updates in batches: `store` returns once its row is committed (True: new; False: already
    stored, Discord sent it again). One writer task; the commit runs in a thread."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._queue: asyncio.Queue[tuple[str, str, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Its own thread: the commits of a burst never wait behind other work of the default pool.
        self._writer: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="klub-discord-inbox")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="discord-inbox")

    async def stop(self) -> None:
        """Write what is queued, then end (nothing acknowledged is left unstored)."""
        task, self._task = self._task, None
        if task is None:
            return
        await self._queue.join()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=False)

    async def store(self, key: str, payload: str) -> bool:
        if self._task is None:
            raise RuntimeError("boîte de réception Discord arrêtée")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((key, payload, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Everything that arrived while the previous commit was running goes in this one.
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                rows = [(k, p) for k, p, _ in batch]
                loop = asyncio.get_running_loop()
                new = await loop.run_in_executor(self._writer, self.inbox.store_many, PLATFORM, rows)
            except Exception as exc:
                log.exception("Discord : %d message(s) reçu(s) non enregistré(s)", len(batch))
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for key, _, done in batch:
                    if not done.done():
                        done.set_result(key in new)
                        new.discard(key)  # the same update twice in one batch: the second is a repeat
            finally:
                for _ in batch:
                    self._queue.task_done()

