"""Fit the FAQ engine's decision (``bot/faq/data/decision.yml``) on the tuning sets only.

    python bench/faq_fit.py [--write]

1. The ranking blend (rank = lexical + alpha * semantic + beta * passage + gamma * steps) is the point of a
   grid that ranks the right entry first most often on the tuning sets.
2. The decision is a logistic regression on the best candidate's features, the label being "the best
   candidate is the right answer". The L2 strength is chosen by cross-validation: leave one base out (all
   its sets; fit on the other bases, their known out-of-scope questions only, measure on it) and 5 folds.
3. The report-only sets (``faq_sets.UNSEEN_*``) are printed, never used to choose anything.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_sets import REPO, EvalSet, base_name, eval_sets

from bot.faq import matcher as _matcher
from bot.faq.loader import load_base
from bot.faq.matcher import DECISION, Matcher, Signals, rank

FEATURES = _matcher.FEATURES

ALPHAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
BETAS = (0.0, 1.0, 2.0, 4.0)
GAMMAS = (0.0, 2.0, 4.0, 6.0)
L2S = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def collect(sets: list[EvalSet]) -> dict[str, list[tuple[Signals, str | None, list[str]]]]:
    out: dict[str, list[tuple[Signals, str | None, list[str]]]] = {}
    matchers: dict[tuple[Path, ...], Matcher] = {}
    for s in sets:
        if s.base not in matchers:
            matchers[s.base] = Matcher(load_base(list(s.base)))
        m = matchers[s.base]
        ids = [e.id for e in m.base.entries]
        out[s.name] = [(m.signals(c.question), c.expect, ids) for c in s.cases]
    return out


Rows = list[tuple[Signals, str | None, list[str]]]


def rows(
    data: Rows, alpha: tuple[float, ...], without: frozenset[str] = frozenset()
) -> tuple[np.ndarray, np.ndarray, int]:
    """Features of the best candidate and whether it is right; also the count of non-questions (never answered)."""
    xs, ys, skipped = [], [], 0
    for signals, expect, ids in data:
        found = rank(signals, *alpha, without=without)
        if not found:
            skipped += 1
            continue
        index, features = found[0]
        xs.append([features[k] for k in FEATURES])
        ys.append(1.0 if expect is not None and ids[index] == expect else 0.0)
    return np.asarray(xs), np.asarray(ys), skipped


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method, features standardised, intercept not penalised."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + penalty @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = w[1:] / std
    return weights, float(w[0] - (weights * mean).sum())


def accuracy(
    data: Rows, alpha: tuple[float, ...], weights: np.ndarray, bias: float, without: frozenset[str] = frozenset()
) -> float:
    """Overall accuracy at probability 0.5: right entry answered, or out of scope abstained."""
    good = 0
    for signals, expect, ids in data:
        found = rank(signals, *alpha, without=without)
        answered = None
        if found:
            index, features = found[0]
            zv = bias + float(np.dot(weights, [features[k] for k in FEATURES]))
            answered = ids[index] if zv >= 0.0 else None
        good += answered == expect
    return good / len(data) if data else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help=f"write {DECISION.relative_to(REPO)}")
    parser.add_argument("--l2", type=float, help="this L2 strength instead of the cross-validated choice")
    parser.add_argument("--blend", type=float, nargs=3, metavar=("ALPHA", "BETA", "GAMMA"),
                        help="this ranking blend instead of the grid's best")
    parser.add_argument("--without", nargs="*", default=[], help="features left out (ablation; they weigh 0)")
    args = parser.parse_args()
    global FEATURES
    FEATURES = tuple(f for f in _matcher.FEATURES if f not in args.without)
    sets = eval_sets()
    data = collect(sets)
    tune = [s.name for s in sets if s.tune]
    pooled = [row for name in tune for row in data[name]]

    def top1(blend: tuple[float, ...]) -> float:
        hits = [ids[rank(sg, *blend)[0][0]] == e for sg, e, ids in pooled if e is not None and rank(sg, *blend)]
        return sum(hits) / max(1, sum(e is not None for _, e, _ in pooled))

    blends = [(a, b, g) for a in ALPHAS for b in BETAS for g in GAMMAS if a or b or g]
    tops = {b: top1(b) for b in blends}
    alpha = max(blends, key=lambda b: (round(tops[b], 4), -sum(b)))
    if args.blend is not None:
        alpha = tuple(args.blend)
    best = sorted(blends, key=lambda b: -tops[b])[:8]
    print("alpha/beta/gamma (top-1 sur les jeux de réglage), les meilleurs : "
          + ", ".join(f"{a}/{b}/{g}: {tops[(a, b, g)]:.3f}" for a, b, g in best) + f" -> {alpha}")

    rng = random.Random(7)
    order = list(range(len(pooled)))
    rng.shuffle(order)
    folds = [[pooled[i] for i in order[k::5]] for k in range(5)]

    # Leave one BASE out (all its sets at once: questions on one base are not independent), then 5 folds.
    # The held base's known out-of-scope questions are ignored by the training rows too (``without``).
    bases = sorted({base_name(s) for s in sets if s.tune})
    by_base = {b: [s.name for s in sets if s.tune and base_name(s) == b] for b in bases}

    def cv(l2: float) -> float:
        scores = []
        for held in bases:
            train = [r for b in bases if b != held for name in by_base[b] for r in data[name]]
            x, y, _ = rows(train, alpha, frozenset({held}))
            w, b = fit(x, y, l2)
            scores.append(accuracy([r for name in by_base[held] for r in data[name]], alpha, w, b))
        for k in range(5):
            train = [r for j, f in enumerate(folds) if j != k for r in f]
            x, y, _ = rows(train, alpha)
            w, b = fit(x, y, l2)
            scores.append(accuracy(folds[k], alpha, w, b))
        return float(np.mean(scores))

    cvs = {l2: cv(l2) for l2 in L2S}
    print("L2 (validation croisée) : " + ", ".join(f"{k}: {v:.4f}" for k, v in cvs.items()))
    l2 = args.l2 if args.l2 is not None else max(L2S, key=lambda k: (round(cvs[k], 4), k))
    x, y, _ = rows(pooled, alpha)
    weights, bias = fit(x, y, l2)
    print(f"L2 {l2}; coefficients : " + ", ".join(f"{k} {w:+.2f}" for k, w in zip(FEATURES, weights, strict=True))
          + f", biais {bias:+.2f}")
    for s in sets:
        role = "réglage" if s.tune else "rapport"
        print(f"  {s.name:22} ({role}) exactitude {accuracy(data[s.name], alpha, weights, bias):.3f}")
    if args.write:
        doc = {
            "alpha": alpha[0],
            "beta": alpha[1],
            "gamma": alpha[2],
            "l2": l2,
            "bias": round(bias, 4),
            "weights": {
                k: round(float(dict(zip(FEATURES, weights, strict=True)).get(k, 0.0)), 4) for k in _matcher.FEATURES
            },
        }
        header = (
            "# Written by bench/faq_fit.py: the ranking blend and the logistic decision of the FAQ engine.\n"
            f"# Fitted on the tuning sets only ({', '.join(tune)}); L2 {l2} chosen by cross-validation"
            f" (CV accuracy {cvs[l2]:.3f}).\n"
        )
        if args.blend is not None:  # a blend chosen by hand says so, and against what
            grid = max(blends, key=lambda b: (round(tops[b], 4), -sum(b)))
            header += f"# Blend fixed with --blend {' '.join(f'{v:g}' for v in alpha)} (the grid's best was {grid}).\n"
        DECISION.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        print(f"écrit : {DECISION.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
