"""The reminder of a campaign, a week after it was sent: the database says what is due, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy.orm import Session as Db

from bot.diagnostic import runs

SendReminder = Callable[[Db, int, datetime], int]


class CampaignReminders:
    """A ticker: `next_due` tells the alarm clock when to wake up, `tick` sends what is due."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Db]], send: SendReminder) -> None:
        self._transaction = transaction  # a database transaction whose messages leave only once committed
        self._send = send

    def next_due(self, now: datetime) -> datetime | None:
        with self._transaction() as db:
            return runs.next_reminder(db)

    def tick(self, now: datetime) -> int:
        sent = 0
        for campaign_id in self._due(now):
            with self._transaction() as db:
                sent += self._send(db, campaign_id, now)
        return sent

    def _due(self, now: datetime) -> Iterator[int]:
        with self._transaction() as db:
            ids = [c.id for c in runs.due_campaigns(db, now)]
        yield from ids
