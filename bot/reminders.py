"""Reminders, exactly once: the database says what is due, the outbox delivers it and is the ledger.

The plan (what is due when) is rebuilt from the database at start and whenever sessions or
registrations change. A due item becomes an outbox row — unique on (session, offset, recipient), so of
several instances and restarts exactly one writes it — and from there it is delivered like any other
message: claimed with a lease, marked sending, sent once; taken over from a dead instance within
seconds. The row carries its grace: an item overdue by more than the office's grace period (when
planned, or when recovery finally gets to it) is dropped and logged instead of sent late.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db

from bot import clubs, membership
from bot.config import OfficeConfig, parse_duration
from bot.messages import ChatRef, OutMessage, Reply
from bot.notify import group_chat, person_chat
from bot.outbox import encode
from bot.storage.tables import Group, OutboxRow, Person, Registration, Session

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
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
        self._lock = threading.RLock()  # the scheduler and message handlers run in different threads

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
        with self._lock, self.app.sessions() as db:
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
                select(OutboxRow.session_id, OutboxRow.offset_key, OutboxRow.recipient).where(
                    OutboxRow.session_id.in_(ids)
                )
            )
        }  # once written, a reminder is the outbox's: delivered, taken over or dropped there
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
        with self._lock:
            self._ensure_plan(now)
            return self._plan[0].due_at if self._plan else None

    def tick(self, now: datetime) -> int:
        """Write an outbox row for everything due; returns how many are to be sent."""
        with self._lock:
            self._ensure_plan(now)
            cut = bisect.bisect_right(self._plan, Item(now, 2**62, "\uffff", "\uffff"))
            due, self._plan = self._plan[:cut], self._plan[cut:]
        if not due:
            return 0
        grace = {o.id: parse_duration(o.reminders.grace) for o in self.app.config.offices}
        platforms: list[str] = []
        dropped: list[Item] = []
        with self.app.sessions.begin() as db:
            for item in due:
                platform = self._fire(db, item, now, grace, dropped)
                if platform is not None:
                    platforms.append(platform)
            for notice in drop_notices(self.app, db, dropped, now, grace):
                self.app.outbox.put(notice, db)
                platforms.append(notice.chat.platform)
        self.app.outbox.notify(*sorted(set(platforms)))  # after the commit: the rows exist
        return len(platforms)

    # -- one item -------------------------------------------------------------------------------------

    def _fire(
        self, db: Db, item: Item, now: datetime, grace: dict[str, timedelta], dropped: list[Item]
    ) -> str | None:
        """Write the item's row; the platform to wake when it is to be sent. A new drop joins `dropped`."""
        session = db.get(Session, item.session_id)
        if session is None or session.status not in clubs.ACTIVE:
            return None
        chat, person = self._recipient(db, item.recipient)
        if chat is None:
            return None  # on no platform Klub reaches
        office_grace = grace.get(session.office_id, timedelta(0))
        late = now - item.due_at
        if late > office_grace and item.due_at < session.created_at:
            # Due before the session existed (a Klub planned on short notice, a new install's first
            # series): never owed, so nothing was missed and the team is not told of a failure.
            self._write(db, item, OutMessage(chat, Reply("")), now, "skipped")
            return None
        if late > office_grace:
            if self._write(db, item, OutMessage(chat, Reply("")), now, "dropped"):
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
                self._write(db, item, OutMessage(chat, Reply("")), now, "skipped")
                return None
        from bot.handlers import clubs as views  # the wording lives with the chat handlers

        offset = parse_duration(item.offset_key.split(":", 1)[1].split("@", 1)[0])
        reply = views.reminder_reply(self.app, db, session, kind, offset, person)
        message = OutMessage(chat, reply, meta={"kind": "reminder"})
        if not self._write(db, item, message, now, "pending", expires_at=item.due_at + office_grace):
            return None
        return chat.platform

    def _recipient(self, db: Db, recipient: str) -> tuple[ChatRef | None, Person | None]:
        what, _, ident = recipient.partition(":")
        if what == "group":
            group = db.get(Group, int(ident))
            if group is None or group.platform not in self.app.reach:
                return None, None
            return group_chat(group), None
        person = db.get(Person, int(ident))
        if person is None or not person.active:
            return None, None
        return person_chat(self.app, person), person

    def _write(
        self, db: Db, item: Item, message: OutMessage, now: datetime, status: str, expires_at: datetime | None = None
    ) -> bool:
        """Insert the reminder's outbox row; False if another instance (or an earlier run) wrote it."""
        values = dict(
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            private=message.chat.private,
            payload=encode(message),
            status=status,
            claimed_by="" if status == "pending" else self.app.instance,
            created_at=now,
            expires_at=expires_at,
            session_id=item.session_id,
            offset_key=item.offset_key,
            recipient=item.recipient,
            due_at=item.due_at,
        )
        dialect = db.get_bind().dialect.name
        insert = (postgresql.insert(OutboxRow) if dialect == "postgresql" else sqlite.insert(OutboxRow)).values(
            **values
        )
        claim = insert.on_conflict_do_nothing(index_elements=["session_id", "offset_key", "recipient"])
        return db.scalar(claim.returning(OutboxRow.id)) is not None


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
        for group in membership.office_groups(db, session.office_id, "equipe", app.reach):
            out.append(OutMessage(group_chat(group), reply))
    return out
