"""Load and validate the diagnostic questionnaire (``diagnostic/*.yml``), layered like the tutorial bases.

Every problem is reported on one line naming the file, the question and the field. A later file's
question replaces an earlier one with the same id (an office adapts its territory's questionnaire); a new
id is added at the end; axes are merged the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import french_message
from bot.faq.loader import _parse_yaml  # one strict YAML reader for every file an office edits

SLUG = r"^[a-z0-9][a-z0-9-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Axis(_Strict):
    id: str = Field(pattern=SLUG, max_length=40)
    label: str = Field(min_length=1, max_length=60)
    label_en: str = ""
    keywords: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label


class Answer(_Strict):
    id: str = Field(pattern=SLUG, max_length=40)
    label: str = Field(min_length=1, max_length=60)  # a button label: short enough for a phone
    label_en: str = ""
    points: dict[str, int] | int = 0
    na: bool = False  # "does not apply": counts neither for nor against

    @field_validator("points")
    @classmethod
    def _non_negative(cls, v: dict[str, int] | int) -> dict[str, int] | int:
        values = v.values() if isinstance(v, dict) else [v]
        if any(p < 0 or p > 100 for p in values):
            raise ValueError("points entre 0 et 100")
        return v

    def name(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label


class Figure(_Strict):
    """A headline figure of the observatory: the share of respondents who gave one of `answers`."""

    label: str = Field(min_length=1, max_length=80)  # « ont revendiqué leur fiche Google »
    label_en: str = ""
    answers: tuple[str, ...] = Field(min_length=1)

    def name(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label


class Question(_Strict):
    id: str = Field(pattern=SLUG, max_length=40)
    axis: str
    text: str = Field(min_length=1, max_length=300)
    text_en: str = ""
    answers: tuple[Answer, ...] = Field(min_length=2, max_length=6)
    action: str = Field(min_length=1, max_length=200)
    action_en: str = ""
    tutorials: tuple[str, ...] = ()
    figure: Figure | None = None

    def prompt(self, lang: str) -> str:
        return self.text_en if lang == "en" and self.text_en else self.text

    def action_text(self, lang: str) -> str:
        return self.action_en if lang == "en" and self.action_en else self.action

    def answer(self, answer_id: str) -> Answer | None:
        return next((a for a in self.answers if a.id == answer_id), None)

    def points(self, answer: Answer) -> dict[str, int]:
        """Points per axis; a bare number counts on the question's own axis."""
        return dict(answer.points) if isinstance(answer.points, dict) else {self.axis: answer.points}

    def maximum(self) -> dict[str, int]:
        best: dict[str, int] = {}
        for a in self.answers:
            if a.na:
                continue
            for axis, p in self.points(a).items():
                best[axis] = max(best.get(axis, 0), p)
        return best


class _File(_Strict):
    title: str = ""
    title_en: str = ""
    axes: tuple[Axis, ...] = ()
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Questionnaire:
    title: str
    title_en: str
    axes: tuple[Axis, ...]
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def axis(self, axis_id: str) -> Axis | None:
        return next((a for a in self.axes if a.id == axis_id), None)

    def heading(self, lang: str) -> str:
        return self.title_en if lang == "en" and self.title_en else self.title


class QuestionnaireError(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _where(label: str, raw: Any, loc: tuple[int | str, ...]) -> str:
    """« fichier, question fiche-google, champ « answers[1].points » » from a pydantic error location."""
    parts = [label]
    rest = list(loc)
    if len(rest) >= 2 and rest[0] in ("questions", "axes") and isinstance(rest[1], int):
        section, index = rest[0], rest[1]
        items = raw.get(section) if isinstance(raw, dict) else None
        ident = items[index].get("id") if isinstance(items, list) and index < len(items) else None
        noun = "question" if section == "questions" else "axe"
        parts.append(f"{noun} {ident}" if isinstance(ident, str) else f"{noun} n°{index + 1}")
        rest = rest[2:]
    if rest:
        field = ""
        for item in rest:
            field += f"[{item}]" if isinstance(item, int) else (f".{item}" if field else str(item))
        parts.append(f"champ « {field} »")
    return ", ".join(parts)


def _check_file(label: str, raw: Any, errors: list[str]) -> _File | None:
    if not isinstance(raw, dict):
        errors.append(f"{label} : attendu un bloc avec « axes » et « questions »")
        return None
    try:
        return _File.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(f"{_where(label, raw, tuple(err['loc']))} : {french_message(err)}")
        return None


def _merge(files: list[_File]) -> Questionnaire:
    axes: dict[str, Axis] = {}
    questions: dict[str, Question] = {}
    title = title_en = ""
    for f in files:
        title, title_en = f.title or title, f.title_en or title_en
        axes.update({a.id: a for a in f.axes})
        questions.update({q.id: q for q in f.questions})  # same id: the later file wins, keeps its place
    return Questionnaire(title or "Diagnostic numérique", title_en, tuple(axes.values()), tuple(questions.values()))


def _cross_check(q: Questionnaire, errors: list[str], known_tutorials: set[str] | None) -> None:
    axis_ids = {a.id for a in q.axes}
    if not q.questions:
        errors.append("questionnaire : aucune question")
    for question in q.questions:
        where = f"question {question.id}"
        if question.axis not in axis_ids:
            errors.append(f"{where}, champ « axis » : axe « {question.axis} » non déclaré")
        seen: set[str] = set()
        for answer in question.answers:
            if answer.id in seen:
                errors.append(f"{where}, champ « answers » : réponse « {answer.id} » en double")
            seen.add(answer.id)
            for axis in question.points(answer):
                if axis not in axis_ids:
                    errors.append(f"{where}, réponse {answer.id}, champ « points » : axe « {axis} » non déclaré")
        if question.figure is not None:
            for aid in question.figure.answers:
                if aid not in seen:
                    errors.append(f"{where}, champ « figure.answers » : réponse « {aid} » inconnue")
        if not any(question.maximum().values()):
            errors.append(f"{where}, champ « answers » : aucune réponse ne rapporte de point")
        if known_tutorials is not None:
            for tid in question.tutorials:
                if tid not in known_tutorials:
                    errors.append(f"{where}, champ « tutorials » : tutoriel « {tid} » absent de la base")


def load_questionnaire(paths: Sequence[str | Path], known_tutorials: set[str] | None = None) -> Questionnaire:
    """The merged questionnaire; QuestionnaireError lists every problem."""
    errors: list[str] = []
    files: list[_File] = []
    if not paths:
        raise QuestionnaireError(["diagnostic.files : aucun fichier de questionnaire"])
    for path in map(Path, paths):
        label = str(path)
        if not path.is_file():
            errors.append(f"{label} : fichier introuvable")
            continue
        before = len(errors)
        raw = _parse_yaml(path, label, errors)
        if len(errors) > before:
            continue
        checked = _check_file(label, raw, errors)
        if checked is not None:
            files.append(checked)
    if errors:
        raise QuestionnaireError(errors)
    merged = _merge(files)
    _cross_check(merged, errors, known_tutorials)
    if errors:
        raise QuestionnaireError(errors)
    return merged
