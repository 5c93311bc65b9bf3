"""Time source. Everything asks a Clock, so tests and transcripts can move time by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, transcripts, benchmarks)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = ensure_aware(when)

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("le temps ne recule pas")
        self._now += delta


def ensure_aware(when: datetime) -> datetime:
    """Reject naive datetimes: a naive time is the root of every clock-change bug."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"datetime sans fuseau horaire : {when!r}")
    return when.astimezone(UTC)
