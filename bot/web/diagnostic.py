"""The observatory of the diagnostic: the office's figures and table, one provider's profile, exports.

A provider's answers are theirs and their office's: every page is limited to the viewer's scope (their
office, or the territory's offices for a coordinator), and a provider of another office is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit, exports
from bot.diagnostic import campaign_of, observatory, runs
from bot.diagnostic.observatory import Respondent
from bot.diagnostic.questionnaire import Questionnaire
from bot.storage.tables import Person
from bot.web import charts
from bot.web.app import MAX_ID, Refused, Site, Web, route

PAGE_SIZE = 100  # providers per page on screen; the exports hold everyone


@dataclass(frozen=True)
class View:
    """What the observatory shows: which offices, which campaign, which category, sorted how."""

    offices: tuple[str, ...]
    campaign: int
    category: str
    sort: str  # "name" or an axis id
    campaigns: list[int]
    page: int = 1


def _q(web: Web) -> Questionnaire:
    return web.app.questionnaire


def _view(web: Web) -> View:
    offices = web.chosen_offices()
    params = web.request.query_params
    current = campaign_of(web.now, web.zone(offices[0]))
    known = sorted(set(observatory.campaigns(web.db, offices)) | {current}, reverse=True)
    raw = params.get("campaign", "")
    if raw:
        # Only the campaigns that exist: anything else (letters, « ² », year 0) is a clear 400, never a 500.
        if not (raw.isascii() and raw.isdigit() and int(raw[:6]) in known):
            raise Refused(400, "bad_request")
        campaign = int(raw)
    else:
        campaign = current
    category = params.get("category", "")
    categories = {c for o in offices for c in runs.categories(web.db, o)}
    if category and category not in categories:
        raise Refused(400, "bad_request")
    sort = params.get("sort", "name")
    if sort != "name" and _q(web).axis(sort) is None:
        raise Refused(400, "bad_request")
    raw_page = params.get("page", "1")
    if not (raw_page.isascii() and raw_page.isdigit() and 0 < len(raw_page) <= 6 and int(raw_page) > 0):
        raise Refused(400, "bad_request")
    return View(offices, campaign, category, sort, known, int(raw_page))


def _sorted(people: list[Respondent], sort: str) -> list[Respondent]:
    if sort == "name":
        return people
    return sorted(people, key=lambda r: (r.scores.get(sort, -1), r.person.name))


def _link(web: Web, view: View, **changes: str) -> str:
    params = {"campaign": str(view.campaign), "category": view.category, "sort": view.sort}
    chosen = web.request.query_params.get("office", "")
    if chosen:
        params["office"] = chosen
    params.update(changes)
    return "/diagnostic?" + urlencode({k: v for k, v in params.items() if v})


def _comparison(web: Web, view: View) -> list[dict[str, Any]]:
    """For a coordinator: each office's averages side by side, and the change since the previous campaign."""
    q = _q(web)
    previous = next((c for c in view.campaigns if c < view.campaign), None)
    current = observatory.scores_by_office(web.db, view.offices, view.campaign, view.category)
    earlier = observatory.scores_by_office(web.db, view.offices, previous, view.category) if previous else {}
    rows = []
    for office_id in view.offices:
        before = observatory.averages(q, earlier.get(office_id, []))
        avg = observatory.averages(q, current[office_id])
        rows.append(
            {
                "office": web.office_name(office_id),
                "answered": len(current[office_id]),
                "total": observatory.population(web.db, [office_id], view.category),
                "avg": avg,
                "delta": {a: avg[a] - before[a] for a in avg if a in before},
            }
        )
    return rows


