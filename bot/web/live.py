"""The live agenda of a Klub evening: questions by votes on the room's screen, one click per decision.

The page polls a small HTML fragment (`/sessions/N/live/list`) every few seconds, so questions and votes
sent from the chat appear without a reload. Every decision goes through the same domain functions as the
chat (bot.questions, bot.evening), and the compte rendu through the same outbox path as /compte-rendu.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit, evening, notify, questions
from bot.i18n import Safe
from bot.messages import Reply
from bot.roles import Role
from bot.storage.tables import Question, Session
from bot.web.app import MAX_ID, Refused, Site, Web, route

ACTIONS = ("answer", "postpone", "dismiss", "merge")
MERGE_CHOICES = 20
FULL = 25  # questions shown with their buttons; the others one line each


def _session(web: Web) -> Session:
    return web.owned(Session, web.request.path_params["number"], "unknown_session")


def _current(web: Web, ranked: list[tuple[Question, int]]) -> int | None:
    """The question being discussed: `?current=N` if it is still on the agenda, else the most voted."""
    word = web.request.query_params.get("current", "")
    wanted = int(word) if word.isdigit() and int(word) <= MAX_ID else None
    ids = [q.id for q, _ in ranked]
    if wanted in ids:
        return wanted
    return ids[0] if ids else None


def _agenda_context(web: Web, s: Session) -> dict[str, Any]:
    ranked = questions.agenda(web.db, s.office_id, s.id)
    current = _current(web, ranked)
    ids = [q.id for q, _ in ranked]
    following = ids[ids.index(current) + 1] if current in ids and ids.index(current) + 1 < len(ids) else None
    by_id = {q.id: q for q, _ in ranked}
    # The question under discussion on top, then by votes; the first FULL carry their buttons and merge
    # suggestions, the rest a link that brings them on top (an agenda of hundreds stays light to poll).
    order = sorted(ranked, key=lambda qv: qv[0].id != current)
    shown = {q.id for q, _ in order[:FULL]}
    pairs = evening.similar_pairs({q.id: q.text for q in by_id.values()}, web.app.faq.stem_set, among=shown)
    items = []
    for rank, (q, votes) in enumerate(order):
        suggested = [by_id[o] for o in pairs[q.id]]  # among this evening's questions only
        full = rank < FULL
        rest = [o for o, _ in ranked if o.id != q.id and o not in suggested][:MERGE_CHOICES] if full else []
        items.append(
            {
                "q": q,
                "votes": votes,
                "current": q.id == current,
                "suggested": suggested,
                "others": suggested + rest,
                "full": full,
            }
        )
    return {
        "s": s,
        "items": items,
        "current": current,
        "following": following,
        "later": [
            (x.id, web.day(x.starts_at, x.office_id))
            for x in evening.later_sessions(web.db, s.office_id, web.now, limit=7)
            if x.id != s.id
        ][:6],
        "can_act": web.role >= Role.ANT,
        "answered": len(questions.answered_at(web.db, s.office_id, s.id)),
    }


def live_page(web: Web) -> Response:
    s = _session(web)
    return web.render("live.html", nav="sessions", **_agenda_context(web, s))


def live_list(web: Web) -> Response:
    """What the page polls: the agenda alone, no layout."""
    s = _session(web)
    response = web.render("live_list.html", **_agenda_context(web, s))
    response.headers["cache-control"] = "no-store"
    return response


def _question_of(web: Web, s: Session) -> Question:
    q = web.owned(Question, web.request.path_params["question"], "unknown_question")
    if q.session_id != s.id:
        raise Refused(404, "unknown_question", number=q.id)
    if q.status != "open":
        raise Refused(409, "closed", number=q.id)
    return q


def act(web: Web) -> Response:
    s = _session(web)
    q = _question_of(web, s)
    action = web.request.path_params["action"]
    note = web.field("note", 2000)
    if action == "answer":
        questions.set_status(web.db, q, "answered_klub", web.now, web.person, note=note)
        detail = "answered_klub" + (f" : {note[:200]}" if note else "")
    elif action == "dismiss":
        reason = note[:300] or web.text("web.live.default_reason")
        questions.set_status(web.db, q, "dismissed", web.now, web.person, reason=reason)
        detail = reason
    elif action == "postpone":
        word = web.field("to", 20)
        target = web.db.get(Session, int(word)) if word.isdigit() and int(word) <= MAX_ID else None
        if target is None:
            raise Refused(400, "bad_session_choice")
        web.check_office(target.office_id)
        try:
            evening.postpone(web.db, q, target, web.now, web.person)
        except evening.EveningError as exc:
            raise Refused(409, "bad_session_choice") from exc
        detail = f"vers la séance {target.id}"
    elif action == "merge":
        word = web.field("into", 20)
        into = web.db.get(Question, int(word)) if word.isdigit() and int(word) <= MAX_ID else None
        if into is None or into.office_id != q.office_id:
            raise Refused(404, "unknown_question", number=word or "?")
        try:
            questions.merge(web.db, q, into, web.now, web.person)
        except questions.QuestionError as exc:
            name = "merge_self" if exc.key == "question.merge_self" else "closed"
            raise Refused(409, name, number=into.id) from exc
        detail = f"dans la question {into.id}"
    else:
        raise Refused(404, "not_found")
    audit.record(
        web.db,
        web.now,
        f"questions.live.{action}",
        actor=web.person,
        office_id=q.office_id,
        target=f"question:{q.id}",
        detail=detail,
    )
    nxt = web.field("next", 20)
    back = f"/sessions/{s.id}/live" + (f"?current={nxt}" if nxt.isdigit() else "")
    return web.redirect(back, f"live_{action}")


# -- the compte rendu -------------------------------------------------------------------------------------


def report_page(web: Web) -> Response:
    s = _session(web)
    text, count = evening.report_text(web.db, s, web.app.config.language)
    return web.render(
        "report.html",
        nav="sessions",
        s=s,
        count=count,
        preview=Markup(str(text).replace("\n", "<br>")),  # the core's HTML subset, user text escaped by t()
        groups=len(_groups(web, s)),
        can_act=web.role >= Role.ANT and s.starts_at <= web.now and s.status != "cancelled",
    )


def _groups(web: Web, s: Session) -> list[object]:
    from bot import membership

    return list(membership.office_groups(web.db, s.office_id, "prestataires", web.app.reach))


def publish(web: Web) -> Response:
    s = _session(web)
    if s.starts_at > web.now or s.status == "cancelled":
        raise Refused(409, "report_early")

    def send(text: Safe) -> int:
        return notify.to_groups(web.app, web.db, s.office_id, "prestataires", Reply(text))

    # As in Core.handle: the messages leave only once the change that caused them is committed.
    with web.app.outbox.transaction(web.db):
        try:
            evening.publish_report(web.db, s, web.app.config.language, web.now, web.person, send)
        except evening.EveningError as exc:
            raise Refused(409, "report_empty") from exc
        web.db.commit()
    return web.redirect(f"/sessions/{s.id}", "report")


def session_label(web: Web, s: Session) -> str:
    return f"{web.day(s.starts_at, s.office_id)} · {s.title}"


def routes(site: Site) -> list[BaseRoute]:
    ant = Role.ANT
    return [
        route("/sessions/{number:int}/live", site.page(live_page)),
        route("/sessions/{number:int}/live/list", site.page(live_list)),
        route(
            "/sessions/{number:int}/live/{question:int}/{action:str}",
            site.page(act, role=ant),
            methods=("POST",),
        ),
        route("/sessions/{number:int}/report", site.page(report_page)),
        route("/sessions/{number:int}/report", site.page(publish, role=ant), methods=("POST",)),
    ]
