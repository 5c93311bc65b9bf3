"""Sessions that come from the config (seeded once) and from the passing of time (the horizon)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot import inputs
from bot.clubs import SessionSpec, _new_series, ensure_sessions
from bot.config import SERIES_START_FORMAT, Config, ConfigError, parse_duration
from bot.i18n import t
from bot.klubs.errors import ClubError
from bot.klubs.recurrence import with_until
from bot.storage.tables import SessionSeries
from bot.timefmt import TimeInputError

if TYPE_CHECKING:
    from bot.app import App


def sync_config_series(db: Db, config: Config, now: datetime) -> None:
    """Seed the series declared in the config, once (later edits are made in chat or with the CLI)."""
    for i, sc in enumerate(config.series):
        if db.scalar(select(SessionSeries.id).where(SessionSeries.slug == sc.id)) is not None:
            continue
        spec = SessionSpec(
            title=sc.title,
            kind=sc.kind,
            duration_minutes=int(parse_duration(sc.duration).total_seconds() // 60),
            location=sc.location,
            video_url=sc.video_url,
            capacity=sc.capacity,
            min_attendance=sc.min_attendance,
            audience=sc.audience,
        )
        try:
            until = datetime.strptime(sc.until, "%Y-%m-%d").date() if sc.until else None
        except ValueError as exc:
            raise ConfigError(f"series[{i}] ({sc.id}) : until « {sc.until} » n'est pas une date") from exc
        try:
            rule = with_until(sc.rrule, until) if until else sc.rrule
            _new_series(db, sc.office, spec, rule, datetime.strptime(sc.start, SERIES_START_FORMAT), now, sc.id)
        except (ClubError, TimeInputError, inputs.InputError) as exc:
            raise ConfigError(f"series[{i}] ({sc.id}) : {t('fr', exc.key, **exc.kwargs)}") from exc
    db.flush()


class Horizon:
    """Keeps about a season of occurrences materialised as time passes (checked once a day)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._last: datetime | None = None

    def next_due(self, now: datetime) -> datetime | None:
        return None  # never worth waking up for: it rides along with other ticks

    def tick(self, now: datetime) -> None:
        if self._last is not None and now - self._last < timedelta(days=1):
            return
        self._last = now
        with self.app.sessions.begin() as db:
            if ensure_sessions(db, now):
                self.app.reminders.invalidate()
