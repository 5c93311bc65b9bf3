"""Heartbeats: who is alive on this database, and what happens to the claims of who is not.

Each `klub run` writes its heartbeat every `delivery.heartbeat` seconds. An instance silent for
`delivery.dead_after` is dead: its rows being sent become uncertain (they may have arrived: never
again), its other claims (outbox rows, stored updates not yet handled) go back to the pool, taken by
whichever instance serves the platform. A restarted instance with the same name does that for its own
rows at once (`recover`), without waiting for its old heartbeat to go stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import tokens
from bot.storage.tables import InboxRow, InstanceRow, OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    uncertain: int = 0  # rows that were being sent when their sender died
    released: int = 0  # outbox claims given back
    inbox: int = 0  # stored updates given back

    def __bool__(self) -> bool:
        return bool(self.uncertain or self.released or self.inbox)


def _release(db: Session, names: list[str], now: datetime, lease_expired: bool = False) -> Recovered:
    sending = OutboxRow.status == "sending"
    lost: ColumnElement[bool] = OutboxRow.claimed_by.in_(names)
    if lease_expired:  # a process without heartbeat (the command line) left a row mid-send
        lost = or_(
            lost,
            OutboxRow.lease_until.is_not(None)
            & (OutboxRow.lease_until < now)
            & ~OutboxRow.claimed_by.in_(select(InstanceRow.name)),
        )
    ended = db.execute(
        update(OutboxRow)
        .where(sending, lost)
        .values(status="uncertain")
        .returning(OutboxRow.id, OutboxRow.payload)
        .execution_options(synchronize_session=False)
    ).all()
    uncertain = len(ended)
    # Never sent again: a credential for sending them (an interaction's token) has no use left.
    tokens.scrub_rows(db, OutboxRow, [(i, p) for i, p in ended], tokens.scrub_outbox)
    released = db.execute(
        update(OutboxRow)
        .where(OutboxRow.claimed_by.in_(names), OutboxRow.status == "claimed")
        .values(status="pending", claimed_by="", lease_until=None)
    ).rowcount  # type: ignore[attr-defined]
    inbox = db.execute(
        update(InboxRow).where(InboxRow.claimed_by.in_(names), InboxRow.status == "pending").values(claimed_by="")
    ).rowcount  # type: ignore[attr-defined]
    if uncertain:
        log.warning("%d envoi(s) interrompu(s) par un arrêt brutal : incertains, jamais répétés", uncertain)
    return Recovered(uncertain, int(released), int(inbox))


def recover(sessions: sessionmaker[Session], name: str, now: datetime) -> Recovered:
    """At start: this instance's rows from its previous life are resumed now."""
    with sessions.begin() as db:
        return _release(db, [name], now)


def beat(sessions: sessionmaker[Session], name: str, platforms: list[str], now: datetime) -> None:
    with sessions.begin() as db:
        row = db.get(InstanceRow, name)
        if row is None:
            db.add(InstanceRow(name=name, platforms=",".join(platforms), started_at=now, heartbeat_at=now))
        else:
            row.heartbeat_at, row.platforms = now, ",".join(platforms)


def reap(sessions: sessionmaker[Session], name: str, now: datetime, dead_after: timedelta) -> Recovered:
    """Take over from instances whose heartbeat is older than `dead_after` (never from ourselves)."""
    with sessions.begin() as db:
        dead = list(
            db.scalars(
                select(InstanceRow.name).where(InstanceRow.heartbeat_at < now - dead_after, InstanceRow.name != name)
            )
        )
        found = _release(db, dead, now, lease_expired=True)
        if dead:
            db.execute(delete(InstanceRow).where(InstanceRow.name.in_(dead)))
            log.warning("instance(s) sans signe de vie, reprise de leur travail : %s", ", ".join(dead))
        return found


def leave(sessions: sessionmaker[Session], name: str, now: datetime) -> None:
    """A clean stop: what we still held goes back to the pool at once, and we are no longer listed."""
    with sessions.begin() as db:
        _release(db, [name], now)
        db.execute(delete(InstanceRow).where(InstanceRow.name == name))


def alive(sessions: sessionmaker[Session], now: datetime, dead_after: timedelta) -> list[str]:
    with sessions() as db:
        return list(db.scalars(select(InstanceRow.name).where(InstanceRow.heartbeat_at >= now - dead_after)))
