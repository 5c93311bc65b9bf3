"""The diagnostic in the database: runs, answers, the action plan and campaigns. No chat, no rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as Db

from bot.diagnostic import scoring
from bot.diagnostic.questionnaire import Question, Questionnaire
from bot.storage.tables import (
    DiagnosticAction,
    DiagnosticAnswer,
    DiagnosticCampaign,
    DiagnosticRun,
    Person,
)

REMIND_AFTER = timedelta(days=7)  # those who have not finished are reminded once, a week after the campaign


def answers_of(db: Db, run_id: int) -> dict[str, str]:
    rows = db.execute(
        select(DiagnosticAnswer.question_id, DiagnosticAnswer.answer_id).where(DiagnosticAnswer.run_id == run_id)
    )
    return {qid: aid for qid, aid in rows}


def latest_run(db: Db, person_id: int, *, completed: bool | None = None) -> DiagnosticRun | None:
    stmt = select(DiagnosticRun).where(DiagnosticRun.person_id == person_id)
    if completed is True:
        stmt = stmt.where(DiagnosticRun.completed_at.is_not(None))
    elif completed is False:
        stmt = stmt.where(DiagnosticRun.completed_at.is_(None))
    return db.scalar(stmt.order_by(DiagnosticRun.id.desc()).limit(1))


def start(db: Db, person: Person, campaign: int, now: datetime) -> tuple[DiagnosticRun, bool]:
    """The run in progress (resumed: True) or a new one."""
    run = latest_run(db, person.id, completed=False)
    if run is not None:
        return run, True
    run = DiagnosticRun(
        person_id=person.id, office_id=person.office_id, campaign=campaign, started_at=now, updated_at=now
    )
    db.add(run)
    db.flush()
    return run, False


def next_question(q: Questionnaire, answers: dict[str, str]) -> Question | None:
    # An answer to a question the office has since removed is simply ignored.
    return next((question for question in q.questions if question.id not in answers), None)


def record(db: Db, run: DiagnosticRun, question: Question, answer_id: str, now: datetime) -> None:
    row = db.scalar(
        select(DiagnosticAnswer).where(DiagnosticAnswer.run_id == run.id, DiagnosticAnswer.question_id == question.id)
    )
    if row is None:
        db.add(DiagnosticAnswer(run_id=run.id, question_id=question.id, answer_id=answer_id, at=now))
    else:
        row.answer_id, row.at = answer_id, now
    run.updated_at = now
    db.flush()


def complete(db: Db, q: Questionnaire, run: DiagnosticRun, now: datetime) -> dict[str, int]:
    """Score the run and bring the action plan up to date: new gaps open, answers at their best close."""
    answers = answers_of(db, run.id)
    score = scoring.scores(q, answers)
    run.scores, run.completed_at, run.updated_at = json.dumps(score, sort_keys=True), now, now
    existing = {
        a.question_id: a
        for a in db.scalars(select(DiagnosticAction).where(DiagnosticAction.person_id == run.person_id))
    }
    for gap in scoring.gaps(q, answers):
        action = existing.get(gap.question.id)
        if action is None:
            db.add(
                DiagnosticAction(
                    person_id=run.person_id,
                    question_id=gap.question.id,
                    axis=gap.question.axis,
                    weight=gap.missing,
                    created_at=now,
                )
            )
        else:
            # The new diagnostic still shows the gap: the action is open again, whatever was ticked before.
            action.status, action.done_how, action.done_at, action.weight = "open", "", None, gap.missing
    for question in q.questions:
        action = existing.get(question.id)
        if action is not None and action.status == "open" and scoring.is_done(question, answers.get(question.id, "")):
            action.status, action.done_how, action.done_at = "done", "diagnostic", now
    db.flush()
    return score


def run_scores(run: DiagnosticRun) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(run.scores).items()} if run.scores else {}


def plan(db: Db, person_id: int) -> list[DiagnosticAction]:
    """The action plan: open actions first, the heaviest first; then what is done."""
    rows = db.scalars(select(DiagnosticAction).where(DiagnosticAction.person_id == person_id))
    return sorted(rows, key=lambda a: (a.status != "open", -a.weight, a.id))


def tick(db: Db, person_id: int, action_id: int, now: datetime) -> DiagnosticAction | None:
    """Mark one of the person's own actions done; None when it is not theirs (or does not exist)."""
    action = db.get(DiagnosticAction, action_id)
    if action is None or action.person_id != person_id:
        return None
    if action.status != "done":
        action.status, action.done_how, action.done_at = "done", "ticked", now
    return action


