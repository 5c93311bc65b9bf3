"""Find the tutorial that answers a provider's question, or abstain.

Three steps:

1. *Read the message* (``message``): greetings, thanks and small talk get no tutorial at all; a long
   message is matched on its question sentence(s); English is noticed.
2. *Rank* the entries by a blend of the lexical score (``lexical``: shared meaningful words, typos
   repaired, domain vocabulary) and three semantic similarities of multilingual e5 (``semantic``) between the
   question and: the entry's question and alternatives, the whole entry read as a document, and each line of
   its answer. Candidates come from both kinds of signal, so an English question that shares no word with the
   French base still finds its tutorial. A bare topic several entries name (« mon wifi ») is offered as a choice.
3. *Decide* with a small logistic model over answerability features: lexical score, semantic similarity,
   margin to the runner-up, key-term coverage of the question by the entry, the share of the question the
   base knows at all, closeness to small talk, English, and closeness to questions other bases could not answer
   (``unanswerable``). Its coefficients are data
   (``data/decision.yml``), fitted by cross-validation (``bench/faq_fit.py``); the score it gives is the
   probability that the best entry is the right answer, so the threshold means the same on any base.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.faq import unanswerable
from bot.faq.lexical import Lexical
from bot.faq.loader import Base, Entry
from bot.faq.message import QUESTION, Reading, read, smalltalk
from bot.faq.normalize import Normalizer, default_normalizer
from bot.faq.semantic import Embedder

DECISION = Path(__file__).parent / "data" / "decision.yml"
DEFAULT_THRESHOLD = 0.5

# Ambiguity: the runner-up is within this distance of the best, and the best is at least this close to
# the threshold (relative), so "Vouliez-vous dire… ?" makes sense.
AMBIGUITY_MARGIN = 0.1
SUGGEST_FLOOR = 0.7
# ...and the question's words do not separate them either: their lexical scores are this close. Probabilities
# of two good neighbours both saturate near 1; the words still tell « créer une page » from « profil ou page ».
LEXICAL_TIE = 0.05
# A bare topic (one meaningful word) that this many entries name is a choice to offer, not an answer.
TOPIC_SPREAD = 3

MAX_CANDIDATES = 5
SEMANTIC_CANDIDATES = 10
FEATURES = (
    "lexical", "semantic", "passage", "steps", "margin", "semantic_margin", "coverage", "semantic_coverage", "known",
    "missing", "chat", "english", "english_semantic", "unanswerable", "action",
)


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float
    lexical: float = 0.0  # the lexical score, for telling a close call from a clear one


@dataclass(frozen=True)
class MatchResult:
    query: str
    candidates: tuple[Candidate, ...]  # best first, up to MAX_CANDIDATES
    threshold: float
    kind: str = QUESTION  # message.QUESTION, or a greeting / thanks / chatter: never answered
    english: bool = False
    focus: str = field(default="", compare=False)  # the sentence(s) matched
    topic_only: bool = False  # the question is one word that several entries name: offer them, answer none

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def answered(self) -> bool:
        best = self.best
        return best is not None and best.score >= self.threshold

    @property
    def suggestions(self) -> tuple[Candidate, ...]:
        """2–3 candidates when the call is close between them (answered or nearly), else ()."""
        best = self.best
        if best is None or best.score < self.threshold * SUGGEST_FLOOR:
            return ()
        if self.topic_only:
            return self.candidates[:3] if len(self.candidates) >= 2 else ()
        close = tuple(
            c
            for c in self.candidates[:3]
            if c.score >= best.score - AMBIGUITY_MARGIN and c.lexical >= best.lexical - LEXICAL_TIE
        )
        return close if len(close) >= 2 else ()

    @property
    def ambiguous(self) -> bool:
        return bool(self.suggestions)


@dataclass(frozen=True)
class Decision:
    """The fitted model: ranking blend and logistic coefficients."""

    alpha: float  # rank = lexical + alpha * semantic + beta * passage + gamma * steps
    weights: dict[str, float]
    bias: float
    beta: float = 0.0
    gamma: float = 0.0

    @classmethod
    def load(cls, path: Path = DECISION) -> Decision:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        # A feature the file does not name weighs nothing (a model fitted before the feature existed).
        weights = {name: float(data["weights"].get(name, 0.0)) for name in FEATURES}
        return cls(
            alpha=float(data["alpha"]),
            weights=weights,
            bias=float(data["bias"]),
            beta=float(data.get("beta", 0.0)),
            gamma=float(data.get("gamma", 0.0)),
        )

    @property
    def blend(self) -> tuple[float, float, float]:
        return (self.alpha, self.beta, self.gamma)

    def probability(self, x: dict[str, float]) -> float:
        z = self.bias + sum(self.weights[k] * x[k] for k in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def passage_text(entry: Entry) -> str:
    """The entry as one document: what e5 reads as a "passage" (its start counts most)."""
    return " ".join((entry.question, *entry.alternatives, *entry.tags, entry.answer))[:1000]


_STEP_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")
MIN_STEP_CHARS = 16


def step_texts(entry: Entry) -> list[str]:
    """The lines of the answer, one phrase each, and the question with its tags.

    Providers describe their problem with the words of a step more often than with the tutorial's title (« mon
    site rame, c'est les photos ? » is the step « allégez vos photos » of the mobile-speed tutorial)."""
    out = [f"{entry.question} {' '.join(entry.tags)}"]
    for line in entry.answer.splitlines():
        line = _STEP_MARK.sub("", line).replace("**", "").strip()
        if len(line) >= MIN_STEP_CHARS:
            out.append(line)
    return out


