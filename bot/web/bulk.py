"""Decisions taken from the question list itself: one-click « répondue », and the same for many ticked rows.

Each question goes through bot.questions like a decision taken on its own page, with its own audit line.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit, questions
from bot.roles import Role
from bot.storage.tables import Question
from bot.web.app import MAX_ID, Refused, Site, Web, route

BULK_ACTIONS = ("answered_klub", "answered_base", "dismissed")
MAX_BULK = 200  # one page of the list, with room to spare


def _back(web: Web) -> str:
    """Back to the list with its filters; only our own list, never an address from elsewhere."""
    back = web.field("back", 1000)
    return back if back.startswith("/questions") and "//" not in back and "\\" not in back else "/questions"


def _decide(web: Web, q: Question, action: str) -> None:
    if action == "dismissed":
        reason = web.text("web.live.default_reason")
        questions.set_status(web.db, q, "dismissed", web.now, web.person, reason=reason)
    else:
        questions.set_status(web.db, q, action, web.now, web.person)
    audit.record(
        web.db,
        web.now,
        "questions.status",
        actor=web.person,
        office_id=q.office_id,
        target=f"question:{q.id}",
        detail=f"{action} (depuis la liste)",
    )


def answered(web: Web) -> Response:
    q = web.owned(Question, web.request.path_params["number"], "unknown_question")
    if q.status in ("merged", "withdrawn"):
        raise Refused(409, "closed", number=q.id)
    _decide(web, q, "answered_klub")
    return web.redirect(_back(web), "status")


def bulk(web: Web) -> Response:
    action = web.field("action", 40)
    words = web.fields("ids")
    if action not in BULK_ACTIONS or not words or len(words) > MAX_BULK or not all(w.isdigit() for w in words):
        raise Refused(400, "bad_bulk")
    chosen = []
    for word in dict.fromkeys(words):
        q = web.owned(Question, int(word) if int(word) <= MAX_ID else 0, "unknown_question")
        if q.status in ("merged", "withdrawn"):
            raise Refused(409, "closed", number=q.id)  # one refused row refuses the lot: nothing half done
        chosen.append(q)
    for q in chosen:
        _decide(web, q, action)
    return web.redirect(_back(web), "bulk")


def routes(site: Site) -> list[BaseRoute]:
    ant = Role.ANT
    return [
        route("/questions/bulk", site.page(bulk, role=ant), methods=("POST",)),
        route("/questions/{number:int}/answered", site.page(answered, role=ant), methods=("POST",)),
    ]
