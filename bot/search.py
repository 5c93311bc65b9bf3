"""Searching the question log the way people type: accents and case ignored, names and notes included.

Folding happens in Python on the few columns a search reads, so « gite », « GÎTE » and « gîte » match the
same rows on SQLite and on PostgreSQL (no `unaccent` extension, no collation to configure). The database
still does the filtering on office, dates, status, source, session and theme, and the ordering by votes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session as Db

from bot.storage.tables import Person, Question, Vote

if TYPE_CHECKING:
    from bot.faq.loader import Base, Entry
    from bot.questions import LogFilter

SORTS = ("new", "old", "votes")
def _table() -> dict[int, str]:
    """Latin letters with accents (U+00C0–U+024F, U+1E00–U+1EFF) to their bare letters, plus ligatures."""
    table: dict[int, str] = {}
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        bare = "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
        if bare and bare != chr(code):
            table[code] = bare
    table.update({ord(k): v for k, v in {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "’": "'", "‘": "'"}.items()})
    table.update({ord("«"): " ", ord("»"): " "})
    return table


_FOLD = _table()


@lru_cache(maxsize=65536)  # the same questions are searched again and again: fold each text once
def fold(text: str) -> str:
    """Lower case, accents and ligatures removed, spaces collapsed: « Gîte  Œuvre » -> « gite oeuvre »."""
    folded = text.casefold() if text.isascii() else text.translate(_FOLD).casefold()
    if not folded.isascii():  # decomposed accents typed as combining marks
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return " ".join(folded.split())


def _words(needle: str) -> list[str]:
    return fold(needle).split()


def matching_ids(db: Db, flt: LogFilter) -> list[int]:
    """Ids of the questions passing the filter whose text, note, asker or business holds every word.

    An anonymous question's or an erased person's name is not searched: it is not shown either."""
    from bot.questions import _filtered

    words = _words(flt.text)
    base = _filtered(flt).with_only_columns(
        Question.id,
        Question.text,
        Question.answer_note,
        Question.dismiss_reason,
        Question.anonymous,
        Person.name,
        Person.business,
        Person.erased_at,
    )
    query = base.outerjoin(Person, Person.id == Question.person_id).order_by(Question.created_at, Question.id)
    found: list[int] = []
    for qid, text, note, reason, anonymous, name, business, erased in db.execute(query):
        parts = [fold(text), fold(note) if note else "", fold(reason) if reason else ""]
        if not anonymous and erased is None:
            parts += [fold(name or ""), fold(business or "")]
        hay = " ".join(parts)
        if all(w in hay for w in words):
            found.append(qid)
    return found


def page(db: Db, flt: LogFilter, number: int, size: int, sort: str) -> tuple[list[Question], int, int]:
    """One page of the log in the chosen order: (questions, total, page actually shown)."""
    from bot.questions import _filtered, count

    if flt.text:
        ids = matching_ids(db, flt)
        total = len(ids)
        number = min(number, max(1, -(-total // size)))
        if sort == "votes":
            counts = _votes(db, ids)
            ids = sorted(ids, key=lambda i: (-counts.get(i, 0), -i))
        elif sort != "old":
            ids.reverse()
        chosen = ids[(number - 1) * size : number * size]
        rows = {q.id: q for q in _load(db, chosen)}
        return [rows[i] for i in chosen if i in rows], total, number
    total = count(db, flt)
    number = min(number, max(1, -(-total // size)))
    query = _filtered(flt)
    if sort == "votes":
        tally = select(Vote.question_id, func.count().label("n")).group_by(Vote.question_id).subquery()
        query = query.outerjoin(tally, tally.c.question_id == Question.id).order_by(
            func.coalesce(tally.c.n, 0).desc(), Question.created_at.desc(), Question.id.desc()
        )
    elif sort == "old":
        query = query.order_by(Question.created_at, Question.id)
    else:
        query = query.order_by(Question.created_at.desc(), Question.id.desc())
    return list(db.scalars(query.offset((number - 1) * size).limit(size))), total, number


def _votes(db: Db, ids: list[int]) -> dict[int, int]:
    from bot.questions import vote_counts

    return vote_counts(db, ids)


def _load(db: Db, ids: Iterable[int]) -> list[Question]:
    wanted = list(ids)
    out: list[Question] = []
    for i in range(0, len(wanted), 500):
        out += db.scalars(select(Question).where(Question.id.in_(wanted[i : i + 500])))
    return out


def tutorials(base: Base, needle: str, limit: int = 8) -> list[Entry]:
    """Tutorials of the base whose question, alternatives, tags, theme or answer hold every word."""
    words = _words(needle)
    if not words:
        return []
    out = []
    for entry in base.entries:
        hay = fold(" ".join([entry.question, *entry.alternatives, *entry.tags, entry.theme, entry.answer, entry.id]))
        if all(w in hay for w in words):
            out.append(entry)
            if len(out) == limit:
                break
    return out
