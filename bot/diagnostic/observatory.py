"""The observatory: what the office's (or the territory's) completed diagnostics say, for one campaign.

Every figure is computed over those who answered, with the response rate beside it; a provider's answers
are shown only to their own office (the callers pass the office ids the viewer may see).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
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


def respondents(db: Db, office_ids: Sequence[str], campaign: int, category: str = "") -> list[Respondent]:
    """The latest completed run of each provider of these offices in this campaign."""
    latest = (
        select(func.max(DiagnosticRun.id))
        .where(
            DiagnosticRun.office_id.in_(office_ids),
            DiagnosticRun.campaign == campaign,
            DiagnosticRun.completed_at.is_not(None),
        )
        .group_by(DiagnosticRun.person_id)
    )
    stmt = (
        select(DiagnosticRun, Person)
        .join(Person, Person.id == DiagnosticRun.person_id)
        .where(DiagnosticRun.id.in_(latest), Person.erased_at.is_(None))
    )
    if category:
        stmt = stmt.where(Person.category == category)
    rows = db.execute(stmt.order_by(Person.name, Person.id))
    return [Respondent(person, run, run_scores(run)) for run, person in rows]


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


def figures(q: Questionnaire, answers: dict[int, dict[str, str]]) -> list[FigureRow]:
    rows: list[FigureRow] = []
    for question in q.questions:
        if question.figure is None:
            continue
        given = [a[question.id] for a in answers.values() if question.id in a]
        wanted = set(question.figure.answers)
        rows.append(FigureRow(question.figure, sum(1 for g in given if g in wanted), len(given)))
    return rows


def weak_axes(q: Questionnaire, people: Sequence[Respondent]) -> list[WeakAxis]:
    """Axes where respondents score under WEAK, the most common weakness first."""
    out = [WeakAxis(axis, sum(1 for r in people if r.scores.get(axis.id, 100) < WEAK)) for axis in q.axes]
    return sorted((w for w in out if w.count), key=lambda w: (-w.count, w.axis.id))


def averages(q: Questionnaire, people: Sequence[Respondent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for axis in q.axes:
        values = [r.scores[axis.id] for r in people if axis.id in r.scores]
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
