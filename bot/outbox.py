"""Messages the core sends on its own (announcements, reminders, notices), waiting for an adapter.

The core puts; each running adapter drains the messages of its platform and acknowledges what it
sent. Reminder messages carry their ledger id: the acknowledgement marks the ledger row as sent.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.messages import OutMessage

Listener = Callable[[str], None]


class Outbox:
    def __init__(self) -> None:
        self._queues: dict[str, deque[OutMessage]] = defaultdict(deque)
        self._listeners: list[Listener] = []
        self._on_sent: list[Callable[[OutMessage], None]] = []
        self._on_failed: list[Callable[[OutMessage, str], None]] = []
        self._held: list[list[OutMessage]] = []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold what a handler sends until its database transaction commits; drop it on rollback.

        Nobody is told about a registration, a cancellation or a removal that did not happen.
        """
        self._held.append([])
        try:
            yield
        except BaseException:
            self._held.pop()
            raise
        for message in self._held.pop():
            self.put(message)

    def put(self, message: OutMessage) -> None:
        if self._held:
            self._held[-1].append(message)
            return
        self._queues[message.chat.platform].append(message)
        for listener in self._listeners:
            listener(message.chat.platform)

    def drain(self, platform: str) -> list[OutMessage]:
        queue = self._queues[platform]
        items = list(queue)
        queue.clear()
        return items

    def pending(self, platform: str | None = None) -> int:
        if platform is not None:
            return len(self._queues[platform])
        return sum(len(q) for q in self._queues.values())

    def listen(self, listener: Listener) -> None:
        """`listener(platform)` is called on every put: adapters use it to wake their sender."""
        self._listeners.append(listener)

    def on_sent(self, callback: Callable[[OutMessage], None]) -> None:
        self._on_sent.append(callback)

    def ack(self, message: OutMessage) -> None:
        """Called by an adapter once the platform accepted the message."""
        for callback in self._on_sent:
            callback(message)

    def on_failed(self, callback: Callable[[OutMessage, str], None]) -> None:
        self._on_failed.append(callback)

    def fail(self, message: OutMessage, outcome: str) -> None:
        """Called by an adapter that gave up: outcome "failed" (certainly not delivered) or "uncertain"
        (may have reached the platform). Either way the message is never tried again: never twice."""
        for callback in self._on_failed:
            callback(message, outcome)
