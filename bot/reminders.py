"""Reminders, exactly once: the database says what is due, the ledger says what was claimed and sent.

The plan (what is due when) is rebuilt from the database at start and whenever sessions or
registrations change. A due item is claimed by inserting its ledger row — unique on (session, offset,
recipient), so of several instances exactly one wins — then handed to the outbox; the adapter's
acknowledgement marks it sent. An item overdue by more than the office's grace period is dropped and
logged instead. An adapter that gives up marks the row failed or uncertain (maybe delivered): neither is
retried. A claim with no outcome at all (the process died between claim and send) is taken over after
a lease, within the same grace period.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db

from bot import clubs, membership
from bot.config import OfficeConfig, parse_duration
from bot.messages import ChatRef, OutMessage
from bot.notify import group_chat, person_chat
from bot.storage.tables import Delivery, Group, Person, Registration, Session

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)  # longer than any rate-limited broadcast takes
REPLAN_EVERY = timedelta(minutes=5)  # other instances' changes are picked up at least this often


@dataclass(frozen=True, order=True)
class Item:
    due_at: datetime
    session_id: int
    offset_key: str  # "group:7d@<start>", "private:2h@<start>", "alert:3d@<start>"
    recipient: str  # "group:12" | "person:34"


class Reminders:
    def __init__(self, app: App) -> None:
        self.app = app
        self._plan: list[Item] = []
        self._planned_at: datetime | None = None
        self._stale = True
        self._listeners: list[Callable[[], None]] = []
        app.outbox.on_sent(self._mark_sent)
        app.outbox.on_failed(self._mark_failed)

    # -- plan -----------------------------------------------------------------------------------------

    def invalidate(self) -> None:
        self._stale = True
        for listener in self._listeners:
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Live mode: the scheduler re-arms its alarm when sessions or registrations change."""
        self._listeners.append(listener)

    def _offices(self) -> dict[str, OfficeConfig]:
        return {o.id: o for o in self.app.config.offices}

    def rebuild(self, now: datetime) -> int:
        with self.app.sessions() as db:
            self._plan = self._build(db, now)
        self._planned_at, self._stale = now, False
        return len(self._plan)

    def _build(self, db: Db, now: datetime) -> list[Item]:
        offices = self._offices()
        longest_grace = max((parse_duration(o.reminders.grace) for o in offices.values()), default=timedelta(0))
        sessions = list(
            db.scalars(select(Session).where(Session.status.in_(clubs.ACTIVE), Session.starts_at > now - longest_grace))
        )
        if not sessions:
            return []
        ids = [s.id for s in sessions]
        done = {
            (sid, key, rcpt)
            for sid, key, rcpt in db.execute(
                select(Delivery.session_id, Delivery.offset_key, Delivery.recipient).where(
                    Delivery.session_id.in_(ids), Delivery.status != "claimed"
                )
            )
        }
        # Rows still 'claimed' are planned again: _claim takes them over only once their lease ran out.
        registered: dict[int, list[int]] = {}
        for sid, pid in db.execute(
            select(Registration.session_id, Registration.person_id).where(
                Registration.session_id.in_(ids), Registration.status == "yes"
            )
        ):
            registered.setdefault(sid, []).append(pid)
        groups: dict[tuple[str, str], list[int]] = {}
        for gid, office_id, kind in db.execute(select(Group.id, Group.office_id, Group.kind)):
            groups.setdefault((office_id, kind), []).append(gid)

        items: list[Item] = []
        for s in sessions:
            office = offices.get(s.office_id)
            if office is None:
                continue
            stamp = s.starts_at.strftime("%Y%m%dT%H%MZ")  # a moved session gets fresh reminders
            rem = office.reminders
            candidates: list[tuple[str, str, timedelta]] = []
            for off in rem.group:
                for gid in groups.get((s.office_id, s.audience), []):
                    candidates.append((f"group:{off}@{stamp}", f"group:{gid}", parse_duration(off)))
            for off in rem.private:
                for pid in registered.get(s.id, []):
                    candidates.append((f"private:{off}@{stamp}", f"person:{pid}", parse_duration(off)))
            if rem.low_attendance and s.min_attendance:
                for gid in groups.get((s.office_id, "equipe"), []):
                    candidates.append(
                        (f"alert:{rem.low_attendance}@{stamp}", f"group:{gid}", parse_duration(rem.low_attendance))
                    )
            zone = ZoneInfo(office.timezone)
            for key, rcpt, delta in candidates:
                if (s.id, key, rcpt) in done:
                    continue
                items.append(Item(due_at(s.starts_at, delta, zone), s.id, key, rcpt))
        items.sort()
        return items

    def _ensure_plan(self, now: datetime) -> None:
        if self._stale or self._planned_at is None or now - self._planned_at >= REPLAN_EVERY or now < self._planned_at:
            self.rebuild(now)

    # -- Ticker protocol ------------------------------------------------------------------------------

    def next_due(self, now: datetime) -> datetime | None:
        self._ensure_plan(now)
        return self._plan[0].due_at if self._plan else None

    def tick(self, now: datetime) -> int:
        """Claim and queue everything due; returns how many messages were queued."""
        self._ensure_plan(now)
        cut = bisect.bisect_right(self._plan, Item(now, 2**62, "\uffff", "\uffff"))
        due, self._plan = self._plan[:cut], self._plan[cut:]
        if not due:
            return 0
        grace = {o.id: parse_duration(o.reminders.grace) for o in self.app.config.offices}
        ready: list[OutMessage] = []
        dropped: list[Item] = []
        with self.app.sessions() as db:
            for item in due:
                message = self._fire(db, item, now, grace, dropped)
                if message is not None:
                    ready.append(message)
            ready.extend(drop_notices(self.app, db, dropped, now, grace))
            # Claims are committed before anything is handed to an adapter: a crash in between loses
            # nothing (claims without acknowledgement are taken over after the lease).
            db.commit()
        for message in ready:
            self.app.outbox.put(message)
        return len(ready)

    # -- one item -------------------------------------------------------------------------------------

    def _fire(
        self, db: Db, item: Item, now: datetime, grace: dict[str, timedelta], dropped: list[Item]
    ) -> OutMessage | None:
        session = db.get(Session, item.session_id)
        if session is None or session.status not in clubs.ACTIVE:
            return None
        chat, person = self._recipient(db, item.recipient)
        if chat is None:
            return None  # not reachable on this instance's platforms: leave it to an instance that can
        late = now - item.due_at
        if late > grace.get(session.office_id, timedelta(0)):
            if self._claim(db, item, now, "dropped"):
                dropped.append(item)
                log.warning(
                    "rappel abandonné (retard %s) : séance %s, %s, %s",
                    late,
                    session.id,
                    item.offset_key,
                    item.recipient,
                )
            return None
        kind = item.offset_key.split(":", 1)[0]
        if kind == "alert":
            yes = clubs.count(db, session.id, "yes")
            if yes >= (session.min_attendance or 0):
                self._claim(db, item, now, "skipped")
                return None
        ledger_id = self._claim(db, item, now, "claimed")
        if ledger_id is None:
            return None
        from bot.handlers import clubs as views  # the wording lives with the chat handlers

        offset = parse_duration(item.offset_key.split(":", 1)[1].split("@", 1)[0])
        reply = views.reminder_reply(self.app, db, session, kind, offset, person)
        return OutMessage(chat, reply, ledger_id=ledger_id)

    def _recipient(self, db: Db, recipient: str) -> tuple[ChatRef | None, Person | None]:
        what, _, ident = recipient.partition(":")
        if what == "group":
            group = db.get(Group, int(ident))
            if group is None or group.platform not in self.app.platforms:
                return None, None
            return group_chat(group), None
        person = db.get(Person, int(ident))
        if person is None or not person.active:
            return None, None
        return person_chat(self.app, person), person

    def _claim(self, db: Db, item: Item, now: datetime, status: str) -> int | None:
        """Insert the ledger row; None if another instance (or an earlier run) already holds it."""
        values = dict(
            session_id=item.session_id,
            offset_key=item.offset_key,
            recipient=item.recipient,
            due_at=item.due_at,
            status=status,
            claimed_by=self.app.instance,
            claimed_at=now,
        )
        dialect = db.get_bind().dialect.name
        insert = (postgresql.insert(Delivery) if dialect == "postgresql" else sqlite.insert(Delivery)).values(**values)
        claim = insert.on_conflict_do_nothing(index_elements=["session_id", "offset_key", "recipient"])
        new_id = db.scalar(claim.returning(Delivery.id))
        if new_id is not None:
            return int(new_id)
        if status != "claimed":
            return None
        # Take over a claim whose holder never acknowledged it within the lease.
        taken = db.scalar(
            update(Delivery)
            .where(
                Delivery.session_id == item.session_id,
                Delivery.offset_key == item.offset_key,
                Delivery.recipient == item.recipient,
                Delivery.status == "claimed",
                Delivery.claimed_at < now - LEASE,
                Delivery.claimed_by != self.app.instance,
            )
            .values(claimed_by=self.app.instance, claimed_at=now)
            .returning(Delivery.id)
        )
        return int(taken) if taken is not None else None

    def _mark_failed(self, message: OutMessage, outcome: str) -> None:
        if message.ledger_id is None:
            return
        log.warning("rappel non remis (%s) : entrée %s du registre", outcome, message.ledger_id)
        with self.app.sessions.begin() as db:
            db.execute(
                update(Delivery)
                .where(Delivery.id == message.ledger_id)
                .values(status="failed" if outcome == "failed" else "uncertain")
            )

    def _mark_sent(self, message: OutMessage) -> None:
        if message.ledger_id is None:
            return
        with self.app.sessions.begin() as db:
            db.execute(
                update(Delivery)
                .where(Delivery.id == message.ledger_id)
                .values(status="sent", sent_at=self.app.clock.now())
            )