@dataclass(frozen=True)
class Signals:
    reading: Reading
    lexical: dict[int, tuple[float, float]]  # entry index -> (lexical score, query coverage)
    semantic: np.ndarray  # per entry, best cosine with its question or alternatives
    passage: np.ndarray  # per entry, cosine with the whole entry read as a document (e5's "passage: ")
    steps: np.ndarray  # per entry, best cosine with a line of its answer (or its question with its tags)
    chat: float  # best cosine with the small-talk examples
    known: float  # share of the question's weight the base knows
    missing: dict[int, float]  # per candidate, share of the heaviest word of the question it lacks
    # per group of known out-of-scope questions (``unanswerable``), the best cosine with one of them
    unanswerable: dict[str, float] = field(default_factory=dict)
    # per candidate, 1.0 when the question names a kind of action (removing…) the entry does not
    actions: dict[int, float] = field(default_factory=dict)


def rank(
    signals: Signals, alpha: float, beta: float = 0.0, gamma: float = 0.0, *, without: frozenset[str] = frozenset()
) -> list[tuple[int, dict[str, float]]]:
    """(entry index, decision features) of the candidates, best rank first.

    ``without``: groups of known out-of-scope questions to ignore (the fitting leaves the measured base out)."""
    semantic, lexical = signals.semantic, signals.lexical
    if not len(semantic):
        return []
    passage, steps = signals.passage, signals.steps
    blend = (
        (
            lexical.get(i, (0.0, 0.0))[0]
            + alpha * float(semantic[i])
            + beta * float(passage[i])
            + gamma * float(steps[i]),
            i,
        )
        for i in signals.missing
    )
    ranked = sorted(blend, key=lambda r: (-r[0], r[1]))[: MAX_CANDIDATES + 1]
    english = 1.0 if signals.reading.english else 0.0
    known_miss = max((v for k, v in signals.unanswerable.items() if k not in without), default=0.0)
    top_two = np.partition(semantic, -2)[-2:] if len(semantic) > 1 else np.asarray([0.0, float(semantic[0])])
    out: list[tuple[int, dict[str, float]]] = []
    for position, (value, index) in enumerate(ranked[:MAX_CANDIDATES]):
        # The best is compared with the runner-up, every other one with the best.
        other = ranked[0][0] if position else ranked[1][0] if len(ranked) > 1 else 0.0
        lex, coverage = lexical.get(index, (0.0, 0.0))
        sem = float(semantic[index])
        # Semantic margin: to the best other entry (the runner-up for the best, the best for the others).
        rival = float(top_two[0]) if sem >= float(top_two[1]) else float(top_two[1])
        features = {
            "lexical": lex,
            "semantic": sem,
            "passage": float(signals.passage[index]),
            "steps": float(steps[index]),
            "margin": value - other,
            "semantic_margin": sem - rival,
            "coverage": coverage,
            "semantic_coverage": sem * coverage,
            "known": signals.known,
            "missing": signals.missing[index],
            "chat": signals.chat - sem,
            "english": english,
            "english_semantic": english * sem,
            "unanswerable": known_miss - sem,
            "action": signals.actions.get(index, 0.0),
        }
        out.append((index, features))
    return out


