"""Messages the core sends on its own (announcements, reminders, notices), waiting for an adapter.

The core puts; each running adapter drains the messages of its platform and acknowledges what it
sent. Reminder messages carry their ledger id: the acknowledgement marks the ledger row as sent.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable

from bot.messages import OutMessage

Listener = Callable[[str], None]


class Outbox:
    def __init__(self) -> None:
        self._queues: dict[str, deque[OutMessage]] = defaultdict(deque)
        self._listeners: list[Listener] = []
        self._on_sent: list[Callable[[OutMessage], None]] = []

    def put(self, message: OutMessage) -> None:
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