def due_at(starts_at: datetime, offset: timedelta, zone: ZoneInfo) -> datetime:
    """When a reminder is due. Whole days are local days (J-7 of an 18:30 session is at 18:30 on the
    office's clock, even across a clock change); hours and minutes are absolute (H-2 is two real hours)."""
    days, rest = timedelta(days=offset.days), offset - timedelta(days=offset.days)
    if not days:
        return starts_at.astimezone(UTC) - rest  # in UTC: aware arithmetic in a zone is wall-clock arithmetic
    wall = starts_at.astimezone(zone).replace(tzinfo=None) - days
    # A wall time skipped by a clock change is read on the old offset (fold=0), like dateutil does.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC) - rest


def drop_notices(
    app: App, db: Db, dropped: list[Item], now: datetime, grace: dict[str, timedelta]
) -> list[OutMessage]:
    """Reminders dropped for lateness are told to the office's team group: what was not sent, and why.

    One message per session and offset (a private reminder to twelve people is one line), sent once:
    only a reminder whose drop was just recorded in the ledger is here."""
    from bot.handlers import clubs as views  # the wording lives with the chat handlers

    by_session: dict[int, dict[str, list[Item]]] = {}
    for item in dropped:
        offset = item.offset_key.split("@", 1)[0]
        by_session.setdefault(item.session_id, {}).setdefault(offset, []).append(item)
    out: list[OutMessage] = []
    for session_id, offsets in sorted(by_session.items()):
        session = db.get(Session, session_id)
        if session is None:
            continue
        late = now - min(i.due_at for items in offsets.values() for i in items)
        reply = views.dropped_reply(app, db, session, offsets, late, grace.get(session.office_id, timedelta(0)))
        for group in membership.office_groups(db, session.office_id, "equipe", app.platforms):
            out.append(OutMessage(group_chat(group), reply))
    return out
