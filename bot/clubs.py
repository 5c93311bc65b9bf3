"""Klub sessions: series (RRULE in local time), occurrences, registrations, waitlist, moves, cancellations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db

from bot import inputs
from bot.klubs import events
from bot.klubs.errors import ClubError as ClubError  # re-exported: callers know it as bot.clubs.ClubError
from bot.klubs.recurrence import (
    LOCAL_FMT,
    check_series,
    local_occurrences,
)
from bot.klubs.recurrence import (
    french_rrule as french_rrule,  # re-exported
)
from bot.storage.tables import Office, Person, Question, Registration, Session, SessionSeries

if TYPE_CHECKING:
    pass

KINDS = ("klub", "atelier", "conference")
AUDIENCES = ("prestataires", "equipe")
ACTIVE = ("scheduled", "moved")
HORIZON = timedelta(days=400)  # occurrences are materialised about a season ahead
MAX_CAPACITY = 500
_LOCAL_FMT = LOCAL_FMT


def zone_of(db: Db, office_id: str) -> ZoneInfo:
    office = db.get(Office, office_id)
    return ZoneInfo(office.timezone if office else "Europe/Paris")


def group_language(db: Db, office_id: str, default: str) -> str:
    """The language of what an office's groups read (announcements, notices): the office's, else the
    instance's. A person's own messages use their language instead."""
    office = db.get(Office, office_id)
    return (office.language if office else None) or default


# -- creation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSpec:
    title: str
    kind: str = "klub"
    duration_minutes: int = 120
    location: str = ""
    video_url: str = ""
    capacity: int | None = None
    min_attendance: int | None = None
    audience: str = "prestataires"  # prestataires (providers and staff) or equipe (office staff only)

    def check(self) -> None:
        if not self.title.strip():
            raise ClubError("klub.missing_title")
        if len(self.title) > 200:
            raise ClubError("klub.title_too_long")
        if self.kind not in KINDS:
            raise ClubError("klub.bad_kind", text=self.kind)
        if self.audience not in AUDIENCES:
            raise ClubError("klub.bad_audience", text=self.audience)
        if not 15 <= self.duration_minutes <= 12 * 60:
            raise ClubError("klub.bad_duration")
        if self.capacity is not None and not 1 <= self.capacity <= MAX_CAPACITY:
            raise ClubError("klub.bad_capacity", max=MAX_CAPACITY)
        if self.min_attendance is not None and (
            self.min_attendance < 0 or (self.capacity is not None and self.min_attendance > self.capacity)
        ):
            raise ClubError("klub.bad_minimum")
        if self.video_url and not re.match(r"^https?://\S+$", self.video_url):
            raise ClubError("klub.bad_url", text=self.video_url)


# The fields a SessionSpec, a SessionSeries and a Session share, under the same names.
_SHARED = ("title", "kind", "duration_minutes", "location", "video_url", "capacity", "min_attendance", "audience")


def _shared(source: object) -> dict[str, object]:
    return {name: getattr(source, name) for name in _SHARED}


def _new_series(
    db: Db, office_id: str, spec: SessionSpec, rrule_text: str, start_local: datetime, now: datetime, slug: str | None
) -> SessionSeries:
    spec.check()
    # A series of the config may have begun long ago: it needs occurrences, not future ones.
    normal = check_series(rrule_text, start_local, zone_of(db, office_id), None if slug else now)
    series = SessionSeries(
        slug=slug,
        office_id=office_id,
        rrule=normal,
        start_local=start_local.strftime(_LOCAL_FMT),
        created_at=now,
        active=True,
        **{**_shared(spec), "title": spec.title.strip()},
    )
    db.add(series)
    db.flush()
    return series


def create_series(
    db: Db,
    office_id: str,
    spec: SessionSpec,
    rrule_text: str,
    start_local: datetime,
    now: datetime,
    slug: str | None = None,
) -> SessionSeries:
    """A series whose every occurrence already exists (same title, same start) is refused, not doubled."""
    zone = zone_of(db, office_id)
    probe = SessionSeries(rrule=rrule_text.strip().removeprefix("RRULE:"), start_local=start_local.strftime(_LOCAL_FMT))
    planned = local_occurrences(probe, now, now + HORIZON, zone)
    if not planned:
        raise ClubError("klub.no_occurrence")
    twins = [duplicate_of(db, office_id, spec.title, when) for when in planned]
    if all(twins):
        raise ClubError("klub.duplicate_series", count=len(twins), title=spec.title.strip())
    series = _new_series(db, office_id, spec, rrule_text, start_local, now, slug)
    ensure_sessions(db, now, series_id=series.id)
    return series


def duplicate_of(db: Db, office_id: str, title: str, starts_at: datetime) -> Session | None:
    """A live session of the office with the same title at the same instant: planning it again is a mistake."""
    return db.scalar(
        select(Session)
        .where(
            Session.office_id == office_id,
            Session.starts_at == starts_at,
            Session.status.in_(ACTIVE),
            func.lower(Session.title) == title.strip().lower(),
        )
        .order_by(Session.id)
        .limit(1)
    )


def skipped_duplicates(db: Db, series: SessionSeries, now: datetime) -> list[Session]:
    """The existing sessions that stood in for occurrences of `series` (not created twice)."""
    zone = zone_of(db, series.office_id)
    out = []
    for when in local_occurrences(series, now, now + HORIZON, zone):
        twin = duplicate_of(db, series.office_id, series.title, when)
        if twin is not None and twin.series_id != series.id:
            out.append(twin)
    return out


def create_one_off(db: Db, office_id: str, spec: SessionSpec, starts_at: datetime, now: datetime) -> Session:
    spec.check()
    inputs.check_future(starts_at, now)
    twin = duplicate_of(db, office_id, spec.title, starts_at)
    if twin is not None:
        raise ClubError("klub.duplicate", number=twin.id, title=twin.title)
    row = Session(
        office_id=office_id,
        starts_at=starts_at,
        status="scheduled",
        revision=0,
        created_at=now,
        updated_at=now,
        **{**_shared(spec), "title": spec.title.strip()},
    )
    db.add(row)
    db.flush()
    adopt_waiting_questions(db, office_id, now)
    events.changed(db, row, now)
    return row


def ensure_sessions(db: Db, now: datetime, series_id: int | None = None) -> int:
    """Materialise the occurrences of active series within the horizon (idempotent: keyed by local date)."""
    query = select(SessionSeries).where(SessionSeries.active.is_(True))
    if series_id is not None:
        query = query.where(SessionSeries.id == series_id)
    created = 0
    fresh: list[int] = []
    offices: set[str] = set()
    for series in db.scalars(query):
        offices.add(series.office_id)
        zone = zone_of(db, series.office_id)
        existing = set(db.scalars(select(Session.occurrence_key).where(Session.series_id == series.id)))
        for when in local_occurrences(series, now, now + HORIZON, zone):
            key = when.strftime("%Y-%m-%d")
            if key in existing or duplicate_of(db, series.office_id, series.title, when) is not None:
                continue
            values = dict(
                office_id=series.office_id,
                series_id=series.id,
                occurrence_key=key,
                starts_at=when,
                status="scheduled",
                revision=0,
                created_at=now,
                updated_at=now,
                **_shared(series),
            )
            # Several instances may extend the horizon at the same moment: the unique key settles it.
            insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
            stmt = (
                insert(Session)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["series_id", "occurrence_key"])
                .returning(Session.id)
            )
            new_id = db.scalar(stmt)
            if new_id is not None:
                created += 1
                fresh.append(new_id)
    db.flush()
    for session_id in fresh if events.horizon(db) is not None else ():
        row = db.get(Session, session_id)
        if row is not None:
            events.changed(db, row, now)
    for office_id in sorted(offices) if created else ():
        adopt_waiting_questions(db, office_id, now)
    return created


# -- queries ------------------------------------------------------------------------------------------


def audiences_for(staff: bool) -> tuple[str, ...]:
    """Staff sessions (audience « equipe ») are invisible to providers."""
    return AUDIENCES if staff else ("prestataires",)


def upcoming(
    db: Db,
    office_id: str,
    now: datetime,
    limit: int = 6,
    include_cancelled: bool = True,
    audiences: tuple[str, ...] = ("prestataires",),
) -> list[Session]:
    statuses = (*ACTIVE, "cancelled") if include_cancelled else ACTIVE
    query = (
        select(Session)
        .where(
            Session.office_id == office_id,
            Session.starts_at > now,
            Session.status.in_(statuses),
            Session.audience.in_(audiences),
        )
        .order_by(Session.starts_at, Session.id)
        .limit(limit)
    )
    return list(db.scalars(query))


def next_session(
    db: Db, office_id: str, now: datetime, audiences: tuple[str, ...] = ("prestataires",)
) -> Session | None:
    found = upcoming(db, office_id, now, limit=1, include_cancelled=False, audiences=audiences)
    return found[0] if found else None


def next_klub(db: Db, office_id: str, now: datetime, exclude: int | None = None) -> Session | None:
    """« The next Klub »: the next providers' session of kind klub (workshops and conferences are named)."""
    query = select(Session).where(
        Session.office_id == office_id,
        Session.starts_at > now,
        Session.status.in_(ACTIVE),
        Session.kind == "klub",
        Session.audience == "prestataires",
    )
    if exclude is not None:
        query = query.where(Session.id != exclude)
    return db.scalar(query.order_by(Session.starts_at, Session.id).limit(1))


