"""The evaluation sets of the FAQ engine, and which ones may be tuned on.

Tuning (``faq_fit.py``) sees only the ``tune`` sets: the development set, the earlier held-out questions on the
shipped base (halves A and B, « frais », « terrain »), the first two other bases (Jura, littoral), each of them
reported only, never tuned on, until newer material replaced it in that role; and every other base of
``tests/faq_crossbase/`` not named in ``UNSEEN_BASES`` (bases written for tuning: vignoble, ville, reseaux-web).

The ``UNSEEN`` sets were written in December 2026 by engineers who never ran the engine and never read its code:
new phone-typed questions on the shipped base (``phone.yml``; ``phone2.yml`` and ``phone3.yml``, each written
before its author opened the base; ``phone4.yml``, written the same way as tuning material, reported only until
the next refit takes it in) and five other bases with their own questions
(``montagne``, ``numerique-pro``, then ``camping``, ``thermal``, ``ile``: written for tuning, kept out of it when
adding them changed nothing in cross-validation but unsettled plain questions of the test suite). They are only
ever reported, and the decision is judged on them and on the cross-base figure (leave one base out).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.faq.evaluate import Case, load_cases  # noqa: E402
from tests.faq_holdout.report import split  # noqa: E402

# The shared development set sits beside the worktrees (../shared from the main checkout, ../../shared from one).
_PLACES = (REPO.parent / "shared" / "faq-bench", REPO.parent.parent / "shared" / "faq-bench")
DEV = next((p for p in _PLACES if p.exists()), _PLACES[0])


# Report-only material: never tuned on; phone2, phone3 and the five bases never looked at case by case (phone and
# phone4 have been: they are the next refit's tuning material).
UNSEEN_HOLDOUT = ("phone.yml", "phone2.yml", "phone3.yml", "phone4.yml")
UNSEEN_BASES = ("montagne", "numerique-pro", "camping", "thermal", "ile")


@dataclass(frozen=True)
class EvalSet:
    name: str
    base: tuple[Path, ...]
    cases: tuple[Case, ...]
    tune: bool  # may the fitting look at it?
    cross_base: bool  # a base the engine's vocabulary and weights were never written for


def _dev_dir(root: Path | None) -> Path:
    return root if root is not None else DEV


def eval_sets(dev: Path | None = None) -> list[EvalSet]:
    holdout = REPO / "tests" / "faq_holdout"
    faq = (REPO / "faq",)
    halves = split(load_cases(holdout / "cases.yml"))
    sets = [
        EvalSet("dev", (_dev_dir(dev) / "base",), tuple(load_cases(_dev_dir(dev) / "cases.yml")), True, False),
        EvalSet("dev +", (_dev_dir(dev) / "base",), tuple(load_cases(REPO / "tests" / "faq_tune" / "dev-extra.yml")),
                True, False),
        EvalSet("faq/ A", faq, tuple(halves["A"]), True, False),
        EvalSet("faq/ B", faq, tuple(halves["B"]), True, False),
        EvalSet("faq/ frais", faq, tuple(load_cases(holdout / "fresh.yml")), True, False),
        EvalSet("faq/ terrain", faq, tuple(load_cases(holdout / "terrain.yml")), True, False),
    ]
    sets += [
        EvalSet(f"faq/ {Path(name).stem}", faq, tuple(load_cases(holdout / name)), False, False)
        for name in UNSEEN_HOLDOUT
    ]
    for folder in sorted((REPO / "tests" / "faq_crossbase").iterdir()):
        if (folder / "cases.yml").exists():
            sets.append(
                EvalSet(f"{folder.name} (autre base)", (folder / "base",), tuple(load_cases(folder / "cases.yml")),
                        folder.name not in UNSEEN_BASES, True)
            )
    return sets


def base_name(s: EvalSet) -> str:
    """A short name for the base of a set: « faq », « dev », or the other base's folder."""
    folder = s.base[0]
    if folder == REPO / "faq":
        return "faq"
    return "dev" if folder.name == "base" and folder.parent.name == "faq-bench" else folder.parent.name
