"""Scores per axis and priorities from a set of answers: pure functions over the questionnaire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.diagnostic.questionnaire import Question, Questionnaire


@dataclass(frozen=True)
class Gap:
    """A question answered below its best: an action to propose, weighted by the points it misses."""

    question: Question
    missing: int  # points missing, over all axes
    share: float  # missing / maximum of the question, 0..1


def scores(q: Questionnaire, answers: Mapping[str, str]) -> dict[str, int]:
    """Percentage per axis over the questions that apply; an axis with nothing that applies is absent."""
    got: dict[str, int] = {}
    best: dict[str, int] = {}
    for question in q.questions:
        answer = question.answer(answers.get(question.id, ""))
        if answer is None or answer.na:
            continue
        for axis, p in question.maximum().items():
            best[axis] = best.get(axis, 0) + p
            got[axis] = got.get(axis, 0) + question.points(answer).get(axis, 0)
    return {a.id: round(100 * got.get(a.id, 0) / best[a.id]) for a in q.axes if best.get(a.id)}


def gaps(q: Questionnaire, answers: Mapping[str, str]) -> list[Gap]:
    """Every answered question below its maximum, the largest share missing first (ties: questionnaire order)."""
    out: list[Gap] = []
    for question in q.questions:
        answer = question.answer(answers.get(question.id, ""))
        if answer is None or answer.na:
            continue
        top = sum(question.maximum().values())
        have = sum(question.points(answer).values())
        if top and have < top:
            out.append(Gap(question, top - have, (top - have) / top))
    order = {qq.id: i for i, qq in enumerate(q.questions)}
    return sorted(out, key=lambda g: (-g.share, -g.missing, order[g.question.id]))


def priorities(q: Questionnaire, answers: Mapping[str, str], score: Mapping[str, int], n: int = 3) -> list[Gap]:
    """The n actions that matter most: the weakest axes first, one action per axis before a second one."""
    pending = gaps(q, answers)
    by_axis_weakness = sorted({g.question.axis for g in pending}, key=lambda a: (score.get(a, 100), a))
    chosen: list[Gap] = []
    for axis in by_axis_weakness:
        first = next((g for g in pending if g.question.axis == axis), None)
        if first is not None:
            chosen.append(first)
    chosen += [g for g in pending if g not in chosen]
    return chosen[:n]


def is_done(question: Question, answer_id: str) -> bool:
    """The answer has the question's maximum (or the question does not apply): its action is done."""
    answer = question.answer(answer_id)
    if answer is None:
        return False
    return answer.na or sum(question.points(answer).values()) >= sum(question.maximum().values())
