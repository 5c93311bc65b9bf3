"""Questions asked in advance and the question log: store first, then answer; votes, merges, statuses."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as Db

from bot import clubs
from bot.storage.tables import Office, Person, Question, QuestionEvent, Session, Vote

Row = TypeVar("Row", Person, Session)

MAX_LENGTH = 1000  # documented in the README: longer questions are refused with a clear message
SOURCES = ("advance", "faq_miss", "low_confidence", "not_useful")
STATUSES = ("open", "answered_base", "answered_klub", "dismissed", "merged", "withdrawn")
OPEN = ("open",)
SIMILAR = 0.6  # overlap above which a new question is offered as a vote for an existing one


class QuestionError(ValueError):
    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


def event(db: Db, question: Question, now: datetime, action: str, actor: Person | None, detail: str = "") -> None:
    db.add(
        QuestionEvent(
            question_id=question.id, at=now, actor_id=actor.id if actor else None, action=action, detail=detail
        )
    )


def check_text(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise QuestionError("question.empty")
    if len(text) > MAX_LENGTH:
        raise QuestionError("question.too_long", limit=MAX_LENGTH, length=len(text))
    return text


def create(
    db: Db,
    office_id: str,
    person: Person | None,
    text: str,
    source: str,
    now: datetime,
    *,
    anonymous: bool = False,
    platform: str = "",
    chat_kind: str = "",
    entry: str | None = None,
    score: float | None = None,
    theme: str | None = None,
) -> Question:
    """Write the question (and commit-ready flush) before anything acknowledges it."""
    session = clubs.next_session(db, office_id, now)
    q = Question(
        office_id=office_id,
        person_id=person.id if person else None,
        anonymous=anonymous,
        session_id=session.id if session else None,
        source=source,
        status="open",
        text=check_text(text),
        platform=platform,
        chat_kind=chat_kind,
        matched_entry=entry,
        match_score=score,
        theme=theme,
        created_at=now,
        updated_at=now,
    )
    db.add(q)
    db.flush()
    event(db, q, now, "created", person, source)
    return q


def get(db: Db, office_ids: set[str], number: int) -> Question:
    q = db.get(Question, number)
    if q is None or q.office_id not in office_ids:
        raise QuestionError("question.unknown", number=number)
    return q


def votes(db: Db, question_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Vote).where(Vote.question_id == question_id)) or 0


def vote_counts(db: Db, question_ids: list[int]) -> dict[int, int]:
    """Votes of many questions in one query per 500 ids (a log of thousands, not one query per row)."""
    counts: dict[int, int] = {}
    for i in range(0, len(question_ids), 500):
        chunk = question_ids[i : i + 500]
        found = db.execute(
            select(Vote.question_id, func.count()).where(Vote.question_id.in_(chunk)).group_by(Vote.question_id)
        )
        counts.update({qid: n for qid, n in found})
    return counts


def similar_open(db: Db, faq_similarity: object, q: Question, limit: int = 1) -> list[Question]:
    """Open questions of the same office and session that say nearly the same thing."""
    sim = faq_similarity  # a callable (a, b) -> float, from the FAQ normaliser
    rows = db.scalars(
        select(Question).where(
            Question.office_id == q.office_id,
            Question.id != q.id,
            Question.status == "open",
            Question.source == "advance",
            Question.session_id == q.session_id if q.session_id is not None else Question.session_id.is_(None),
        )
    )
    scored = [(sim(q.text, other.text), other) for other in rows]  # type: ignore[operator]
    scored = [(s, o) for s, o in scored if s >= SIMILAR]
    scored.sort(key=lambda so: (-so[0], so[1].id))
    return [o for _, o in scored[:limit]]


def can_change(q: Question, person: Person, now: datetime, db: Db) -> None:
    """The asker may edit or withdraw until the session starts."""
    if q.person_id != person.id:
        raise QuestionError("question.not_yours", number=q.id)
    if q.status not in ("open",):
        raise QuestionError("question.closed", number=q.id)
    if q.session_id is not None:
        session = db.get(Session, q.session_id)
        if session is not None and session.starts_at <= now:
            raise QuestionError("question.too_late", number=q.id)


def vote(db: Db, q: Question, person: Person, now: datetime) -> None:
    if q.status != "open":
        raise QuestionError("question.closed", number=q.id)
    if q.person_id == person.id:
        raise QuestionError("question.own_vote", number=q.id)
    if db.get(Vote, (q.id, person.id)) is not None:
        raise QuestionError("question.already_voted", number=q.id)
    db.add(Vote(question_id=q.id, person_id=person.id, created_at=now))
    db.flush()
    event(db, q, now, "voted", person)


def merge(db: Db, source: Question, target: Question, now: datetime, actor: Person | None) -> None:
    """Fold `source` into `target`: its asker and voters now support the target."""
    if source.id == target.id:
        raise QuestionError("question.merge_self")
    if target.status in ("merged", "withdrawn"):
        raise QuestionError("question.closed", number=target.id)
    supporters = {v.person_id for v in db.scalars(select(Vote).where(Vote.question_id == source.id))}
    if source.person_id is not None:
        supporters.add(source.person_id)
    existing = {v.person_id for v in db.scalars(select(Vote).where(Vote.question_id == target.id))}
    for pid in supporters - existing - {target.person_id}:
        db.add(Vote(question_id=target.id, person_id=pid, created_at=now))
    source.status, source.merged_into_id, source.updated_at = "merged", target.id, now
    event(db, source, now, "merged", actor, f"into {target.id}")
    event(db, target, now, "merged_from", actor, str(source.id))
    db.flush()


def set_status(
    db: Db,
    q: Question,
    status: str,
    now: datetime,
    actor: Person | None,
    *,
    note: str | None = None,
    reason: str | None = None,
) -> None:
    q.status, q.updated_at = status, now
    if note is not None:
        q.answer_note = note
    if reason is not None:
        q.dismiss_reason = reason
    event(db, q, now, status, actor, note or reason or "")
    db.flush()


def agenda(db: Db, office_id: str, session_id: int | None, *, public: bool = False) -> list[tuple[Question, int]]:
    """Open questions of a session, most voted first (then oldest).

    The public view holds only questions asked for the Klub: what someone typed to the bot in private
    and the base could not answer stays between them and the office.
    """
    query = select(Question).where(
        Question.office_id == office_id,
        Question.status == "open",
        Question.session_id == session_id if session_id is not None else Question.session_id.is_(None),
    )
    if public:
        query = query.where(Question.source == "advance")
    rows = list(db.scalars(query))
    counts = vote_counts(db, [q.id for q in rows])  # one query, not one per question
    ranked = [(q, counts.get(q.id, 0)) for q in rows]
    ranked.sort(key=lambda qv: (-qv[1], qv[0].created_at, qv[0].id))
    return ranked


def answered_at(db: Db, office_id: str, session_id: int) -> list[Question]:
    return list(
        db.scalars(
            select(Question)
            .where(
                Question.office_id == office_id, Question.session_id == session_id, Question.status == "answered_klub"
            )
            .order_by(Question.id)
        )
    )


# -- the log ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    office_ids: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    session_id: int | None = None
    text: str = ""
    theme: str = ""


COLUMNS = (
    "n°",
    "date",
    "office",
    "personne",
    "établissement",
    "catégorie",
    "question",
    "source",
    "statut",
    "séance",
    "votes",
    "note de réponse",
    "tutoriel proposé",
    "score",
)
SOURCE_LABELS = {
    "advance": "posée à l'avance",
    "faq_miss": "sans tutoriel",
    "low_confidence": "réponse incertaine",
    "not_useful": "réponse jugée inutile",
}
STATUS_LABELS = {
    "open": "ouverte",
    "answered_base": "répondue par la base",
    "answered_klub": "répondue au Klub",
    "dismissed": "écartée",
    "merged": "fusionnée",
    "withdrawn": "retirée",
}


def search(db: Db, flt: LogFilter) -> list[Question]:
    """Every matching question, oldest first (the exports' order)."""
    rows = list(db.scalars(_filtered(flt).order_by(Question.created_at, Question.id)))
    if flt.text:
        needle = flt.text.casefold()
        rows = [q for q in rows if needle in q.text.casefold()]
    return rows


def search_page(db: Db, flt: LogFilter, page: int, size: int) -> tuple[list[Question], int, int]:
    """One page of the log, newest first: (questions, total, page actually shown — the last one if past it).

    Without a text filter the database counts and pages; the text filter stays in Python, where casefold
    treats « É » and « é » alike on SQLite as on PostgreSQL."""
    if flt.text:
        everything = search(db, flt)
        everything.reverse()
        total = len(everything)
        page = min(page, max(1, -(-total // size)))
        return everything[(page - 1) * size : page * size], total, page
    total = count(db, flt)
    page = min(page, max(1, -(-total // size)))
    newest = _filtered(flt).order_by(Question.created_at.desc(), Question.id.desc())
    newest = newest.offset((page - 1) * size).limit(size)
    return list(db.scalars(newest)), total, page


def count(db: Db, flt: LogFilter) -> int:
    """How many questions match, counted by the database (no text filter)."""
    assert not flt.text, "the text filter is applied in Python: use search()"
    return db.scalar(select(func.count()).select_from(_filtered(flt).subquery())) or 0


def _filtered(flt: LogFilter) -> Select[Question]:
    query = select(Question).where(Question.office_id.in_(flt.office_ids))
    if flt.start is not None:
        query = query.where(Question.created_at >= flt.start)
    if flt.end is not None:
        query = query.where(Question.created_at < flt.end)
    if flt.statuses:
        query = query.where(Question.status.in_(flt.statuses))
    if flt.sources:
        query = query.where(Question.source.in_(flt.sources))
    if flt.session_id is not None:
        query = query.where(Question.session_id == flt.session_id)
    if flt.theme:
        query = query.where(Question.theme == flt.theme)
    return query


def _by_id(db: Db, table: type[Row], ids: set[int]) -> dict[int, Row]:
    found: dict[int, Row] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):
        found.update({row.id: row for row in db.scalars(select(table).where(table.id.in_(wanted[i : i + 500])))})
    return found


def rows(db: Db, questions: list[Question]) -> list[list[str]]:
    """Table rows for exports: the asker is hidden when the question is anonymous or the person erased."""
    out = []
    zones: dict[str, object] = {}
    counts = vote_counts(db, [q.id for q in questions])
    # Loaded once each: the session's identity map holds objects weakly, so db.get per row would re-query.
    people = _by_id(db, Person, {q.person_id for q in questions if q.person_id})
    sessions = _by_id(db, Session, {q.session_id for q in questions if q.session_id})
    for q in questions:
        person = people.get(q.person_id) if q.person_id else None
        hidden = q.anonymous or person is None or person.erased_at is not None
        session = sessions.get(q.session_id) if q.session_id else None
        if q.office_id not in zones:
            zones[q.office_id] = clubs.zone_of(db, q.office_id)
        zone = zones[q.office_id]
        out.append(
            [
                str(q.id),
                q.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),  # type: ignore[arg-type]
                q.office_id,
                "anonyme" if hidden else person.name,  # type: ignore[union-attr]
                "" if hidden else person.business,  # type: ignore[union-attr]
                "" if hidden else person.category,  # type: ignore[union-attr]
                q.text,
                SOURCE_LABELS.get(q.source, q.source),
                STATUS_LABELS.get(q.status, q.status),
                session.starts_at.astimezone(zone).strftime("%Y-%m-%d") if session else "",  # type: ignore[arg-type]
                str(counts.get(q.id, 0)),
                q.answer_note or q.dismiss_reason or "",
                q.matched_entry or "",
                f"{q.match_score:.2f}".replace(".", ",") if q.match_score is not None else "",
            ]
        )
    return out


def to_csv(table: list[list[str]]) -> bytes:
    """French Excel: UTF-8 with BOM, `;` separator, CRLF line ends, decimal comma already applied."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(table)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(table: list[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Questions"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in table:
        values: list[object] = list(row)
        values[0] = int(row[0])
        values[10] = int(row[10])
        values[13] = float(row[13].replace(",", ".")) if row[13] else None
        ws.append(values)
    ws.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJKLMN", (6, 17, 18, 20, 24, 12, 60, 20, 20, 11, 7, 40, 28, 7), strict=True):
        ws.column_dimensions[column].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def gaps(db: Db, normalizer: object, flt: LogFilter, top: int = 10) -> list[tuple[str, int, list[Question]]]:
    """The most frequent topics among questions the base did not answer: (topic, count, examples)."""
    unanswered = [
        q
        for q in search(db, flt)
        if q.status not in ("answered_base", "merged", "withdrawn")
        and (q.source != "advance" or q.matched_entry is None)
    ]
    counts: Counter[str] = Counter()
    examples: dict[str, list[Question]] = {}
    words: dict[str, Counter[str]] = {}
    for q in unanswered:
        pairs = normalizer.pairs(q.text)  # type: ignore[attr-defined]
        stems = {stem for _, stem in pairs if normalizer.weight(stem) >= 1.0}  # type: ignore[attr-defined]
        for word, stem in pairs:
            words.setdefault(stem, Counter())[word] += 1
        for stem in stems:
            counts[stem] += 1
            examples.setdefault(stem, []).append(q)
    out: list[tuple[str, int, list[Question]]] = []
    for stem, n in counts.most_common():
        if n < 2 and out:
            break
        out.append((words[stem].most_common(1)[0][0], n, examples[stem][:3]))
        if len(out) >= top:
            break
    return out


def offices_of(db: Db, person: Person) -> set[str]:
    """What a staff member may see: their office, or every office of their territory for a coordinator."""
    if person.role == "admin":
        office = db.get(Office, person.office_id)
        if office is not None and office.territory_id:
            return set(db.scalars(select(Office.id).where(Office.territory_id == office.territory_id)))
    return {person.office_id}
