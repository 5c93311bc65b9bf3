"""The Klub sessions: upcoming and past, registrations, attendance, agenda, and the calendar feed."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot import audit, clubs, ics, questions
from bot.roles import Role
from bot.storage.tables import Office, Person, Registration, Session
from bot.web.app import Refused, Site, Web, route

LISTED = 12
_ICS_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def attended(web: Web, session_id: int) -> int | None:
    """How many came, or None while nobody has taken the attendance."""
    marks = list(web.db.scalars(select(Registration.attended).where(Registration.session_id == session_id)))
    if all(m is None for m in marks):
        return None
    return sum(1 for m in marks if m)


def past_sessions(web: Web, offices: tuple[str, ...], limit: int = LISTED) -> list[Session]:
    return list(
        web.db.scalars(
            select(Session)
            .where(Session.office_id.in_(offices), Session.starts_at <= web.now)
            .order_by(Session.starts_at.desc(), Session.id.desc())
            .limit(limit)
        )
    )


def upcoming_sessions(
    web: Web, offices: tuple[str, ...], limit: int = LISTED, include_cancelled: bool = True
) -> list[Session]:
    found: list[Session] = []
    for office_id in offices:
        found += clubs.upcoming(
            web.db, office_id, web.now, limit=limit, include_cancelled=include_cancelled, audiences=clubs.AUDIENCES
        )
    found.sort(key=lambda s: (s.starts_at, s.id))
    return found[:limit]


def _line(web: Web, s: Session) -> dict[str, Any]:
    return {
        "s": s,
        "yes": clubs.count(web.db, s.id, "yes"),
        "waiting": clubs.count(web.db, s.id, "waitlist"),
        "attended": attended(web, s.id),
        "questions": len(questions.agenda(web.db, s.office_id, s.id)),
    }


def calendar_url(web: Web, office: Office) -> str | None:
    if not office.ics_token:
        return None
    return f"{web.app.config.web.base_url.rstrip('/')}/ics/{office.ics_token}.ics"


def sessions_page(web: Web) -> Response:
    offices = web.chosen_offices()
    calendars = [(o, calendar_url(web, o)) for o in web.offices() if o.id in offices]
    return web.render(
        "sessions.html",
        nav="sessions",
        upcoming=[_line(web, s) for s in upcoming_sessions(web, offices)],
        past=[_line(web, s) for s in past_sessions(web, offices)],
        calendars=calendars,
        offices=web.offices(),
        chosen=web.request.query_params.get("office", ""),
        can_act=web.role >= Role.ANT,
    )


def _session(web: Web) -> Session:
    return web.owned(Session, web.request.path_params["number"], "unknown_session")


def session_page(web: Web) -> Response:
    s = _session(web)

    def people(status: str) -> list[tuple[Registration, Person | None]]:
        return [(r, web.db.get(Person, r.person_id)) for r in clubs.registrations(web.db, s.id, status)]

    started = s.starts_at <= web.now
    return web.render(
        "session.html",
        nav="sessions",
        s=s,
        line=_line(web, s),
        registered=people("yes"),
        waiting=people("waitlist"),
        agenda=questions.agenda(web.db, s.office_id, s.id),
        answered=questions.answered_at(web.db, s.office_id, s.id),
        can_mark=web.role >= Role.ANT and started and s.status != "cancelled",
        started=started,
    )


def mark_attendance(web: Web) -> Response:
    s = _session(web)
    if s.status == "cancelled" or s.starts_at > web.now:
        raise Refused(409, "attendance_early")
    regs = clubs.registrations(web.db, s.id, "yes")
    ticked = set(web.fields("attended"))
    if not ticked <= {str(r.id) for r in regs}:
        raise Refused(400, "bad_form")  # a registration of another session: change nothing
    for reg in regs:
        reg.attended = str(reg.id) in ticked  # updated_at untouched: it orders the waitlist
    audit.record(
        web.db,
        web.now,
        "sessions.attendance",
        actor=web.person,
        office_id=s.office_id,
        target=f"session:{s.id}",
        detail=f"présents : {len(ticked)} sur {len(regs)} inscrits",
    )
    return web.redirect(f"/sessions/{s.id}", "attendance")


def new_calendar_link(web: Web) -> Response:
    office_id = web.check_office(web.request.path_params["office_id"])
    office = web.db.get(Office, office_id)
    assert office is not None  # in scope, so it exists
    renewed = office.ics_token is not None
    if renewed and web.field("confirm", 10) != "yes":
        raise Refused(400, "renew_confirm")  # every subscription breaks: only on an explicit « yes »
    office.ics_token = secrets.token_urlsafe(24)
    audit.record(
        web.db,
        web.now,
        "calendar.link",
        actor=web.person,
        office_id=office_id,
        detail="lien renouvelé (l'ancien ne marche plus)" if renewed else "lien créé",
    )
    return web.redirect("/sessions", "calendar")


def calendar_off(web: Web) -> Response:
    """Switch the feed off: the link stops working and no new one is made (« Créer » makes one again)."""
    office_id = web.check_office(web.request.path_params["office_id"])
    office = web.db.get(Office, office_id)
    assert office is not None  # in scope, so it exists
    if office.ics_token is not None:
        office.ics_token = None
        audit.record(web.db, web.now, "calendar.link", actor=web.person, office_id=office_id, detail="lien désactivé")
    return web.redirect("/sessions", "calendar_off")


def _feed(site: Site, token: str) -> Response:
    if not _ICS_TOKEN.match(token):
        return PlainTextResponse("Calendrier inconnu.", status_code=404)
    with site.app.sessions() as db:
        office = db.scalar(select(Office).where(Office.ics_token == token))
        if office is None:
            return PlainTextResponse("Calendrier inconnu.", status_code=404)
        data = ics.build(db, office.id, site.app.clock.now())
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"content-disposition": f'inline; filename="klub-{office.id}.ics"', "cache-control": "max-age=300"},
    )


def routes(site: Site) -> list[BaseRoute]:
    async def feed(request: Request) -> Response:
        # Public on purpose (calendar apps cannot log in): the unguessable token is the key.
        return await run_in_threadpool(_feed, site, request.path_params["token"])

    ant = Role.ANT
    return [
        route("/sessions", site.page(sessions_page)),
        route("/sessions/{number:int}", site.page(session_page)),
        route("/sessions/{number:int}/attendance", site.page(mark_attendance, role=ant), methods=("POST",)),
        route("/offices/{office_id}/calendar", site.page(new_calendar_link, role=ant), methods=("POST",)),
        route("/offices/{office_id}/calendar/off", site.page(calendar_off, role=ant), methods=("POST",)),
        route("/ics/{token}.ics", feed),
    ]