class Matcher:
    """An index over one base; build it once (embeddings come from the disk cache), then ``match``."""

    def __init__(
        self,
        base: Base,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        normalizer: Normalizer | None = None,
        cache_dir: Path | None = None,
        decision: Decision | None = None,
    ) -> None:
        self.base = base
        self.threshold = threshold
        self._norm = normalizer if normalizer is not None else default_normalizer()
        self.lexical = Lexical(base, normalizer=self._norm)
        self.decision = decision if decision is not None else Decision.load()
        self.embedder = Embedder(cache_dir)
        # Per entry, its question and alternatives; the whole entry as a document; the lines of its answer.
        self._phrases, self._starts = self._by_entry(lambda e: [e.question, *e.alternatives])
        documents = [passage_text(e) for e in base.entries]
        self._passages = self.embedder.phrases(documents, passage=True) if documents else np.zeros((0, 384), np.float32)
        self._steps, self._step_starts = self._by_entry(step_texts)
        self._chat = self.embedder.phrases(list(smalltalk().phrases))
        self._unanswerable = [
            (group.name, self.embedder.phrases(list(group.questions)))
            for group in unanswerable.usable(e.id for e in base.entries)
        ]

    def _by_entry(self, texts_of: Callable[[Entry], list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The embeddings of every entry's texts (at least one each), and where each entry's run starts.

        Each entry's texts are contiguous: the best per entry is one reduceat over the start of each run
        (np.maximum.at is an order of magnitude slower on 1,000 entries)."""
        texts: list[str] = []
        starts: list[int] = []
        for entry in self.base.entries:
            starts.append(len(texts))
            texts.extend(texts_of(entry))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return self.embedder.phrases(texts), np.asarray(starts, dtype=np.int64)

    # -- signals --------------------------------------------------------------------------------------

    @staticmethod
    def _best(matrix: np.ndarray, starts: np.ndarray, vector: np.ndarray, entries: int) -> np.ndarray:
        """Per entry, the best cosine between the question and one of its texts."""
        if not len(matrix):
            return np.full(entries, -1.0, dtype=np.float32)
        return np.maximum.reduceat(matrix @ vector, starts)

    def signals(self, text: str) -> Signals:
        """Everything the ranking and the decision need, computed once per message."""
        reading = read(text or "", self._norm)
        if not reading.is_question or not self.base.entries:
            empty = np.zeros(0, dtype=np.float32)
            return Signals(reading, {}, empty, empty, empty, 0.0, 0.0, {})
        focus = reading.focus
        vector = self.embedder.query(focus, self._norm.expendable)
        chat = float(np.max(self._chat @ vector)) if len(self._chat) else 0.0
        lexical = {i: (s, q) for i, s, q in self.lexical.scores(focus)}
        entries = len(self.base.entries)
        semantic = self._best(self._phrases, self._starts, vector, entries)
        pool = set(lexical)
        count = min(SEMANTIC_CANDIDATES, len(semantic))
        pool.update(int(i) for i in np.argpartition(-semantic, count - 1)[:count])
        missing = self.lexical.missing(focus, pool)
        actions = self.lexical.unnamed_actions(focus, pool)
        passage = self._passages @ vector if len(self._passages) else np.zeros(0, dtype=np.float32)
        steps = self._best(self._steps, self._step_starts, vector, entries)
        known_misses = {name: float(np.max(matrix @ vector)) for name, matrix in self._unanswerable if len(matrix)}
        return Signals(
            reading, lexical, semantic, passage, steps, chat, self.lexical.known_share(focus), missing, known_misses,
            actions,
        )

    def features(self, text: str) -> tuple[Reading, list[tuple[int, dict[str, float]]]]:
        signals = self.signals(text)
        return signals.reading, rank(signals, *self.decision.blend)

    # -- the answer -----------------------------------------------------------------------------------

    def match(self, text: str, *, threshold: float | None = None) -> MatchResult:
        limit = self.threshold if threshold is None else threshold
        reading, found = self.features(text)
        scored = sorted(
            ((round(self.decision.probability(x), 4), i, x["lexical"]) for i, x in found), key=lambda s: (-s[0], s[1])
        )
        entries = self.base.entries
        return MatchResult(
            query=text,
            candidates=tuple(Candidate(entries[i], s, lex) for s, i, lex in scored[:MAX_CANDIDATES]),
            threshold=limit,
            kind=reading.kind,
            english=reading.english,
            focus=reading.focus,
            topic_only=reading.is_question and self.lexical.topic_only(reading.focus) >= TOPIC_SPREAD,
        )

    def explain(self, text: str) -> list[tuple[str, str]]:
        return self.lexical.explain(read(text or "", self._norm).focus)
