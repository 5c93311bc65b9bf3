"""From the question log to the tutorial base: a YAML draft the ANT completes (faq/drafts/)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot.faqchat import Faq
from bot.questions import LogFilter, search
from bot.storage.tables import Question


class _BlockDumper(yaml.SafeDumper):
    """Multi-line answers as `|` blocks, the way the tutorial files are written by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def slugify(text: str, limit: int = 48) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", folded)
    stop = {
        "comment",
        "je",
        "on",
        "le",
        "la",
        "les",
        "de",
        "des",
        "du",
        "un",
        "une",
        "mon",
        "ma",
        "mes",
        "pour",
        "est",
        "ce",
        "que",
        "qu",
        "a",
        "au",
        "aux",
        "et",
        "ou",
        "sur",
        "en",
        "il",
        "faut",
        "peut",
    }
    slug = "-".join(w for w in words if w not in stop)[:limit].strip("-")
    return slug or "nouveau-tutoriel"


_FROM = re.compile(r"depuis la question n°(\d+) du journal")


def question_of(path: Path) -> int | None:
    """The question a draft was made from (its header says so), or None."""
    with path.open(encoding="utf-8") as fh:
        found = _FROM.search(fh.readline())
    return int(found.group(1)) if found else None


def existing(folder: Path, number: int) -> Path | None:
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        if question_of(path) == number:
            return path
    return None


def draft(db: Db, faq: Faq, number: int, folder: Path, now: datetime, office_ids: set[str] | None = None) -> Path:
    """The question's draft file: written once, then the same file again (a second click adds nothing)."""
    q = db.get(Question, number)
    if q is None or (office_ids is not None and q.office_id not in office_ids):
        raise LookupError(f"question n°{number} introuvable")
    already = existing(folder, q.id)
    if already is not None:
        return already
    # Similar questions of the log become the alternatives: they are how providers really ask it.
    others = db.scalars(select(Question).where(Question.office_id == q.office_id, Question.id != q.id))
    similar = sorted(((faq.similarity(q.text, o.text), o.text) for o in others), reverse=True)
    alternatives = []
    for score, text in similar:
        if score >= 0.5 and text not in alternatives and text != q.text:
            alternatives.append(text)
        if len(alternatives) == 3:
            break
    entry = {
        "id": slugify(q.text),
        "question": q.text,
        "alternatives": alternatives or ["(une autre façon de poser la question)"],
        "answer": "1. (première étape)\n2. (deuxième étape)\n3. (troisième étape)\n",
        "links": [{"title": "(aide officielle)", "url": "https://"}],
        "tags": [],
        "reviewed": now.strftime("%Y-%m"),
    }
    if q.answer_note:
        entry["answer"] = q.answer_note.strip() + "\n"
    header = (
        f"# Brouillon créé le {now:%d/%m/%Y} depuis la question n°{q.id} du journal.\n"
        "# À compléter (réponse en 3 à 10 lignes, lien d'aide officielle, étiquettes), puis à déplacer\n"
        "# dans le fichier du thème et à vérifier avec : klub faq check\n"
    )
    body = yaml.dump(
        {"theme": q.theme or "À classer", "entries": [entry]},
        Dumper=_BlockDumper,
        allow_unicode=True,
        sort_keys=False,
        width=110,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry['id']}.yml"
    suffix = 2
    while path.exists():
        path = folder / f"{entry['id']}-{suffix}.yml"
        suffix += 1
    path.write_text(header + body, encoding="utf-8")
    return path


GAP_STATUSES = ("open", "answered_klub")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # a Klub answer is still no tutorial; dismissed ones are off topic


def gaps(db: Db, normalizer: object, flt: LogFilter, top: int = 10) -> list[tuple[str, int, list[Question]]]:
    """Topics the base did not answer: (topic word, number of questions, up to 3 examples).

    Each unanswered question belongs to one topic: the content word shared by the most remaining
    questions is taken first, with its questions, and so on while a word is shared by two or more.
    Ties go to the alphabet, so the same log gives the same topics on every run."""
    unanswered = [
        q
        for q in search(db, flt)
        if q.status in GAP_STATUSES and (q.source != "advance" or q.matched_entry is None)
    ]
    stems_of: dict[int, set[str]] = {}
    words: dict[str, Counter[str]] = {}
    for q in unanswered:
        pairs = normalizer.pairs(q.text)  # type: ignore[attr-defined]
        stems_of[q.id] = {stem for _, stem in pairs if normalizer.weight(stem) >= 1.0}  # type: ignore[attr-defined]
        for word, stem in pairs:
            words.setdefault(stem, Counter())[word.lower()] += 0  # the folded form: a last resort
        # The label is shown to the office: the word as people typed it, accents included.
        for raw in _WORD.findall(q.text):
            for word in normalizer.words(raw):  # type: ignore[attr-defined]
                stem = normalizer.stem(word)  # type: ignore[attr-defined]
                if stem in words:
                    words[stem][raw.lower()] += 1
    remaining = sorted(unanswered, key=lambda q: q.id)
    out: list[tuple[str, int, list[Question]]] = []
    while remaining and len(out) < top:
        df: Counter[str] = Counter(stem for q in remaining for stem in stems_of[q.id])
        if not df:
            break
        stem, n = min(df.items(), key=lambda kv: (-kv[1], kv[0]))
        if n < 2:
            break
        members = [q for q in remaining if stem in stems_of[q.id]]
        label = min(words[stem].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        out.append((label, n, members[:3]))
        remaining = [q for q in remaining if stem not in stems_of[q.id]]
    return out
