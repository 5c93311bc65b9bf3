"""The observatory: what the office's (or the territory's) completed diagnostics say, for one campaign.

Every figure is computed over those who answered, with the response rate beside it; a provider's answers
are shown only to their own office (the callers pass the office ids the viewer may see).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as Db

from bot.diagnostic.questionnaire import Axis, Figure, Questionnaire
from bot.diagnostic.runs import run_scores
from bot.storage.tables import DiagnosticAnswer, DiagnosticRun, Person

WEAK = 50  # an axis under 50 % is a weakness worth a workshop


@dataclass(frozen=True)
class Respondent:
    person: Person
    run: DiagnosticRun
    scores: dict[str, int]


@dataclass(frozen=True)
class FigureRow:
    figure: Figure
    count: int  # respondents who gave one of the figure's answers
    answered: int  # respondents who answered that question

    @property
    def percent(self) -> int:
        return round(100 * self.count / self.answered) if self.answered else 0


@dataclass(frozen=True)
class WeakAxis:
    axis: Axis
    count: int


def _latest(office_ids: Sequence[str], campaign: int, category: str) -> Select[Any]:
    """The ids of the latest completed run of each (not erased) provider in this campaign."""
    stmt = (
        select(func.max(DiagnosticRun.id))
        .join(Person, Person.id == DiagnosticRun.person_id)
        .where(
            DiagnosticRun.office_id.in_(office_ids),
            DiagnosticRun.campaign == campaign,
            DiagnosticRun.completed_at.is_not(None),
            Person.erased_at.is_(None),
        )
        .group_by(DiagnosticRun.person_id)
    )
    return stmt.where(Person.category == category) if category else stmt


def respondents(db: Db, office_ids: Sequence[str], campaign: int, category: str = "") -> list[Respondent]:
    """The latest completed run of each provider of these offices in this campaign."""
    stmt = (
        select(DiagnosticRun, Person)
        .join(Person, Person.id == DiagnosticRun.person_id)
        .where(DiagnosticRun.id.in_(_latest(office_ids, campaign, category)))
    )
    rows = db.execute(stmt.order_by(Person.name, Person.id))
    return [Respondent(person, run, run_scores(run)) for run, person in rows]


def scores_by_office(
    db: Db, office_ids: Sequence[str], campaign: int, category: str = ""
) -> dict[str, list[dict[str, int]]]:
    """Only the scores, grouped by office: the comparison of a territory's offices reads nothing else."""
    rows = db.execute(
        select(DiagnosticRun.office_id, DiagnosticRun.scores).where(
            DiagnosticRun.id.in_(_latest(office_ids, campaign, category))
        )
    )
    out: dict[str, list[dict[str, int]]] = {o: [] for o in office_ids}
    for office_id, raw in rows:
        out[office_id].append({str(k): int(v) for k, v in json.loads(raw).items()} if raw else {})
    return out


def answer_counts(db: Db, office_ids: Sequence[str], campaign: int, category: str = "") -> dict[tuple[str, str], int]:
    """How many respondents gave each answer: counted by the database, not row by row."""
    rows = db.execute(
        select(DiagnosticAnswer.question_id, DiagnosticAnswer.answer_id, func.count(DiagnosticAnswer.id))
        .where(DiagnosticAnswer.run_id.in_(_latest(office_ids, campaign, category)))
        .group_by(DiagnosticAnswer.question_id, DiagnosticAnswer.answer_id)
    )
    return {(qid, aid): n for qid, aid, n in rows}


def population(db: Db, office_ids: Sequence[str], category: str = "") -> int:
    stmt = select(func.count(Person.id)).where(
        Person.office_id.in_(office_ids), Person.role == "provider", Person.active.is_(True), Person.erased_at.is_(None)
    )
    if category:
        stmt = stmt.where(Person.category == category)
    return db.scalar(stmt) or 0


def answers_by_run(db: Db, run_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {rid: {} for rid in run_ids}
    for chunk_start in range(0, len(run_ids), 500):  # bounded IN lists, on SQLite as on PostgreSQL
        chunk = run_ids[chunk_start : chunk_start + 500]
        rows = db.execute(
            select(DiagnosticAnswer.run_id, DiagnosticAnswer.question_id, DiagnosticAnswer.answer_id).where(
                DiagnosticAnswer.run_id.in_(chunk)
            )
        )
        for run_id, qid, aid in rows:
            out[run_id][qid] = aid
    return out


def figures(q: Questionnaire, counts: dict[tuple[str, str], int]) -> list[FigureRow]:
    rows: list[FigureRow] = []
    for question in q.questions:
        if question.figure is None:
            continue
        given = {aid: n for (qid, aid), n in counts.items() if qid == question.id}
        wanted = sum(n for aid, n in given.items() if aid in question.figure.answers)
        rows.append(FigureRow(question.figure, wanted, sum(given.values())))
    return rows


def weak_axes(q: Questionnaire, people: Sequence[Respondent]) -> list[WeakAxis]:
    """Axes where respondents score under WEAK, the most common weakness first."""
    out = [WeakAxis(axis, sum(1 for r in people if r.scores.get(axis.id, 100) < WEAK)) for axis in q.axes]
    return sorted((w for w in out if w.count), key=lambda w: (-w.count, w.axis.id))


def averages(q: Questionnaire, scores: Sequence[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for axis in q.axes:
        values = [s[axis.id] for s in scores if axis.id in s]
        if values:
            out[axis.id] = round(sum(values) / len(values))
    return out


def campaigns(db: Db, office_ids: Sequence[str]) -> list[int]:
    rows = db.scalars(
        select(DiagnosticRun.campaign)
        .where(DiagnosticRun.office_id.in_(office_ids), DiagnosticRun.completed_at.is_not(None))
        .distinct()
    )
    return sorted(rows, reverse=True)


def history(db: Db, person_id: int) -> list[DiagnosticRun]:
    """A provider's completed diagnostics, oldest first."""
    return list(
        db.scalars(
            select(DiagnosticRun)
            .where(DiagnosticRun.person_id == person_id, DiagnosticRun.completed_at.is_not(None))
            .order_by(DiagnosticRun.completed_at, DiagnosticRun.id)
        )
    )
