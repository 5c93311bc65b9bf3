"""The ANT's Klub evening, shared by the chat and the dashboard: postpone, near duplicates, the compte rendu.

The chat's /reporter and /compte-rendu and the dashboard's live agenda call these same functions, so the
two never disagree on what « reporter » or « publier le compte rendu » does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot import audit, clubs, questions
from bot.i18n import Safe, t
from bot.storage.tables import Person, Question, Session
from bot.timefmt import fmt_day

SUGGEST = 0.5  # looser than questions.SIMILAR: these are offered to a human, who decides
Similarity = Callable[[str, str], float]
RECENT = 1000  # how many of the office's latest questions a question is compared with


class EveningError(ValueError):
    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


def postpone(db: Db, q: Question, session: Session, now: datetime, actor: Person | None) -> None:
    """Move an open question to another (upcoming, not cancelled) session of its office."""
    if q.status != "open":
        raise EveningError("question.closed", number=q.id)
    if session.office_id != q.office_id or session.status == "cancelled" or session.starts_at <= now:
        raise EveningError("question.move_usage")
    q.session_id, q.updated_at = session.id, now
    questions.event(db, q, now, "moved", actor, str(session.id))
    db.flush()


def later_sessions(db: Db, office_id: str, now: datetime, limit: int = 6) -> list[Session]:
    """Where a question may be postponed to: the next sessions of the office that are not cancelled."""
    return clubs.upcoming(db, office_id, now, limit=limit, include_cancelled=False, audiences=clubs.AUDIENCES)


def duplicates(db: Db, similarity: Similarity, q: Question, limit: int = 3) -> list[tuple[Question, float]]:
    """The office's other live questions that say nearly the same thing, best first (the bot's own measure)."""
    rows = db.scalars(
        select(Question)
        .where(
            Question.office_id == q.office_id,
            Question.id != q.id,
            Question.status.in_(("open", "answered_base", "answered_klub")),
        )
        .order_by(Question.created_at.desc(), Question.id.desc())
        .limit(RECENT)  # duplicates are asked close together: a log of years stays a quick page
    )
    scored = [(other, similarity(q.text, other.text)) for other in rows]
    scored = [(o, s) for o, s in scored if s >= SUGGEST]
    scored.sort(key=lambda os: (-os[1], os[0].id))
    return scored[:limit]


def similar_pairs(
    texts: dict[int, str],
    stem_set: Callable[[str], frozenset[str]],
    limit: int = 3,
    among: Collection[int] | None = None,
) -> dict[int, list[int]]:
    """For each question (of `among`, default all), the others that say nearly the same thing, best first.

    Only questions sharing a stem are compared (an index by stem), so an agenda of hundreds stays fast."""
    from bot.faqchat import stem_overlap

    stems = {qid: stem_set(text) for qid, text in texts.items()}
    by_stem: dict[str, list[int]] = {}
    for qid, found in stems.items():
        for stem in found:
            by_stem.setdefault(stem, []).append(qid)
    out: dict[int, list[int]] = {}
    for qid, found in stems.items():
        if among is not None and qid not in among:
            out[qid] = []
            continue
        others = {o for stem in found for o in by_stem[stem] if o != qid}
        scored = sorted(((stem_overlap(found, stems[o]), o) for o in others), key=lambda so: (-so[0], so[1]))
        out[qid] = [o for score, o in scored if score >= SUGGEST][:limit]
    return out


def last_session(db: Db, office_id: str, now: datetime) -> Session | None:
    """The session a compte rendu is about by default: the latest Klub held with questions answered there
    (a workshop in between does not take its place)."""
    return questions.latest_reported_klub(db, office_id, now)


def session_label(db: Db, session: Session | None, lang: str) -> Safe:
    if session is None:
        return t(lang, "question.no_session")
    day = fmt_day(session.starts_at, clubs.zone_of(db, session.office_id), lang)
    return t(lang, "question.for_session", title=session.title, day=day)


def report_text(db: Db, session: Session, lang: str) -> tuple[Safe, int]:
    """The compte rendu as the group will read it, and how many questions it holds (0: nothing to publish)."""
    answered = questions.answered_at(db, session.office_id, session.id)
    lines = [t(lang, "question.report_title", session=session_label(db, session, lang))]
    for q in answered:
        # A question asked in private is published as the ANT's answer only, never its wording.
        text = q.text if questions.is_public(q) else t(lang, "question.report_private")
        lines.append(t(lang, "question.report_line", text=text, note=q.answer_note or ""))
    return Safe("\n\n".join(lines)), len(answered)


def publish_report(
    db: Db,
    session: Session,
    lang: str,
    now: datetime,
    actor: Person | None,
    send_to_groups: Callable[[Safe], int],
) -> tuple[int, int]:
    """Send the compte rendu to the office's provider groups (through the outbox); (questions, groups)."""
    text, count = report_text(db, session, lang)
    if not count:
        raise EveningError("question.report_empty", session=session_label(db, session, lang))
    sent = send_to_groups(text)
    audit.record(db, now, "questions.report", actor=actor, office_id=session.office_id, target=f"session:{session.id}")
    return count, sent
