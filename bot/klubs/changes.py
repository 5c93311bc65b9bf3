"""What changes to a planned session, or to a person, carry along: waitlists promoted, questions moved."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot import clubs, questions
from bot.clubs import ClubError
from bot.klubs import events
from bot.storage.tables import Person, Question, Registration, Session

EDITABLE = ("capacity", "location", "video_url")


@dataclass(frozen=True)
class Edit:
    """The new values; None leaves a field as it is. An empty location or link clears it."""

    capacity: int | None = None
    clear_capacity: bool = False
    location: str | None = None
    video_url: str | None = None


def edit(db: Db, session: Session, change: Edit, now: datetime) -> list[Person]:
    """Change capacity, place or link of a planned session; returns who left the waitlist for a seat."""
    if session.status == "cancelled":
        raise ClubError("klub.is_cancelled")
    if session.starts_at <= now:
        raise ClubError("klub.already_started")
    if change.capacity is not None and not 1 <= change.capacity <= clubs.MAX_CAPACITY:
        raise ClubError("klub.bad_capacity", max=clubs.MAX_CAPACITY)
    if change.video_url and not re.match(r"^https?://\S+$", change.video_url):
        raise ClubError("klub.bad_url", text=change.video_url)
    if change.location is not None and len(change.location) > 200:
        raise ClubError("klub.location_too_long")
    if change.capacity is not None:
        session.capacity = change.capacity
    elif change.clear_capacity:
        session.capacity = None
    if change.location is not None:
        session.location = change.location.strip()
    if change.video_url is not None:
        session.video_url = change.video_url.strip()
    session.revision += 1
    session.updated_at = now
    db.flush()
    if change.location is not None or change.video_url is not None:
        events.changed(db, session, now)  # the event shows the place; the number of seats it does not
    promoted: list[Person] = []
    while (person := clubs.promote(db, session, now)) is not None:
        promoted.append(person)
    return promoted


def withdraw_person(db: Db, person: Person, now: datetime) -> list[tuple[Session, Person]]:
    """A person leaves the network: their seats on sessions to come go to the waitlists.

    Returns (session, promoted person) for each seat that changed hands."""
    rows = db.execute(
        select(Registration, Session)
        .join(Session, Session.id == Registration.session_id)
        .where(
            Registration.person_id == person.id,
            Registration.status.in_(("yes", "waitlist")),
            Session.starts_at > now,
            Session.status.in_(clubs.ACTIVE),
        )
        .order_by(Session.starts_at, Session.id)
    ).all()
    out: list[tuple[Session, Person]] = []
    for reg, session in rows:
        had_seat = reg.status == "yes"
        reg.status, reg.updated_at = "no", now
        db.flush()
        if had_seat:
            promoted = clubs.promote(db, session, now)
            if promoted is not None:
                out.append((session, promoted))
    return out


def successor(db: Db, session: Session, now: datetime) -> Session | None:
    """Where the questions of a cancelled session go: the next session of its series, else the next Klub."""
    if session.series_id is not None:
        found = db.scalar(
            select(Session)
            .where(
                Session.series_id == session.series_id,
                Session.id != session.id,
                Session.starts_at > max(now, session.starts_at),
                Session.status.in_(clubs.ACTIVE),
            )
            .order_by(Session.starts_at, Session.id)
            .limit(1)
        )
        if found is not None:
            return found
    return clubs.next_klub(db, session.office_id, now, exclude=session.id)


def carry_questions(db: Db, session: Session, now: datetime) -> tuple[Session | None, list[Question]]:
    """Open questions of a cancelled session move to its successor (or wait for the next Klub)."""
    target = successor(db, session, now)
    moved = list(
        db.scalars(
            select(Question).where(Question.session_id == session.id, Question.status == "open").order_by(Question.id)
        )
    )
    for q in moved:
        q.session_id, q.updated_at = (target.id if target else None), now
        questions.event(db, q, now, "moved", None, f"séance {session.id} annulée -> {target.id if target else '—'}")
    db.flush()
    return target, moved


LEFTOVER_AFTER = timedelta(days=7)  # time for the ANT to mark what was answered at a session


def carry_leftovers(db: Db, now: datetime) -> int:
    """Open questions of a session held more than a week ago were not dealt with: they join its
    successor's agenda (the next of the series, else the next Klub) instead of vanishing from view."""
    held = db.scalars(
        select(Session)
        .where(
            Session.status.in_(clubs.ACTIVE),
            Session.starts_at <= now - LEFTOVER_AFTER,
            Session.id.in_(select(Question.session_id).where(Question.status == "open")),
        )
        .order_by(Session.starts_at, Session.id)
    )
    moved = 0
    for session in list(held):
        target = successor(db, session, now)
        if target is None:
            continue  # nothing planned yet: they stay where they are until there is
        for q in db.scalars(select(Question).where(Question.session_id == session.id, Question.status == "open")):
            q.session_id, q.updated_at = target.id, now
            questions.event(db, q, now, "moved", None, f"non traitée à la séance {session.id} -> {target.id}")
            moved += 1
    db.flush()
    return moved


class Leftovers:
    """Checks once a day for questions left open on sessions held a week ago."""

    def __init__(self, sessions: Callable[[], Db]) -> None:
        self.sessions = sessions
        self._last: datetime | None = None

    def next_due(self, now: datetime) -> datetime | None:
        return None  # rides along with the other tickers

    def tick(self, now: datetime) -> int:
        if self._last is not None and now - self._last < timedelta(days=1):
            return 0
        self._last = now
        with self.sessions() as db:
            moved = carry_leftovers(db, now)
            db.commit()
        return moved
