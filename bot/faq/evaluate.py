"""Accuracy of the matcher on a set of cases (``cases: [{q: ..., expect: id | null}]``).

The figures are those of ``shared/faq-bench/README.md``: in-scope top-1 (abstention ignored),
out-of-scope rejection, and overall accuracy, which rewards abstaining when the base has no answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import safe_yaml


@dataclass(frozen=True)
class Case:
    question: str
    expect: str | None


@dataclass(frozen=True)
class Outcome:
    case: Case
    best: str | None  # best entry id, whatever its score
    score: float

    def correct(self, threshold: float) -> bool:
        if self.case.expect is None:
            return self.best is None or self.score < threshold
        return self.best == self.case.expect and self.score >= threshold


@dataclass(frozen=True)
class Scores:
    threshold: float
    in_scope: int
    in_scope_top1: int
    out_of_scope: int
    rejected: int
    correct: int
    total: int

    @property
    def top1_rate(self) -> float:
        return self.in_scope_top1 / self.in_scope if self.in_scope else 0.0

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


class CasesError(Exception):
    """The cases file is missing or malformed; the message is French and names the place."""


def load_cases(path: str | Path) -> list[Case]:
    file = Path(path)
    try:
        data: Any = safe_yaml.load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CasesError(f"{file} : fichier introuvable") from None
    except IsADirectoryError:
        raise CasesError(f"{file} : c'est un dossier, attendu un fichier YAML") from None
    except UnicodeDecodeError:
        raise CasesError(f"{file} : le fichier n'est pas en UTF-8") from None
    except OSError as exc:
        raise CasesError(f"{file} : lecture impossible ({exc.strerror or exc})") from None
    except safe_yaml.YamlError as exc:
        raise CasesError(f"{file} : {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise CasesError(f"{file} : attendu « cases: [{{q: …, expect: …}}, …] »")
    cases: list[Case] = []
    for index, raw in enumerate(data["cases"], start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("q"), str):
            raise CasesError(f"{file}, cas n° {index} : champ « q » manquant ou qui n'est pas un texte")
        expect = raw.get("expect")
        if expect is not None and not isinstance(expect, str):
            raise CasesError(f"{file}, cas n° {index} : « expect » doit être un identifiant ou null")
        cases.append(Case(question=raw["q"], expect=expect))
    return cases


def run_cases(cases: Sequence[Case], best_of: Callable[[str], tuple[str | None, float]]) -> list[Outcome]:
    """Ask every case once; ``best_of`` returns (best id or None, score) for a question."""
    return [Outcome(case, *best_of(case.question)) for case in cases]


def score(outcomes: Sequence[Outcome], threshold: float) -> Scores:
    in_scope = [o for o in outcomes if o.case.expect is not None]
    out_scope = [o for o in outcomes if o.case.expect is None]
    return Scores(
        threshold=threshold,
        in_scope=len(in_scope),
        in_scope_top1=sum(o.best == o.case.expect for o in in_scope),
        out_of_scope=len(out_scope),
        rejected=sum(o.correct(threshold) for o in out_scope),
        correct=sum(o.correct(threshold) for o in outcomes),
        total=len(outcomes),
    )


def best_threshold(outcomes: Sequence[Outcome], candidates: Sequence[float]) -> Scores:
    """The threshold that maximises overall accuracy on these very cases (generous: for baselines)."""
    best: Scores | None = None
    for threshold in candidates:
        current = score(outcomes, threshold)
        if best is None or current.accuracy > best.accuracy:
            best = current
    if best is None:
        raise ValueError("no candidate threshold")
    return best
