"""Errors of the FAQ engine on the TUNING sets only (dev, dev +, faq/ A): what to look at when improving it.

    python bench/faq_errors.py [--group 0.9]

The report sets (half B, fresh, other bases) are deliberately not listed: they are only ever measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_sets import eval_sets

from bot.faq.loader import load_base
from bot.faq.matcher import Matcher


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", type=float, default=0.9)
    args = parser.parse_args()
    matchers: dict[tuple[Path, ...], Matcher] = {}
    for s in eval_sets():
        if not s.tune:
            continue
        if s.base not in matchers:
            matchers[s.base] = Matcher(load_base(list(s.base)))
        m = matchers[s.base]
        print(f"== {s.name}")
        for case in s.cases:
            r = m.match(case.question)
            best = r.best
            got = best.entry.id if best is not None and r.answered else None
            if got == case.expect:
                continue
            top = ", ".join(f"{c.entry.id} {c.score:.2f}/{c.lexical:.2f}" for c in r.candidates[:3])
            flag = "GROUP" if best is not None and best.score >= args.group and not r.suggestions else ""
            print(f"  {flag:5} {case.question!r}\n        attendu {case.expect} ; {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
