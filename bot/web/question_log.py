"""The question log: filter, read, answer, dismiss, merge, export, and turn a question into a tutorial draft.

Every change goes through bot.questions (or bot.drafts) and is written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit, drafts, evening, questions, search
from bot.questions import LogFilter, QuestionError
from bot.roles import Role
from bot.storage.tables import Person, Question, QuestionEvent, Session
from bot.timefmt import TimeInputError, in_range, localize
from bot.web.app import Refused, Site, Web, number, route

STATUS_CHOICES = ("open", "answered_base", "answered_klub")  # what the status form may set
PAGE_SIZE = 100  # rows per page on screen (a phone shows them as cards); the exports hold everything
CLOSED = ("merged", "withdrawn")
LINKED_OR_SILENT = ("created", "similar", "merged", "merged_from", "moved")  # no raw detail in the history
_DRAFT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}\.yml$")


@dataclass
class Filters:
    """The filter form: what was asked (to fill the form back) and the LogFilter it gives."""

    values: dict[str, str]
    flt: LogFilter
    problems: list[Markup] = field(default_factory=list)

    def query(self, **extra: str) -> str:
        from urllib.parse import urlencode

        items = {k: v for k, v in {**self.values, **extra}.items() if v}
        return urlencode(items)


def _day(web: Web, text: str, office_id: str, problems: list[Markup]) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
        if not in_range(day):
            raise ValueError(text)
        return localize(datetime.combine(day, datetime.min.time()), web.zone(office_id))
    except (ValueError, TimeInputError):
        problems.append(web.t("web.log.bad_date", text=text))
        return None


def read_filters(web: Web) -> Filters:
    """Bad values are reported on the page and ignored; they never change what is stored."""
    offices = web.chosen_offices()
    names = ("office", "from", "to", "status", "source", "session", "theme", "q", "sort")
    values = {k: web.param(k) for k in names}
    problems: list[Markup] = []
    start = _day(web, values["from"], offices[0], problems)
    end = _day(web, values["to"], offices[0], problems)
    end = end + timedelta(days=1) if end else None  # « au 30/11 » includes the 30th
    if start and end and end <= start:
        problems.append(web.t("web.log.bad_period"))
        start = end = None
    if values["sort"] not in search.SORTS:
        if values["sort"]:
            problems.append(web.t("web.log.bad_value", text=values["sort"]))
        values["sort"] = ""
    statuses: tuple[str, ...] = ()
    if values["status"] in questions.STATUSES:
        statuses = (values["status"],)
    elif values["status"]:
        problems.append(web.t("web.log.bad_value", text=values["status"]))
        values["status"] = ""
    sources: tuple[str, ...] = ()
    if values["source"] in questions.SOURCES:
        sources = (values["source"],)
    elif values["source"]:
        problems.append(web.t("web.log.bad_value", text=values["source"]))
        values["source"] = ""
    session_id: int | None = None
    if values["session"]:
        wanted_session = number(values["session"])
        session = web.db.get(Session, wanted_session) if wanted_session is not None else None
        if session is None or session.office_id not in offices:
            problems.append(web.t("web.log.bad_session", text=values["session"]))
            values["session"] = ""
        else:
            session_id = session.id
    flt = LogFilter(
        office_ids=offices,
        start=start,
        end=end,
        statuses=statuses,
        sources=sources,
        session_id=session_id,
        text=values["q"],
        theme=values["theme"][:100],
    )
    return Filters(values, flt, problems)


def _session_choices(web: Web, offices: tuple[str, ...]) -> list[tuple[int, str]]:
    rows = web.db.scalars(
        select(Session)
        .where(Session.office_id.in_(offices), Session.starts_at >= web.now - timedelta(days=400))
        .order_by(Session.starts_at)
        .limit(60)
    )
    return [(s.id, f"{web.day(s.starts_at, s.office_id)} · {s.title}") for s in rows]


def _themes(web: Web, offices: tuple[str, ...]) -> list[str]:
    found = web.db.scalars(
        select(Question.theme).where(Question.office_id.in_(offices), Question.theme.is_not(None)).distinct()
    )
    return sorted({th for th in found if th}, key=str.casefold)


def log_page(web: Web) -> Response:
    filters = read_filters(web)
    asked = web.request.query_params.get("page", "1")
    wanted = number(asked) if len(asked) < 6 else None
    if wanted is None:
        filters.problems.append(web.t("web.log.bad_page", text=asked[:20]))
        wanted = 1
    shown, total, page = search.page(web.db, filters.flt, wanted, PAGE_SIZE, filters.values["sort"] or "new")
    pages = max(1, -(-total // PAGE_SIZE))
    table = questions.rows(web.db, shown)
    return web.render(
        "questions.html",
        # A refused filter is explained on the page, which still shows; the status says it was refused.
        status=400 if filters.problems else 200,
        nav="questions",
        filters=filters,
        items=list(zip(shown, table, strict=True)),
        total=total,
        page=page,
        pages=pages,
        first=(page - 1) * PAGE_SIZE + 1,
        last=(page - 1) * PAGE_SIZE + len(shown),
        page_url=lambda n: _page_url(web, n),
        statuses=questions.STATUSES,
        sources=questions.SOURCES,
        sessions=_session_choices(web, filters.flt.office_ids),
        themes=_themes(web, filters.flt.office_ids),
        offices=web.offices(),
        sorts=search.SORTS,
        tutorials=search.tutorials(web.app.faq.base, filters.flt.text) if filters.flt.text else [],
        can_act=web.role >= Role.ANT,
        back=web.request.url.path + (f"?{web.request.url.query}" if web.request.url.query else ""),
    )


def _page_url(web: Web, page: int) -> str:
    """The same filters, another page."""
    kept = [(k, v) for k, v in web.request.query_params.multi_items() if k != "page" and v]
    return "/questions?" + urlencode([*kept, ("page", str(page))])


def export(web: Web, fmt: str) -> Response:
    """The same files as `klub questions export`, for the offices this person may see."""
    filters = read_filters(web)
    if filters.problems:
        # A file made with some filters silently dropped would mislead whoever reads it.
        raise Refused(400, "bad_filters")
    table = questions.rows(web.db, questions.search(web.db, filters.flt))
    if fmt == "csv":
        data, media = questions.to_csv(table), "text/csv; charset=utf-8"
    else:
        data, media = questions.to_xlsx(table), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for office_id in filters.flt.office_ids:
        audit.record(
            web.db,
            web.now,
            "questions.export",
            actor=web.person,
            office_id=office_id,
            detail=f"tableau de bord, {len(table)} questions, {fmt}",
        )
    who = filters.flt.office_ids[0] if len(filters.flt.office_ids) == 1 else "territoire"
    name = f"questions-{who}-{web.now.astimezone(web.zone(filters.flt.office_ids[0])):%Y-%m-%d}.{fmt}"
    return Response(data, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'})


# -- one question -------------------------------------------------------------------------------------


def _question(web: Web) -> Question:
    return web.owned(Question, web.request.path_params["number"], "unknown_question")


def _history(web: Web, q: Question) -> list[dict[str, Any]]:
    events = web.db.scalars(
        select(QuestionEvent).where(QuestionEvent.question_id == q.id).order_by(QuestionEvent.at, QuestionEvent.id)
    )
    out = []
    for ev in events:
        actor = web.db.get(Person, ev.actor_id) if ev.actor_id else None
        hidden = actor is None or actor.erased_at is not None or (actor.id == q.person_id and q.anonymous)
        known = web.t(f"web.event.{ev.action}")
        # « fusionnée dans n°19 », « reportée » and friends link to what they name.
        other = ev.detail.removeprefix("into ").strip() if ev.action in ("merged", "merged_from") else ""
        link = f"/questions/{other}" if other.isdigit() else None
        if ev.action == "moved" and ev.detail.isdigit():
            link = f"/sessions/{ev.detail}"
        out.append(
            {
                "at": web.stamp(ev.at, q.office_id),
                "action": known if not known.startswith("web.event.") else ev.action,
                "who": web.t("web.log.someone") if hidden else actor.name,  # type: ignore[union-attr]
                "detail": "" if ev.action in LINKED_OR_SILENT else ev.detail,
                "link": link,
                "link_text": web.t(f"web.history.{ev.action}", number=other or ev.detail) if link else "",
            }
        )
    return out


def detail(web: Web) -> Response:
    q = _question(web)
    row = questions.rows(web.db, [q])[0]
    session = web.db.get(Session, q.session_id) if q.session_id else None
    return web.render(
        "question.html",
        nav="questions",
        q=q,
        row=row,
        session=session,
        history=_history(web, q),
        # A dismissed question keeps « Écartée » selected: saving its note must not silently reopen it.
        status_choices=STATUS_CHOICES + (("dismissed",) if q.status == "dismissed" else ()),
        duplicates=evening.duplicates(web.db, web.app.faq.similarity, q) if q.status not in CLOSED else [],
        back_session=_back_session(web, q),
        can_act=web.role >= Role.ANT,
        closed=q.status in CLOSED,
    )


def _back_session(web: Web, q: Question) -> Session | None:
    """Opened from a session page or the live agenda (`?from=session`): the back link returns there."""
    if web.request.query_params.get("from") != "session" or q.session_id is None:
        return None
    return web.db.get(Session, q.session_id)


def _changeable(web: Web) -> Question:
    q = _question(web)
    if q.status in CLOSED:
        raise Refused(409, "closed", number=q.id)
    return q


def _audit(web: Web, q: Question, action: str, detail: str) -> None:
    audit.record(
        web.db, web.now, action, actor=web.person, office_id=q.office_id, target=f"question:{q.id}", detail=detail
    )


def change_status(web: Web) -> Response:
    q = _changeable(web)
    status = web.field("status", 40)
    if status not in STATUS_CHOICES and not (status == "dismissed" and q.status == "dismissed"):
        raise Refused(400, "bad_status")
    note = web.field("note", 2000)
    questions.set_status(web.db, q, status, web.now, web.person, note=note)  # an emptied note is cleared
    _audit(web, q, "questions.status", f"{status}" + (f" : {note[:200]}" if note else ""))
    return web.redirect(f"/questions/{q.id}", "status")


def dismiss(web: Web) -> Response:
    q = _changeable(web)
    reason = web.field("reason", 300)
    if not reason:
        raise Refused(400, "reason_needed")
    questions.set_status(web.db, q, "dismissed", web.now, web.person, reason=reason)
    _audit(web, q, "questions.dismiss", reason)
    return web.redirect(f"/questions/{q.id}", "dismissed")


def merge(web: Web) -> Response:
    source = _changeable(web)
    word = web.field("target", 20).lstrip("n°#").strip()
    wanted = number(word)
    target = web.db.get(Question, wanted) if wanted is not None else None
    if target is None:
        raise Refused(404, "unknown_question", number=word or "?")
    web.check_office(target.office_id)
    if target.office_id != source.office_id:
        raise Refused(409, "merge_offices")
    try:
        questions.merge(web.db, source, target, web.now, web.person)
    except QuestionError as exc:
        raise Refused(409, "merge_self" if exc.key == "question.merge_self" else "closed", number=target.id) from exc
    _audit(web, source, "questions.merge", f"dans la question {target.id}")
    return web.redirect(f"/questions/{target.id}", "merged")


def _drafts_folder(web: Web) -> Path:
    return Path(web.app.config.faq.bases[0]) / "drafts"


def make_draft(web: Web) -> Response:
    q = _question(web)
    path = drafts.draft(web.db, web.app.faq, q.id, _drafts_folder(web), web.now, office_ids=set(web.scope))
    _audit(web, q, "questions.draft", path.name)
    return web.redirect(f"/questions/{q.id}/drafts/{path.name}")


def show_draft(web: Web) -> Response:
    q = _question(web)
    name = web.request.path_params["name"]
    path = _drafts_folder(web) / name
    # A draft is shown from the question it was made from: its header names that question.
    text = path.read_text(encoding="utf-8") if _DRAFT_NAME.match(name) and path.is_file() else ""
    if f"depuis la question n°{q.id} du journal" not in text:
        raise Refused(404, "unknown_draft")
    folder = f"{path.parent.parent.name}/{path.parent.name}"  # "faq/drafts": where the base is, not the server's path
    return web.render("draft.html", nav="questions", q=q, name=name, folder=folder, text=text)


def routes(site: Site) -> list[BaseRoute]:
    ant = Role.ANT
    return [
        route("/questions", site.page(log_page)),
        route("/questions/export.csv", site.page(lambda web: export(web, "csv"))),
        route("/questions/export.xlsx", site.page(lambda web: export(web, "xlsx"))),
        route("/questions/{number:int}", site.page(detail)),
        route("/questions/{number:int}/status", site.page(change_status, role=ant), methods=("POST",)),
        route("/questions/{number:int}/dismiss", site.page(dismiss, role=ant), methods=("POST",)),
        route("/questions/{number:int}/merge", site.page(merge, role=ant), methods=("POST",)),
        route("/questions/{number:int}/draft", site.page(make_draft, role=ant), methods=("POST",)),
        route("/questions/{number:int}/drafts/{name:str}", site.page(show_draft)),
    ]
