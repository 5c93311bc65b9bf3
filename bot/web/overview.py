"""The home page: a few figures and the charts people would rather look at than read."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import clubs, questions
from bot.questions import LogFilter
from bot.storage.tables import FaqFeedback, Question
from bot.timefmt import localize, to_local
from bot.web import charts
from bot.web.app import Site, Web, route
from bot.web.klubs import attended, past_sessions, upcoming_sessions

MONTHS = 12
TOP_THEMES = 8


def _month_starts(web: Web, office_id: str) -> list[datetime]:
    """The first instant of each of the last twelve months, in the office's time zone."""
    local = web.now.astimezone(web.zone(office_id))
    year, month = local.year, local.month
    out = []
    for _ in range(MONTHS):
        out.append(localize(datetime(year, month, 1), web.zone(office_id)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def _per_month(web: Web, rows: list[Question], office_id: str) -> list[tuple[str, int]]:
    starts = _month_starts(web, office_id)
    zone = web.zone(office_id)
    counts = Counter((q.created_at.astimezone(zone).year, q.created_at.astimezone(zone).month) for q in rows)
    # « nov. 25 »: twelve months straddle two years, the axis says which.
    return [(f"{web.text(f'web.months.m{s.month}')} {s.year % 100:02d}", counts[(s.year, s.month)]) for s in starts]


def _per_theme(web: Web, rows: list[Question]) -> list[tuple[str, int]]:
    counts = Counter(q.theme or web.text("web.home.no_theme") for q in rows)
    return counts.most_common(TOP_THEMES)


def _chat_answers(web: Web, offices: tuple[str, ...], start: datetime) -> int:
    """Questions the base answered in chat: a tutorial shown, not judged useless (no question row for them)."""
    query = select(func.count()).where(
        FaqFeedback.office_id.in_(offices), FaqFeedback.at >= start, FaqFeedback.useful.is_not(False)
    )
    return web.db.scalar(query) or 0


def _shares(web: Web, rows: list[Question], by_chat: int = 0) -> list[charts.Part]:
    counts = Counter(q.status for q in rows)
    other = sum(n for s, n in counts.items() if s not in ("answered_base", "answered_klub", "open"))
    return [
        charts.Part(web.text("web.home.share_base"), counts["answered_base"] + by_chat, "s-answered_base"),
        charts.Part(web.text("web.home.share_klub"), counts["answered_klub"], "s-answered_klub"),
        charts.Part(web.text("web.home.share_open"), counts["open"], "s-open"),
        charts.Part(web.text("web.home.share_other"), other, "s-dismissed"),
    ]


def _per_office(web: Web, rows: list[Question], offices: tuple[str, ...]) -> list[tuple[str, int]]:
    counts = Counter(q.office_id for q in rows)
    return sorted(((web.office_name(o), counts[o]) for o in offices), key=lambda item: (-item[1], item[0]))


def _attendance(web: Web, offices: tuple[str, ...]) -> list[charts.Attendance]:
    past = [s for s in past_sessions(web, offices, limit=8) if s.status != "cancelled"][:4]
    coming = upcoming_sessions(web, offices, limit=4, include_cancelled=False)
    out = []
    for s in [*reversed(past), *coming]:
        local = to_local(s.starts_at, web.zone(s.office_id))
        label = f"{local:%d/%m} · {s.title}"
        out.append(charts.Attendance(label, clubs.count(web.db, s.id, "yes"), attended(web, s.id), s.capacity))
    return out


def _described(web: Web, key: str, data: list[tuple[str, int]]) -> str:
    figures = ", ".join(f"{label} : {value}" for label, value in data) or web.text("web.home.nothing")
    return web.text(key, figures=figures)


def home(web: Web) -> Response:
    offices = web.chosen_offices()
    zone_office = offices[0]
    starts = _month_starts(web, zone_office)
    year = questions.search(web.db, LogFilter(office_ids=offices, start=starts[0]))
    still_open = questions.count(web.db, LogFilter(office_ids=offices, statuses=("open",)))
    months = _per_month(web, year, zone_office)
    themes = _per_theme(web, year)
    by_chat = _chat_answers(web, offices, starts[0])
    shares = _shares(web, year, by_chat)
    sessions = _attendance(web, offices)
    nxt = next(iter(upcoming_sessions(web, offices, limit=1, include_cancelled=False)), None)
    answered = sum(p.value for p in shares[:2])
    figures: dict[str, Any] = {
        "open": still_open,
        "year": len(year),
        "answered_pct": round(100 * answered / (len(year) + by_chat)) if year or by_chat else None,
        "next": nxt,
        "next_yes": clubs.count(web.db, nxt.id, "yes") if nxt else 0,
    }
    charts_html = {
        "months": charts.columns(
            "c-months",
            web.text("web.home.chart_months"),
            _described(web, "web.home.desc_months", months),
            months,
            web.text("web.home.nothing"),
        ),
        "themes": charts.bars(
            "c-themes",
            web.text("web.home.chart_themes"),
            _described(web, "web.home.desc_themes", themes),
            themes,
            web.text("web.home.nothing"),
        ),
        "shares": charts.share(
            "c-shares",
            web.text("web.home.chart_shares"),
            _described(web, "web.home.desc_shares", [(p.label, p.value) for p in shares]),
            shares,
            web.text("web.home.nothing"),
        ),
        "sessions": charts.attendance(
            "c-sessions",
            web.text("web.home.chart_sessions"),
            _described(web, "web.home.desc_sessions", [(r.label, r.registered) for r in sessions]),
            sessions,
            tuple(web.text(f"web.home.legend_{k}") for k in ("registered", "attended", "capacity")),
            web.text("web.home.no_sessions"),
        ),
    }
    if len(offices) > 1:  # a coordinator compares the offices of the territory
        per_office = _per_office(web, year, offices)
        charts_html["offices"] = charts.bars(
            "c-offices",
            web.text("web.home.chart_offices"),
            _described(web, "web.home.desc_offices", per_office),
            per_office,
            web.text("web.home.nothing"),
        )
    return web.render(
        "home.html",
        nav="home",
        figures=figures,
        charts=charts_html,
        offices=web.offices(),
        chosen=web.request.query_params.get("office", ""),
    )


def routes(site: Site) -> list[BaseRoute]:
    return [route("/", site.page(home))]
