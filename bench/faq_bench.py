"""FAQ engine benchmark: accuracy against two baselines, latency, build time and memory.

    python bench/faq_bench.py [--bench ../shared/faq-bench] [--runs 3] [--sizes 1000 10000]

Accuracy follows shared/faq-bench/README.md. Klub is measured at its default threshold; each baseline at
the threshold that is best for it on the same cases (generous to the baselines). Timings are the median
of --runs runs. Synthetic bases are made deterministically (fixed seed) by recombining the words,
phrases and answers of the development base, so they look like tutorials without repeating them.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.faq.evaluate import Case, Outcome, Scores, best_threshold, load_cases, run_cases, score  # noqa: E402
from bot.faq.loader import Base, Entry, Link, load_base  # noqa: E402
from bot.faq.matcher import DEFAULT_THRESHOLD, Matcher  # noqa: E402

SEED = 20261120
BestOf = Callable[[str], tuple[str | None, float]]


# -- engines ------------------------------------------------------------------------------------------


class Engine:
    name = ""

    def __init__(self, base: Base) -> None:
        self.ids = [e.id for e in base.entries]

    def best_of(self, question: str) -> tuple[str | None, float]:
        raise NotImplementedError


class KlubEngine(Engine):
    name = "Klub"

    def __init__(self, base: Base) -> None:
        super().__init__(base)
        self.matcher = Matcher(base)

    def best_of(self, question: str) -> tuple[str | None, float]:
        best = self.matcher.match(question).best
        return (best.entry.id, best.score) if best is not None else (None, 0.0)


def _entry_text(entry: Entry) -> str:
    return " ".join((entry.question, *entry.alternatives, *entry.tags, entry.answer))


class Bm25Engine(Engine):
    """rank-bm25 BM25Okapi over lowercase words of question + alternatives + tags + answer."""

    name = "BM25"

    def __init__(self, base: Base) -> None:
        import re

        from rank_bm25 import BM25Okapi

        super().__init__(base)
        self._split = re.compile(r"\w+").findall
        self.index = BM25Okapi([self._split(_entry_text(e).lower()) for e in base.entries])

    def best_of(self, question: str) -> tuple[str | None, float]:
        words = self._split(question.lower())
        if not words:
            return None, 0.0
        scores = self.index.get_scores(words)
        best = int(scores.argmax())
        return self.ids[best], float(scores[best])


class TfidfEngine(Engine):
    """scikit-learn TF-IDF on character n-grams (char_wb, 2-5), cosine similarity."""

    name = "TF-IDF car."

    def __init__(self, base: Base) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        super().__init__(base)
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True)
        self.matrix = self.vectorizer.fit_transform([_entry_text(e) for e in base.entries])

    def best_of(self, question: str) -> tuple[str | None, float]:
        vector = self.vectorizer.transform([question])
        scores = (self.matrix @ vector.T).toarray().ravel()  # rows are L2-normalised: dot = cosine
        best = int(scores.argmax())
        return self.ids[best], float(scores[best])


ENGINES: tuple[type[Engine], ...] = (KlubEngine, Bm25Engine, TfidfEngine)


# -- synthetic bases ----------------------------------------------------------------------------------


def synthetic_base(source: Base, size: int, seed: int = SEED) -> Base:
    """`size` tutorial-like entries recombined from the words and phrases of `source`."""
    rng = random.Random(seed + size)
    questions = [e.question.rstrip(" ?") for e in source.entries]
    phrases = [a for e in source.entries for a in e.alternatives] or questions
    sentences = [line.strip() for e in source.entries for line in e.answer.splitlines() if line.strip()]
    tags = sorted({t for e in source.entries for t in e.tags}) or ["outil"]
    themes = sorted({e.theme for e in source.entries})
    words = sorted({w for q in questions + phrases for w in q.split() if len(w) > 3})
    entries: list[Entry] = []
    for index in range(size):
        head = rng.choice(questions).split()
        tail = rng.choice(phrases).split()
        cut = rng.randint(2, max(2, len(head) - 1))
        question = " ".join(head[:cut] + tail[len(tail) // 2 :] + rng.sample(words, 2)) + " ?"
        alternatives = tuple(
            " ".join(rng.sample(words, 3) + rng.choice(phrases).split()[:4]) for _ in range(rng.randint(0, 2))
        )
        answer = "\n".join(rng.sample(sentences, min(len(sentences), rng.randint(3, 6))))
        entries.append(
            Entry(
                id=f"synth-{index:05d}",
                theme=rng.choice(themes),
                question=question,
                alternatives=alternatives,
                answer=answer,
                links=(Link(title="Aide", url=f"https://example.org/{index}"),),
                tags=tuple(rng.sample(tags, min(len(tags), 3))),
                source="synthetique.yml",
            )
        )
    return Base(entries=tuple(entries))


# -- measurements -------------------------------------------------------------------------------------


@dataclass
class Perf:
    build_s: float
    memory_mb: float
    median_ms: float
    p99_ms: float


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    position = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[position]


def measure(engine_type: type[Engine], base: Base, questions: Sequence[str], runs: int) -> Perf:
    builds: list[float] = []
    medians: list[float] = []
    p99s: list[float] = []
    engine: Engine | None = None
    for _ in range(runs):
        engine = None
        gc.collect()
        start = time.perf_counter()
        engine = engine_type(base)
        builds.append(time.perf_counter() - start)
        latencies: list[float] = []
        for question in questions:
            start = time.perf_counter()
            engine.best_of(question)
            latencies.append((time.perf_counter() - start) * 1000.0)
        medians.append(statistics.median(latencies))
        p99s.append(_percentile(latencies, 0.99))
    engine = None
    gc.collect()
    tracemalloc.start()
    engine = engine_type(base)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del engine
    return Perf(statistics.median(builds), peak / 1e6, statistics.median(medians), statistics.median(p99s))


def _thresholds(outcomes: Sequence[Outcome]) -> list[float]:
    """Every distinct score is a candidate cut (plus one above all): the sweep misses nothing."""
    values = sorted({o.score for o in outcomes})
    return [*values, (values[-1] + 1.0) if values else 1.0]


def holdout(outcomes: Sequence[Outcome], file_of: dict[str, str]) -> list[tuple[str, float, float]]:
    """Tune on the cases of 3 files (+ half the off-topic cases), test on the other 2 (+ other half).

    Returns (held-out files, accuracy at the default threshold, accuracy at the tuned threshold).
    """
    files = sorted(set(file_of.values()))
    off = [o for o in outcomes if o.case.expect is None]
    rows: list[tuple[str, float, float]] = []
    for test_files in itertools.combinations(files, 2):
        for half in (0, 1):
            train = [o for o in outcomes if o.case.expect and file_of.get(o.case.expect) not in test_files]
            test = [o for o in outcomes if o.case.expect and file_of.get(o.case.expect) in test_files]
            train += [o for i, o in enumerate(off) if i % 2 == half]
            test += [o for i, o in enumerate(off) if i % 2 != half]
            tuned = best_threshold(train, [t / 100 for t in range(10, 91)]).threshold
            rows.append(("+".join(Path(f).stem for f in test_files), score(test, DEFAULT_THRESHOLD).accuracy,
                         score(test, tuned).accuracy))
    return rows


def _row(cells: Sequence[Any], widths: Sequence[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench", default=str(REPO / ".." / "shared" / "faq-bench"), help="dossier du jeu de développement"
    )
    parser.add_argument("--base", default=None, help="base à mesurer (défaut : BENCH/base)")
    parser.add_argument("--cases", default=None, help="cas (défaut : BENCH/cases.yml)")
    parser.add_argument("--runs", type=int, default=3, help="exécutions par mesure de temps (médiane)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000], help="tailles des bases synthétiques")
    args = parser.parse_args(argv)

    bench = Path(args.bench)
    base = load_base([args.base or bench / "base"])
    cases: list[Case] = load_cases(args.cases or bench / "cases.yml")
    questions = [c.question for c in cases]
    n_in = sum(c.expect is not None for c in cases)
    n_out = len(cases) - n_in
    print(f"Jeu : {bench} — {len(base.entries)} tutoriels, {len(cases)} cas ({n_in} dans la base, {n_out} hors base)")
    print()

    widths = (32, 8, 8, 8, 11)
    print(_row(("moteur", "seuil", "top-1", "rejet", "exactitude"), widths))
    klub_outcomes: list[Outcome] = []
    for engine_type in ENGINES:
        engine = engine_type(base)
        outcomes = run_cases(cases, engine.best_of)
        result: Scores
        if engine_type is KlubEngine:
            klub_outcomes = outcomes
            result = score(outcomes, DEFAULT_THRESHOLD)
            label = f"{engine.name} (seuil par défaut)"
        else:
            result = best_threshold(outcomes, _thresholds(outcomes))
            label = f"{engine.name} (son meilleur seuil)"
        print(_row((label, f"{result.threshold:.3f}", f"{result.top1_rate:.3f}", f"{result.rejection_rate:.3f}",
                    f"{result.accuracy:.3f}"), widths))
    tuned = best_threshold(klub_outcomes, [t / 100 for t in range(10, 91)])
    print(_row(("Klub (son meilleur seuil)", f"{tuned.threshold:.3f}", f"{tuned.top1_rate:.3f}",
                f"{tuned.rejection_rate:.3f}", f"{tuned.accuracy:.3f}"), widths))

    file_of = {e.id: e.source for e in base.entries}
    rows = holdout(klub_outcomes, file_of)
    if rows:
        print()
        print("Validation croisée Klub (seuil réglé sur 3 fichiers, mesuré sur les 2 autres) :")
        at_default = statistics.mean(r[1] for r in rows)
        at_tuned = statistics.mean(r[2] for r in rows)
        worst = min(rows, key=lambda r: r[2])
        print(
            f"  exactitude moyenne hors échantillon : {at_tuned:.3f} (seuil réglé), "
            f"{at_default:.3f} (seuil par défaut)"
        )
        print(f"  pire découpage : {worst[0]} → {worst[2]:.3f}")

    print()
    print(f"Performance (médiane de {args.runs} exécutions ; latence sur les {len(questions)} questions du jeu)")
    perf_widths = (12, 12, 8, 14, 10, 12, 10)
    print(_row(("moteur", "base", "entrées", "construction", "mémoire", "lat. méd.", "p99"), perf_widths))
    bases = [("dev", base)] + [(f"synth-{n}", synthetic_base(base, n)) for n in args.sizes]
    for label, current in bases:
        for engine_type in ENGINES:
            perf = measure(engine_type, current, questions, args.runs)
            print(_row((engine_type.name, label, len(current.entries), f"{perf.build_s * 1000:.0f} ms",
                        f"{perf.memory_mb:.1f} Mo", f"{perf.median_ms:.3f} ms", f"{perf.p99_ms:.3f} ms"), perf_widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