def adopt_waiting_questions(db: Db, office_id: str, now: datetime) -> int:
    """Questions asked while no Klub was planned join the next Klub once there is one."""
    klub = next_klub(db, office_id, now)
    if klub is None:
        return 0
    result = db.execute(
        update(Question)
        .where(Question.office_id == office_id, Question.session_id.is_(None), Question.status == "open")
        .values(session_id=klub.id, updated_at=now)
    )
    return cast("CursorResult[Any]", result).rowcount or 0


def find(db: Db, office_id: str, number: int, audiences: tuple[str, ...] = AUDIENCES) -> Session | None:
    row = db.get(Session, number)
    ok = row is not None and row.office_id == office_id and row.audience in audiences
    return row if ok else None


def count(db: Db, session_id: int, status: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.session_id == session_id, Registration.status == status)
        )
        or 0
    )


def places_left(db: Db, session: Session) -> int | None:
    if session.capacity is None:
        return None
    return max(0, session.capacity - count(db, session.id, "yes"))


def registrations(db: Db, session_id: int, status: str) -> list[Registration]:
    return list(
        db.scalars(
            select(Registration)
            .where(Registration.session_id == session_id, Registration.status == status)
            .order_by(Registration.updated_at, Registration.id)
        )
    )


def registration_of(db: Db, session_id: int, person_id: int) -> Registration | None:
    return db.scalar(
        select(Registration).where(Registration.session_id == session_id, Registration.person_id == person_id)
    )