# -- campaigns ------------------------------------------------------------------------------------------


def audience(db: Db, office_id: str, category: str) -> list[Person]:
    """The office's active providers (or those of one category) who can be written to."""
    stmt = select(Person).where(
        Person.office_id == office_id, Person.role == "provider", Person.active.is_(True), Person.erased_at.is_(None)
    )
    if category:
        stmt = stmt.where(Person.category == category)
    return list(db.scalars(stmt.order_by(Person.id)))


def categories(db: Db, office_id: str) -> list[str]:
    rows = db.scalars(
        select(Person.category)
        .where(Person.office_id == office_id, Person.role == "provider", Person.category != "")
        .distinct()
    )
    return sorted(rows)


def open_campaign(
    db: Db, office_id: str, campaign: int, category: str, sent_by: Person | None, recipients: int, now: datetime
) -> DiagnosticCampaign:
    row = DiagnosticCampaign(
        office_id=office_id,
        campaign=campaign,
        category=category,
        sent_by=sent_by.id if sent_by else None,
        sent_at=now,
        recipients=recipients,
        remind_at=now + REMIND_AFTER,
    )
    db.add(row)
    db.flush()
    return row


def finished(db: Db, person_id: int, campaign: int) -> bool:
    return (
        db.scalar(
            select(func.count(DiagnosticRun.id)).where(
                DiagnosticRun.person_id == person_id,
                DiagnosticRun.campaign == campaign,
                DiagnosticRun.completed_at.is_not(None),
            )
        )
        or 0
    ) > 0


def unfinished(db: Db, campaign: DiagnosticCampaign) -> list[Person]:
    """Who this campaign's reminder is for: not finished, and not covered by a later campaign of the
    same year (that one reminds them: nobody gets two reminders for one questionnaire)."""
    later = list(
        db.scalars(
            select(DiagnosticCampaign.category).where(
                DiagnosticCampaign.office_id == campaign.office_id,
                DiagnosticCampaign.campaign == campaign.campaign,
                DiagnosticCampaign.id > campaign.id,
            )
        )
    )
    return [
        p
        for p in audience(db, campaign.office_id, campaign.category)
        if not finished(db, p.id, campaign.campaign) and not any(c in ("", p.category) for c in later)
    ]


def due_campaigns(db: Db, now: datetime) -> list[DiagnosticCampaign]:
    return list(
        db.scalars(
            select(DiagnosticCampaign)
            .where(DiagnosticCampaign.remind_at <= now, DiagnosticCampaign.reminded_at.is_(None))
            .order_by(DiagnosticCampaign.id)
        )
    )


def next_reminder(db: Db) -> datetime | None:
    return db.scalar(select(func.min(DiagnosticCampaign.remind_at)).where(DiagnosticCampaign.reminded_at.is_(None)))


@dataclass(frozen=True)
class Claimed:
    campaign: DiagnosticCampaign
    people: list[Person]


def claim_reminder(db: Db, campaign_id: int, now: datetime) -> Claimed | None:
    """Take a due reminder once: the row is marked in the same transaction as the messages it causes."""
    row = db.get(DiagnosticCampaign, campaign_id, with_for_update=True)
    if row is None or row.reminded_at is not None:
        return None
    row.reminded_at = now
    return Claimed(row, unfinished(db, row))
