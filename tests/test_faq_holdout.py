"""The held-out questions against the real tutorial base (faq/): accuracy and rejection must not regress.

The floors sit a little below what the engine reaches (see ``tests/faq_holdout/report.py`` for the figures
and for half A's failures); half B is never tuned on, only measured. Raise the floors when the engine
gets better, never lower them to let a change through.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq.evaluate import Outcome, Scores, load_cases, run_cases, score
from bot.faq.loader import load_base
from bot.faq.matcher import DEFAULT_THRESHOLD, Matcher
from tests.faq_holdout.report import split

HOLDOUT = Path(__file__).parent / "faq_holdout" / "cases.yml"
REAL_FAQ = Path(__file__).resolve().parent.parent / "faq"

# half -> (overall accuracy, out-of-scope rejection, in-scope top-1). Reached with the fused engine (lexical +
# e5, logistic decision fitted on the dev set and half A): A 0.887/0.640/0.954, B 0.885/0.720/0.955,
# all 0.886/0.680/0.954 (before: A 0.895/0.640/0.963, B 0.814/0.560/0.920). Half A is now a tuning set, B is not.
FLOORS = {
    "A": (0.86, 0.60, 0.93),
    "B": (0.86, 0.66, 0.93),
    "all": (0.86, 0.63, 0.93),
}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[Outcome]]:
    matcher = Matcher(load_base([REAL_FAQ]))

    def best_of(question: str) -> tuple[str | None, float]:
        best = matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)

    halves = {name: run_cases(cases, best_of) for name, cases in split(load_cases(HOLDOUT)).items()}
    return {**halves, "all": halves["A"] + halves["B"]}


def test_holdout_has_both_kinds_of_cases(outcomes: dict[str, list[Outcome]]) -> None:
    for name in ("A", "B"):
        group = outcomes[name]
        assert sum(o.case.expect is None for o in group) >= 15, name  # 18 in A once new tutorials answered two
        assert sum(o.case.expect is not None for o in group) >= 60, name


@pytest.mark.parametrize("half", ["A", "B", "all"])
def test_holdout_floors(outcomes: dict[str, list[Outcome]], half: str) -> None:
    figures: Scores = score(outcomes[half], DEFAULT_THRESHOLD)
    overall, rejection, top1 = FLOORS[half]
    summary = (
        f"{half}: overall {figures.accuracy:.3f}, rejection {figures.rejection_rate:.3f}, top-1 {figures.top1_rate:.3f}"
    )
    assert figures.accuracy >= overall, summary
    assert figures.rejection_rate >= rejection, summary
    assert figures.top1_rate >= top1, summary


# Figures at the default threshold of the engine of December 2026 (e5 fed 24 tokens at most, the latency budget).
# Tuning sets since that month (bench/faq_sets.py): fresh, terrain, Jura and littoral, once held out, and three
# bases written for tuning (reseaux-web, vignoble, ville); their floors guard against regressions. Reached: fresh
# 0.951 (top-1 0.949, rejection 1.000), terrain 0.869 (0.915, 0.906), Jura 0.942 (0.974, 0.929), littoral 0.862
# (0.913, 0.984), reseaux-web 0.897 (0.960, 0.878), vignoble 0.861 (0.955, 0.736), ville 0.884 (0.958, 0.877).
# Never tuned on, never read case by case (written by engineers who did not run the engine): phone.yml on faq/
# (244 questions, 92 with no entry) and five other offices' bases of 45 entries with 225 to 250 questions each.
# Reached: phone 0.795 (0.875, 0.750), montagne 0.853 (0.975, 0.908), numerique-pro 0.868 (0.959, 0.911), camping
# 0.908 (0.964, 0.882), ile 0.871 (0.959, 0.833), thermal 0.844 (0.885, 0.929); the engine of November reached
# 0.770, 0.816 and 0.863 on the first three. 3 Dec 2026, base of 225 entries (39 new tutorials, phone.yml relabelled
# where they answer a null): phone 0.799 (0.846, 0.805); phone2.yml (227 blind messages labelled on that base)
# 0.740 (0.805, 0.777); phone3.yml (232 blind messages, same method) 0.746 (0.775, 0.844) and phone4.yml (227,
# written as tuning material) 0.771 (0.765, 0.842).
UNSEEN_FLOORS = {
    "fresh": (0.92, 0.90, 0.92),
    "terrain": (0.84, 0.86, 0.89),
    "jura": (0.91, 0.86, 0.95),
    "littoral": (0.83, 0.93, 0.89),
    "reseaux-web": (0.87, 0.82, 0.93),
    "vignoble": (0.83, 0.68, 0.93),
    "ville": (0.85, 0.82, 0.93),
    "phone": (0.77, 0.76, 0.82),
    "phone2": (0.71, 0.73, 0.77),
    "phone3": (0.72, 0.82, 0.75),
    "phone4": (0.74, 0.82, 0.74),
    "montagne": (0.83, 0.86, 0.95),
    "numerique-pro": (0.84, 0.86, 0.93),
    "camping": (0.88, 0.84, 0.94),
    "ile": (0.84, 0.79, 0.93),
    "thermal": (0.81, 0.89, 0.86),
}
CROSSBASE = Path(__file__).parent / "faq_crossbase"
UNSEEN = {
    "fresh": (REAL_FAQ, Path(__file__).parent / "faq_holdout" / "fresh.yml"),
    "terrain": (REAL_FAQ, Path(__file__).parent / "faq_holdout" / "terrain.yml"),
    **{name: (REAL_FAQ, Path(__file__).parent / "faq_holdout" / f"{name}.yml")
       for name in ("phone", "phone2", "phone3", "phone4")},
    **{name: (CROSSBASE / name / "base", CROSSBASE / name / "cases.yml")
       for name in ("jura", "littoral", "montagne", "numerique-pro", "reseaux-web", "vignoble", "ville", "camping",
                    "ile", "thermal")},
}


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_sets_floors(name: str) -> None:
    base, cases = UNSEEN[name]
    matcher = Matcher(load_base([base]))

    def best_of(question: str) -> tuple[str | None, float]:
        best = matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)

    figures = score(run_cases(load_cases(cases), best_of), DEFAULT_THRESHOLD)
    overall, rejection, top1 = UNSEEN_FLOORS[name]
    summary = (
        f"{name}: overall {figures.accuracy:.3f}, rejection {figures.rejection_rate:.3f}, top-1 {figures.top1_rate:.3f}"
    )
    assert figures.accuracy >= overall, summary
    assert figures.rejection_rate >= rejection, summary
    assert figures.top1_rate >= top1, summary


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_sets_name_only_entries_of_their_base(name: str) -> None:
    """A case naming an entry its base does not have (a typo, a renamed id) would silently count as a miss."""
    base, cases = UNSEEN[name]
    known = {e.id for e in load_base([base]).entries}
    missing = {c.expect for c in load_cases(cases) if c.expect is not None} - known
    assert missing == set(), name
