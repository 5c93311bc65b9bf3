"""Klub sessions: series (RRULE in local time), occurrences, registrations, waitlist, moves, cancellations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule, rrulestr
from sqlalchemy import CursorResult, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db

from bot import inputs
from bot.config import SERIES_START_FORMAT, Config, ConfigError, parse_duration
from bot.i18n import t
from bot.storage.tables import Office, Person, Registration, Session, SessionSeries
from bot.timefmt import TimeInputError, localize

if TYPE_CHECKING:
    from bot.bootstrap import App

KINDS = ("klub", "atelier", "conference")
AUDIENCES = ("prestataires", "equipe")
ACTIVE = ("scheduled", "moved")
HORIZON = timedelta(days=400)  # occurrences are materialised about a season ahead
MAX_CAPACITY = 500
_LOCAL_FMT = "%Y-%m-%dT%H:%M"


class ClubError(ValueError):
    """A refused action; `key` names the catalog message, `kwargs` its arguments."""

    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


def zone_of(db: Db, office_id: str) -> ZoneInfo:
    office = db.get(Office, office_id)
    return ZoneInfo(office.timezone if office else "Europe/Paris")


# -- recurrence ---------------------------------------------------------------------------------------

_ORDINALS = {
    "1er": 1,
    "1re": 1,
    "premier": 1,
    "première": 1,
    "1": 1,
    "2e": 2,
    "deuxième": 2,
    "2": 2,
    "3e": 3,
    "troisième": 3,
    "3": 3,
    "4e": 4,
    "quatrième": 4,
    "4": 4,
    "dernier": -1,
    "dernière": -1,
}
_WEEKDAYS = {
    "lundi": "MO",
    "mardi": "TU",
    "mercredi": "WE",
    "jeudi": "TH",
    "vendredi": "FR",
    "samedi": "SA",
    "dimanche": "SU",
}
_MONTHS = [
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
]


def _plain(word: str) -> str:
    return word.lower().replace("é", "e").replace("è", "e").replace("û", "u").replace("ô", "o")


def _month(word: str) -> int:
    w = _plain(word.strip())
    for i, name in enumerate(_MONTHS, start=1):
        if name == w or (len(w) >= 3 and name.startswith(w)):
            return i
    raise ClubError("klub.bad_month", text=word)


def french_rrule(when: str, months: str | None = None) -> str:
    """« 1er jeudi » (+ « octobre-avril ») -> FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4.

    « chaque mardi » -> FREQ=WEEKLY;BYDAY=TU. Anything else: the ANT can give a raw RRULE.
    """
    words = when.lower().replace("chaque", "tous les").split()
    if len(words) == 2 and words[0] in _ORDINALS and words[1] in _WEEKDAYS:
        rule = f"FREQ=MONTHLY;BYDAY={_ORDINALS[words[0]]}{_WEEKDAYS[words[1]]}"
    elif len(words) == 3 and words[:2] == ["tous", "les"] and words[2].rstrip("s") in _WEEKDAYS:
        rule = f"FREQ=WEEKLY;BYDAY={_WEEKDAYS[words[2].rstrip('s')]}"
    else:
        raise ClubError("klub.bad_recurrence", text=when)
    if months:
        first, _, last = months.partition("-")
        a, b = _month(first), _month(last or first)
        span = list(range(a, b + 1)) if a <= b else [*range(a, 13), *range(1, b + 1)]
        rule += ";BYMONTH=" + ",".join(str(m) for m in span)
    return rule


def _rule(rrule_text: str, start_local: datetime) -> rrule:
    """A stored rule, as dateutil's object (stored rules were checked by inputs.check_rrule)."""
    text = rrule_text.strip().removeprefix("RRULE:")
    try:
        rule = rrulestr(text, dtstart=start_local)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ClubError("klub.bad_rrule", text=rrule_text) from exc
    # A set of rules, below daily, or a step of zero or less: the expansion never ends in any sensible time.
    if not isinstance(rule, rrule) or getattr(rule, "_freq", DAILY) > DAILY or getattr(rule, "_interval", 1) < 1:
        raise ClubError("klub.bad_rrule", text=rrule_text)
    return rule


def local_occurrences(series: SessionSeries, after: datetime, before: datetime, zone: ZoneInfo) -> list[datetime]:
    """Occurrences between two instants, expanded on the wall clock: 18:30 stays 18:30 across DST.
    Bounded: never more than inputs.MAX_OCCURRENCES, never expanded past `before`."""
    start_local = datetime.strptime(series.start_local, _LOCAL_FMT)
    rule = _rule(series.rrule, start_local)
    lo = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    hi = before.astimezone(zone).replace(tzinfo=None)
    out = []
    for naive in inputs.bounded_occurrences(rule, lo, hi, inputs.MAX_OCCURRENCES):
        aware = naive.replace(tzinfo=zone, fold=0)
        if after <= aware <= before:
            out.append(aware)
    return out


def check_series(rrule_text: str, start_local: datetime, zone: ZoneInfo, now: datetime | None) -> str:
    """The normalised rule, once inputs.check_rrule accepts it and no occurrence within the horizon
    falls in a clock-change gap or overlap."""
    now_local = now.astimezone(zone).replace(tzinfo=None) if now is not None else None
    normal, found = inputs.check_rrule(rrule_text, start_local, now_local)
    for naive in found:
        localize(naive, zone)
    return normal


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
    series = _new_series(db, office_id, spec, rrule_text, start_local, now, slug)
    zone = zone_of(db, office_id)
    if not local_occurrences(series, now, now + HORIZON, zone):
        raise ClubError("klub.no_occurrence")
    ensure_sessions(db, now, series_id=series.id)
    return series


def create_one_off(db: Db, office_id: str, spec: SessionSpec, starts_at: datetime, now: datetime) -> Session:
    spec.check()
    inputs.check_future(starts_at, now)
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
    return row


def ensure_sessions(db: Db, now: datetime, series_id: int | None = None) -> int:
    """Materialise the occurrences of active series within the horizon (idempotent: keyed by local date)."""
    query = select(SessionSeries).where(SessionSeries.active.is_(True))
    if series_id is not None:
        query = query.where(SessionSeries.id == series_id)
    created = 0
    for series in db.scalars(query):
        zone = zone_of(db, series.office_id)
        existing = set(db.scalars(select(Session.occurrence_key).where(Session.series_id == series.id)))
        for when in local_occurrences(series, now, now + HORIZON, zone):
            key = when.strftime("%Y-%m-%d")
            if key in existing:
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
                insert(Session).values(**values).on_conflict_do_nothing(index_elements=["series_id", "occurrence_key"])
            )
            result = cast("CursorResult[Any]", db.execute(stmt))
            created += result.rowcount or 0
    db.flush()
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
    return [p for p in people if p is not None]


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
            _new_series(db, sc.office, spec, sc.rrule, datetime.strptime(sc.start, SERIES_START_FORMAT), now, sc.id)
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
