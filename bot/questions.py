"""Questions asked in advance and the question log: store first, then answer; votes, merges, statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as Db

from bot import clubs, exports, inputs
from bot.storage.tables import Person, Question, QuestionEvent, Session, Vote

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
    """A question as stored: cleaned by bot.inputs; blank-looking text is refused like empty text."""
    if inputs.is_blank(inputs.strip_controls(text)):
        raise QuestionError("question.empty")
    try:
        return inputs.clean_text(text, max_length=MAX_LENGTH, what="question")
    except inputs.InputError as exc:
        if exc.key == "input.too_long":
            raise QuestionError("question.too_long", limit=MAX_LENGTH, length=exc.kwargs["length"]) from exc
        raise QuestionError(exc.key, **exc.kwargs) from exc


def is_public(q: Question) -> bool:
    """Asked with /question for the Klub's agenda. Everything else (what someone wrote to the bot and
    the base could not answer) stays between them and the office: never shown in a group."""
    return q.source == "advance"


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
    session: Session | None = None,
) -> Question:
    """Write the question (and commit-ready flush) before anything acknowledges it.

    Without a named session it goes to the next Klub: workshops and conferences get questions only
    when the asker names them. With no Klub planned yet, it waits (and joins the next Klub created)."""
    session = session if session is not None else clubs.next_klub(db, office_id, now)
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


def can_change(q: Question, person: Person, now: datetime, db: Db, since: datetime | None = None) -> None:
    """The asker may edit or withdraw until the session starts — from the account that asked it: an
    account linked later (`since`) to the same roster entry does not inherit older questions."""
    if q.person_id != person.id or (since is not None and q.created_at < since):
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
        q.answer_note = note or None  # an emptied note clears the old one
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


def latest_reported_klub(db: Db, office_id: str, now: datetime) -> Session | None:
    """The compte rendu without a number: the latest Klub held with questions answered there."""
    answered = select(Question.session_id).where(Question.office_id == office_id, Question.status == "answered_klub")
    return db.scalar(
        select(Session)
        .where(
            Session.office_id == office_id,
            Session.kind == "klub",
            Session.starts_at <= now,
            Session.status != "cancelled",
            Session.id.in_(answered),
        )
        .order_by(Session.starts_at.desc(), Session.id.desc())
        .limit(1)
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
        from bot.search import matching_ids  # accents and case folded, names and notes searched too

        wanted = set(matching_ids(db, flt))
        rows = [q for q in rows if q.id in wanted]
    return rows


def count(db: Db, flt: LogFilter) -> int:
    """How many questions match, counted by the database (no text filter: see bot.search)."""
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
    return exports.csv_bytes(COLUMNS, table)


def to_xlsx(table: list[list[str]]) -> bytes:
    """The same table with numbers as numbers (id, votes, score)."""
    rows: list[list[object]] = []
    for row in table:
        values: list[object] = list(row)
        values[0] = int(row[0])
        values[10] = int(row[10])
        values[13] = float(row[13].replace(",", ".")) if row[13] else None
        rows.append(values)
    return exports.xlsx_bytes("Questions", COLUMNS, rows, _WIDTHS)


_WIDTHS = (6, 17, 18, 20, 24, 12, 60, 20, 20, 11, 7, 40, 28, 7)


def offices_of(db: Db, person: Person) -> set[str]:
    """What a staff member may see: their office, or every office of their territory for a coordinator."""
    from bot import membership
    from bot.roles import Role

    return membership.offices_in_reach(db, person, Role.parse(person.role))