# -- registrations ------------------------------------------------------------------------------------


def _lock(db: Db, session: Session) -> None:
    # Serialise registrations of one session across instances (PostgreSQL); SQLite serialises writers anyway.
    db.execute(select(Session.id).where(Session.id == session.id).with_for_update())


def register(db: Db, session: Session, person: Person, now: datetime) -> tuple[str, int]:
    """Returns ("yes", 0) or ("waitlist", position)."""
    if session.status == "cancelled":
        raise ClubError("klub.is_cancelled")
    if session.starts_at <= now:
        raise ClubError("klub.already_started")
    _lock(db, session)
    reg = registration_of(db, session.id, person.id)
    if reg is not None and reg.status == "yes":
        raise ClubError("klub.already_registered")
    if reg is not None and reg.status == "waitlist":
        raise ClubError("klub.already_waitlisted", position=waitlist_position(db, session.id, person.id))
    full = session.capacity is not None and count(db, session.id, "yes") >= session.capacity
    status = "waitlist" if full else "yes"
    if reg is None:
        reg = Registration(session_id=session.id, person_id=person.id, created_at=now, status=status, updated_at=now)
        db.add(reg)
    reg.status, reg.updated_at = status, now
    db.flush()
    return status, waitlist_position(db, session.id, person.id) if full else 0


def waitlist_position(db: Db, session_id: int, person_id: int) -> int:
    for i, reg in enumerate(registrations(db, session_id, "waitlist"), start=1):
        if reg.person_id == person_id:
            return i
    return 0


def unregister(db: Db, session: Session, person: Person, now: datetime) -> tuple[str, Person | None]:
    """Returns the previous status and the person promoted from the waitlist, if any."""
    if session.starts_at <= now:
        raise ClubError("klub.already_started")
    _lock(db, session)
    reg = registration_of(db, session.id, person.id)
    if reg is None or reg.status not in ("yes", "waitlist"):
        raise ClubError("klub.not_registered")
    previous = reg.status
    reg.status, reg.updated_at = "no", now
    db.flush()
    promoted = promote(db, session, now) if previous == "yes" else None
    return previous, promoted


def promote(db: Db, session: Session, now: datetime) -> Person | None:
    if session.capacity is not None and count(db, session.id, "yes") >= session.capacity:
        return None
    waiting = registrations(db, session.id, "waitlist")
    if not waiting:
        return None
    first = waiting[0]
    first.status, first.updated_at = "yes", now
    db.flush()
    return db.get(Person, first.person_id)


# -- ANT actions --------------------------------------------------------------------------------------


def move(db: Db, session: Session, new_start: datetime, now: datetime) -> datetime:
    if session.status == "cancelled":
        raise ClubError("klub.is_cancelled")
    inputs.check_future(new_start, now)
    old = session.starts_at
    session.starts_at, session.status = new_start, "moved"
    session.revision += 1
    session.updated_at = now
    db.flush()
    events.changed(db, session, now)
    return old


def cancel(db: Db, session: Session, reason: str, now: datetime) -> list[Person]:
    """Cancel; returns everyone who was registered or waiting, to tell them in private."""
    if session.status == "cancelled":
        raise ClubError("klub.is_cancelled")
    if session.starts_at <= now:
        raise ClubError("klub.already_started")
    session.status, session.cancel_reason = "cancelled", reason.strip()[:300]
    session.revision += 1
    session.updated_at = now
    people = [
        db.get(Person, r.person_id) for status in ("yes", "waitlist") for r in registrations(db, session.id, status)
    ]
    db.flush()
    events.changed(db, session, now)
    return [p for p in people if p is not None]
