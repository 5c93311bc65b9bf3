"""Write ``bot/faq/data/unanswerable.yml``: the out-of-scope questions of the tuning sets, grouped by base.

    python bench/faq_examples.py [--write]

Only the tuning sets of ``faq_sets.py`` feed it; the report-only sets never do. Greetings and small talk are
left out (the matcher never looks for a tutorial for them). Run ``faq_fit.py --write`` afterwards: the decision
depends on these questions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from faq_sets import REPO, EvalSet, base_name, eval_sets

from bot.faq.loader import load_base
from bot.faq.message import read
from bot.faq.normalize import default_normalizer
from bot.faq.unanswerable import UNANSWERABLE


def collect(sets: list[EvalSet]) -> dict[str, dict[str, list[str]]]:
    norm = default_normalizer()
    out: dict[str, dict[str, list[str]]] = {}
    for s in sets:
        if not s.tune:
            continue
        name = base_name(s)
        group = out.setdefault(name, {"ids": sorted(e.id for e in load_base(list(s.base)).entries), "questions": []})
        for case in s.cases:
            text = case.question.strip()
            if case.expect is None and read(text, norm).is_question and text not in group["questions"]:
                group["questions"].append(text)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help=f"write {UNANSWERABLE.relative_to(REPO)}")
    args = parser.parse_args()
    found = collect(eval_sets())
    for name, group in found.items():
        print(f"{name:12} {len(group['questions'])} questions hors base, {len(group['ids'])} tutoriels")
    if args.write:
        header = (
            "# Written by bench/faq_examples.py from the tuning sets only: questions labelled « no entry » on the\n"
            "# base they were asked about, and that base's entry ids (a base sharing one never uses its group).\n"
        )
        body = yaml.safe_dump({"bases": found}, allow_unicode=True, sort_keys=False, width=120)
        UNANSWERABLE.write_text(header + body, encoding="utf-8")
        print(f"écrit : {UNANSWERABLE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
