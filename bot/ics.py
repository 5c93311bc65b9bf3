"""iCalendar export of an office's sessions: stable UIDs and SEQUENCE so calendar apps update, not duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot.storage.tables import Office, Session


def uid(session: Session) -> str:
    return f"klub-session-{session.id}-{session.office_id}@klub.local"


def end_of(session: Session) -> datetime:
    """Start plus duration, held at the calendar's last instant for a session stored at the end of time."""
    try:
        return session.starts_at + timedelta(minutes=session.duration_minutes)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def build(db: Db, office_id: str, now: datetime, past_days: int = 90) -> bytes:
    office = db.get(Office, office_id)
    if office is None:
        raise KeyError(office_id)
    cal = Calendar()
    cal.add("prodid", "-//Klub//Séances de l'office//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Klub – {office.name}")
    cal.add("x-wr-timezone", office.timezone)
    query = (
        select(Session)
        .where(Session.office_id == office_id, Session.starts_at >= now - timedelta(days=past_days))
        .order_by(Session.starts_at, Session.id)
    )
    for s in db.scalars(query):
        ev = Event()
        ev.add("uid", uid(s))
        ev.add("summary", s.title if s.status != "cancelled" else f"ANNULÉ – {s.title}")
        ev.add("dtstart", s.starts_at)
        ev.add("dtend", end_of(s))
        ev.add("dtstamp", s.updated_at)
        ev.add("last-modified", s.updated_at)
        ev.add("sequence", s.revision)
        ev.add("status", "CANCELLED" if s.status == "cancelled" else "CONFIRMED")
        if s.location:
            ev.add("location", s.location)
        description = [s.title]
        if s.cancel_reason:
            description.append(f"Annulé : {s.cancel_reason}")
        if s.video_url:
            description.append(s.video_url)
            ev.add("url", s.video_url)
        ev.add("description", "\n".join(description))
        cal.add_component(ev)
    return cal.to_ical()