def overview(web: Web) -> Response:
    view = _view(web)
    q = _q(web)
    people = _sorted(observatory.respondents(web.db, view.offices, view.campaign, view.category), view.sort)
    pages = max(1, -(-len(people) // PAGE_SIZE))
    shown = people[(view.page - 1) * PAGE_SIZE : view.page * PAGE_SIZE]
    total = observatory.population(web.db, view.offices, view.category)
    counts = observatory.answer_counts(web.db, view.offices, view.campaign, view.category)
    averages = observatory.averages(q, [r.scores for r in people])
    chart = charts.bars(
        "axes",
        web.text("web.diag.chart_title", campaign=view.campaign),
        "; ".join(f"{a.name(web.lang)} {averages[a.id]} %" for a in q.axes if a.id in averages),
        [(a.name(web.lang), averages[a.id]) for a in q.axes if a.id in averages],
        web.text("web.diag.no_answers"),
        top=100,
        unit=" %",
    )
    return web.render(
        "diagnostic.html",
        nav="diagnostic",
        q=q,
        view=view,
        people=shown,
        answered=len(people),
        pages=pages,
        total=total,
        rate=round(100 * len(people) / total) if total else 0,
        figures=[f for f in observatory.figures(q, counts) if f.answered],
        weak=observatory.weak_axes(q, people),
        chart=chart,
        categories=sorted({c for o in view.offices for c in runs.categories(web.db, o)}),
        comparison=_comparison(web, view) if len(view.offices) > 1 else [],
        link=lambda **kw: _link(web, view, **kw),
        offices=web.offices(),
        chosen=web.request.query_params.get("office", ""),
    )


def person_page(web: Web) -> Response:
    number = web.request.path_params["number"]
    person = web.db.get(Person, number) if 0 < number <= MAX_ID else None
    if person is None or person.erased_at is not None:
        raise Refused(404, "not_found")
    web.check_office(person.office_id)
    q = _q(web)
    history = observatory.history(web.db, person.id)
    latest = runs.run_scores(history[-1]) if history else {}
    chart = charts.bars(
        "profile",
        web.text("web.diag.profile_chart", name=person.name),
        "; ".join(f"{a.name(web.lang)} {latest[a.id]} %" for a in q.axes if a.id in latest),
        [(a.name(web.lang), latest[a.id]) for a in q.axes if a.id in latest],
        web.text("web.diag.no_profile"),
        top=100,
        unit=" %",
    )
    audit.record(
        web.db, web.now, "diagnostic.view", actor=web.person, office_id=person.office_id, target=f"person:{person.id}"
    )
    return web.render(
        "diagnostic_person.html",
        nav="diagnostic",
        q=q,
        p=person,
        history=[(run, runs.run_scores(run)) for run in history],
        plan=runs.plan(web.db, person.id),
        chart=chart,
    )


def table(web: Web, view: View) -> tuple[list[str], list[list[object]]]:
    """The export: one row per respondent, the score of each axis, then every answer."""
    q = _q(web)
    people = _sorted(observatory.respondents(web.db, view.offices, view.campaign, view.category), view.sort)
    answers = observatory.answers_by_run(web.db, [r.run.id for r in people])
    header = [
        web.text("web.diag.col_office"),
        web.text("web.diag.col_name"),
        web.text("web.diag.col_business"),
        web.text("web.diag.col_category"),
        web.text("web.diag.col_date"),
        *[a.name(web.lang) + " (%)" for a in q.axes],
        *[question.id for question in q.questions],
    ]
    body: list[list[object]] = []
    for r in people:
        assert r.run.completed_at is not None
        given = answers.get(r.run.id, {})
        body.append(
            [
                r.person.office_id,
                r.person.name,
                r.person.business,
                r.person.category,
                web.stamp(r.run.completed_at, r.person.office_id),
                *[r.scores.get(a.id, "") for a in q.axes],
                *[given.get(question.id, "") for question in q.questions],
            ]
        )
    return header, body


def export(web: Web, fmt: str) -> Response:
    view = _view(web)
    header, body = table(web, view)
    for office_id in view.offices:
        audit.record(
            web.db,
            web.now,
            "diagnostic.export",
            actor=web.person,
            office_id=office_id,
            detail=f"{view.campaign}, {len(body)} réponses, {fmt}",
        )
    name = f"diagnostic-{view.campaign}.{fmt}"
    if fmt == "csv":
        data, media = exports.csv_bytes(header, body), "text/csv; charset=utf-8"
    else:
        data = exports.xlsx_bytes(web.text("web.diag.sheet"), header, body)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'})


def routes(site: Site) -> list[BaseRoute]:
    return [
        route("/diagnostic", site.page(overview)),
        route("/diagnostic/people/{number:int}", site.page(person_page)),
        route("/diagnostic/export.csv", site.page(lambda web: export(web, "csv"))),
        route("/diagnostic/export.xlsx", site.page(lambda web: export(web, "xlsx"))),
    ]
