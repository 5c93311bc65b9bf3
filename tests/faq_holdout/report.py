"""Figures of the held-out set, per half, and the precision of confident answers (group threshold).

    .venv/bin/python tests/faq_holdout/report.py [--errors a|b|all]

Half A is the tuning half (its failures may be looked at); half B is only ever reported as a figure.
The sets written later (``EXTRA_SETS``: the December 2026 tutorials, the demo office layer) are measured
whole, against their own bases, and never tuned on.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.faq.evaluate import Case, Outcome, load_cases, run_cases, score  # noqa: E402
from bot.faq.loader import load_base  # noqa: E402
from bot.faq.matcher import Matcher  # noqa: E402

CASES = Path(__file__).parent / "cases.yml"
BASE = ROOT / "faq"
OFFICE_LAYER = ROOT / "faq-ot-trois-vallees"
# name -> (cases file, folders of the base, in layering order)
EXTRA_SETS: dict[str, tuple[Path, list[Path]]] = {
    "2026-12": (Path(__file__).parent / "cases_2026_12.yml", [BASE]),
    "office": (Path(__file__).parent / "cases_ot_trois_vallees.yml", [BASE, OFFICE_LAYER]),
}


def extra_outcomes(name: str) -> tuple[list[Outcome], float]:
    """One later set's outcomes against its own base, with that matcher's threshold."""
    path, bases = EXTRA_SETS[name]
    matcher = Matcher(load_base(bases))

    def best_of(question: str) -> tuple[str | None, float]:
        best = matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)

    return run_cases(load_cases(path), best_of), matcher.threshold


def half_of(case: Case, index_out_of_scope: int) -> str:
    """A or B: by entry id for answerable cases (a tutorial's cases stay together), alternating otherwise."""
    if case.expect is not None:
        return "AB"[zlib.crc32(case.expect.encode()) % 2]
    return "AB"[index_out_of_scope % 2]


def split(cases: Sequence[Case]) -> dict[str, list[Case]]:
    halves: dict[str, list[Case]] = {"A": [], "B": []}
    off = 0
    for case in cases:
        halves[half_of(case, off)].append(case)
        off += case.expect is None
    return halves


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", choices=("a", "b", "all", "none"), default="none")
    args = parser.parse_args(argv)
    matcher = Matcher(load_base([BASE]))
    threshold = matcher.threshold

    def best_of(question: str) -> tuple[str | None, float]:
        best = matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)

    cases = load_cases(CASES)
    halves = split(cases)
    outcomes: dict[str, list[Outcome]] = {name: run_cases(group, best_of) for name, group in halves.items()}
    every = outcomes["A"] + outcomes["B"]
    for name, group in (("A", outcomes["A"]), ("B", outcomes["B"]), ("tout", every)):
        s = score(group, threshold)
        print(f"{name:5} {s.total:4} cas  top-1 {s.top1_rate:.3f}  rejet {s.rejection_rate:.3f}  "
              f"exactitude {s.accuracy:.3f}")
    for name in EXTRA_SETS:
        group, cut = extra_outcomes(name)
        s = score(group, cut)
        print(f"{name:7} {s.total:4} cas  top-1 {s.top1_rate:.3f}  rejet {s.rejection_rate:.3f}  "
              f"exactitude {s.accuracy:.3f}")
    print()
    print("précision des réponses au-dessus d'un seuil (réponse = meilleure entrée, sans ambiguïté) :")
    results = {c.question: matcher.match(c.question) for c in cases}
    for cut in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        answered = [o for o in every if o.score >= cut]
        clear = [o for o in answered if not results[o.case.question].suggestions]
        right = sum(o.best == o.case.expect for o in answered)
        right_clear = sum(o.best == o.case.expect for o in clear)
        in_scope = sum(o.case.expect is not None for o in every)
        print(f"  >= {cut:.2f} : {right}/{len(answered)} = {right / max(len(answered), 1):.3f}"
              f"  | sans ambiguïté {right_clear}/{len(clear)} = {right_clear / max(len(clear), 1):.3f}"
              f"  (couverture {right_clear / in_scope:.2f} des cas dans la base)")
    if args.errors != "none":
        show = every if args.errors == "all" else outcomes[args.errors.upper()]
        print()
        for o in show:
            if o.correct(threshold):
                continue
            result = results[o.case.question]
            got = [(c.entry.id, c.score) for c in result.candidates[:3]]
            print(f"  {o.case.expect or 'null'} <- {o.case.question}\n      {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
