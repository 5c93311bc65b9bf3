"""Sessions mirrored as Discord scheduled events: every change queues one outbox row.

Every path that creates, moves, changes or cancels a session (chat commands, guided dialogue, the
command line, series materialised by the horizon) goes through the functions of `bot.clubs` and
`bot.klubs.changes`, and they call `changed` here: the row "sync the event of session N" is written in
the same transaction as the change, so it exists exactly when the change was committed, whichever
process made it, and the Discord pump of any instance carries it out (`adapters.discord_event_rows`).

Whether Discord events are wanted at all is the configuration's (adapters.discord.enabled and
.events): `configure` records it, at bootstrap, on the session factory (`Session.info`), so the domain
functions keep taking only the database session they already take.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session as Db
from sqlalchemy.orm import sessionmaker

from bot import outbox
from bot.messages import EventSync
from bot.storage.tables import Group, Session

if TYPE_CHECKING:
    from bot.config import Config

HORIZON_INFO = "klub.discord_events_horizon"  # Session.info key: a timedelta when events are on
PLATFORM = "discord"
AUDIENCE = "prestataires"  # an event is visible to the whole server: never a staff-only session


def configure(sessions: sessionmaker[Db], config: Config) -> None:
    cfg = config.adapters.discord
    if cfg.enabled and cfg.events:
        sessions.configure(info={HORIZON_INFO: timedelta(days=cfg.events_horizon_days)})


def horizon(db: Db) -> timedelta | None:
    """How far ahead sessions become events; None when this database session writes no event rows."""
    value = db.info.get(HORIZON_INFO)
    return value if isinstance(value, timedelta) else None


def changed(db: Db, session: Session, now: datetime) -> bool:
    """Queue the sync of `session`'s event if it has one or should have one. True if a row was written."""
    ahead = horizon(db)
    if ahead is None or session.audience != AUDIENCE:
        return False
    if session.discord_event_id is None and session.starts_at > now + ahead:
        return False  # never mirrored and not due yet: the periodic pass brings it in when its time comes
    # A cancelled session without a recorded event still gets its row: its create may be in flight.
    guild = db.scalar(
        select(Group.guild_id)
        .where(
            Group.office_id == session.office_id,
            Group.platform == PLATFORM,
            Group.guild_id.is_not(None),
            Group.guild_id != "",
        )
        .order_by(Group.id)
        .limit(1)
    )
    if not guild:
        return False  # the office has no Discord server
    if session.id is None:
        db.flush()
    outbox.add(db, EventSync(guild, session.id).to_out(), now)
    return True
