"""The lexical signal: which entries share the question's meaningful words, and how much of them.

The score of an entry is built from two coverage ratios, so it lies in [0, 1] and means the same on a
40-entry base and on a 10,000-entry one:

- *query coverage*: the share of the question's meaningful words (weighted by rarity in the base and
  by word class) that the entry contains, counting words of the question and alternatives fully, tags
  and theme a little less, and the answer text much less;
- *phrase coverage*: the share of the entry's best-matching question or alternative that the question
  contains.

Words the base has never seen count against every entry: a question about TikTok is not answered by the
Instagram tutorial just because both say "créer un compte". Typos are repaired against the base's own
vocabulary before scoring.

An answer needs corroboration: when the question has several meaningful words and the entry shares only
one of them, the score is damped (``SINGLE_WORD_FACTOR``). "Quel logiciel de caisse ?" is not answered by
the Wi-Fi tutorial that happens to mention a till, nor "un live sur Instagram" by whichever Instagram
tutorial ranks first: one shared word is a coincidence as often as an answer. A question of one
meaningful word ("bitly ?") is not damped.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.faq.loader import Base
from bot.faq.normalize import Normalizer, default_normalizer

# Where a word of the entry appears, and how much that says about the entry.
FIELD_QUESTION = 1.0  # question and alternatives
FIELD_TAGS = 0.8
FIELD_THEME = 0.5
FIELD_ANSWER = 0.4  # answer text and link titles

# A word unknown to the base weighs this share of the rarest known word.
UNKNOWN_FACTOR = 0.45
# A platform name the base never mentions weighs this many times the rarest known word.
UNKNOWN_ENTITY_FACTOR = 2.0
# Blend of the two coverages.
PHRASE_SHARE = 0.3
# An entry sharing only one of the question's several meaningful (not light) words keeps this share of its score.
SINGLE_WORD_FACTOR = 0.75

# Typo repair: minimum similarity (0-100) to a word of the base; short words are left alone.
FUZZY_CUTOFF = 82.0
FUZZY_MIN_LEN = 4
# Derivation: a stem that is a prefix of another ("ferm" / "fermetur") matches it at this confidence.
DERIVED_CONFIDENCE = 0.7
DERIVED_MIN_LEN = 4
DERIVED_MAX_EXTRA = 5

MAX_CHARS = 2000  # a 10,000-character message is cut: the question is rarely in the tail of a wall of text
MAX_TOKENS = 60
RERANK = 30


@dataclass(frozen=True)
class _Term:
    """One distinct word of the question, resolved against the index."""

    word: str  # the canonical word of the question (after synonyms)
    stem: str  # the index stem it matched (after typo repair), or its own stem when unknown
    weight: float  # its share of the question's meaning
    confidence: float  # 1.0 exact, < 1 repaired typo, 0 unknown to the base
    related: tuple[tuple[str, float], ...] = ()  # derived words of the base ("ferm" -> "fermetur")
    content: bool = True  # a meaningful word, not a light one ("faire", "besoin"): counts for corroboration


def _second(pair: tuple[int, float]) -> float:
    return pair[1]


class Lexical:
    """A word index over one base; build it once, then score every question."""

    def __init__(self, base: Base, *, normalizer: Normalizer | None = None) -> None:
        self.base = base
        self._norm = normalizer if normalizer is not None else default_normalizer()
        self._entries = base.entries
        self._fields: list[dict[str, float]] = []
        # Per entry, the kinds of action its question, alternatives and tags name (what it is about).
        self._actions = [
            self._norm.actions(" ".join((e.question, *e.alternatives, *e.tags))) for e in base.entries
        ]
        self._phrases: list[tuple[frozenset[str], ...]] = []
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        df: dict[str, float] = defaultdict(float)
        words: dict[str, str] = {}
        for index, entry in enumerate(self._entries):
            fields: dict[str, float] = {}
            phrases: list[frozenset[str]] = []
            for text in (entry.question, *entry.alternatives):
                pairs = self._norm.pairs(text)
                phrases.append(frozenset(s for _, s in pairs))
                self._add(fields, words, pairs, FIELD_QUESTION)
            for tag in entry.tags:
                self._add(fields, words, self._norm.pairs(tag), FIELD_TAGS)
            self._add(fields, words, self._norm.pairs(entry.theme), FIELD_THEME)
            for text in (entry.answer, *(link.title for link in entry.links)):
                self._add(fields, words, self._norm.pairs(text), FIELD_ANSWER)
            for stem, weight in fields.items():
                postings[stem].append((index, weight))
                df[stem] += weight
            self._fields.append(fields)
            self._phrases.append(tuple(p for p in phrases if p))
        self._postings = dict(postings)
        # How many entries name each stem in their question or an alternative: « wifi » alone names a topic.
        named: Counter[str] = Counter()
        for phrases_of in self._phrases:
            named.update(set().union(*phrases_of) if phrases_of else set())
        self._named = dict(named)
        self._members = {stem: tuple(i for i, _ in posting) for stem, posting in self._postings.items()}
        n = max(len(self._entries), 1)
        self._idf = {stem: math.log(1.0 + n / d) for stem, d in df.items()}
        self._max_idf = math.log(1.0 + n)
        self._unknown_idf = UNKNOWN_FACTOR * self._max_idf
        # Typo repair looks only at words with the same first letter: typos rarely hit it, and it keeps
        # the search small on a large base.
        buckets: dict[str, list[str]] = defaultdict(list)
        for word in words:
            if len(word) >= FUZZY_MIN_LEN:
                buckets[word[0]].append(word)
        self._buckets = dict(buckets)
        self._word_stem = words
        self._repairs: dict[str, tuple[str, float] | None] = {}
        self._last: tuple[str, list[_Term]] | None = None
        prefixes: dict[str, list[str]] = defaultdict(list)
        for stem in self._idf:
            for size in range(DERIVED_MIN_LEN, len(stem)):
                prefixes[stem[:size]].append(stem)
        self._prefixes = dict(prefixes)

    @staticmethod
    def _add(fields: dict[str, float], words: dict[str, str], pairs: Iterable[tuple[str, str]], weight: float) -> None:
        for word, stem in pairs:
            if fields.get(stem, 0.0) < weight:
                fields[stem] = weight
            words.setdefault(word, stem)

    # -- question side --------------------------------------------------------------------------------

    def _repair(self, word: str) -> tuple[str, float] | None:
        """The base's stem closest to an unknown word, with a confidence, or None."""
        if word in self._repairs:
            return self._repairs[word]
        found: tuple[str, float] | None = None
        # A word the vocabulary already knows ("matin", "pleut" is not) is no typo: "matin" is not "main".
        known = self._norm.weight(self._norm.stem(word)) != 1.0
        bucket = self._buckets.get(word[0]) if len(word) >= FUZZY_MIN_LEN and not known else None
        if bucket:
            best = process.extractOne(word, bucket, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            # Repairing to a light word ("pleut" -> "peut") would hide that the word is unknown to the base.
            if best is not None and self._norm.weight(self._word_stem[best[0]]) >= 1.0:
                found = (self._word_stem[best[0]], (best[1] / 100.0) ** 2)
        if len(self._repairs) < 50_000:
            self._repairs[word] = found
        return found

    def _derived(self, stem: str) -> tuple[tuple[str, float], ...]:
        """Stems of the base that extend this one, or that it extends, by a short suffix."""
        if len(stem) < DERIVED_MIN_LEN:
            return ()
        found = [s for s in self._prefixes.get(stem, ()) if len(s) - len(stem) <= DERIVED_MAX_EXTRA]
        found += [
            stem[:size]
            for size in range(max(DERIVED_MIN_LEN, len(stem) - DERIVED_MAX_EXTRA), len(stem))
            if stem[:size] in self._idf
        ]
        return tuple((s, DERIVED_CONFIDENCE) for s in found)

    def _terms(self, text: str) -> list[_Term]:
        # The matcher asks about one question several times in a row (scores, known share, missing words).
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        found = self._read_terms(text)
        self._last = (text, found)
        return found

    def _read_terms(self, text: str) -> list[_Term]:
        terms: dict[str, _Term] = {}
        for word, stem in self._norm.pairs(text[:MAX_CHARS]):
            if len(terms) >= MAX_TOKENS:
                break
            if stem in terms:
                continue
            klass = self._norm.weight(stem)
            content = klass >= 1.0
            if stem in self._idf:
                terms[stem] = _Term(word, stem, self._idf[stem] * klass, 1.0, self._derived(stem), content)
                continue
            derived = self._derived(stem)
            if derived:
                # Weighted as the rarest of its relatives: it means the same thing.
                weight = max(self._idf[s] for s, _ in derived) * klass
                terms[stem] = _Term(word, derived[0][0], weight, DERIVED_CONFIDENCE, derived[1:], content)
                continue
            repaired = self._repair(word)
            if repaired is not None and repaired[0] not in terms:
                target, confidence = repaired
                weight = self._idf[target] * self._norm.weight(target)
                terms[stem] = _Term(word, target, weight, confidence, (), content)
            elif self._norm.is_entity(stem):
                # A platform the base never mentions: the question is about something else.
                terms[stem] = _Term(word, stem, UNKNOWN_ENTITY_FACTOR * self._max_idf * klass, 0.0, (), content)
            else:
                terms[stem] = _Term(word, stem, self._unknown_idf * klass, 0.0, (), content)
        return list(terms.values())

    # -- scoring --------------------------------------------------------------------------------------

    def _phrase_coverage(self, index: int, matched: dict[str, float]) -> float:
        best = 0.0
        for phrase in self._phrases[index]:
            total = 0.0
            hit = 0.0
            for stem in phrase:
                w = self._idf.get(stem, 0.0) * self._norm.weight(stem)
                total += w
                hit += w * matched.get(stem, 0.0)
            if total > 0.0:
                best = max(best, hit / total)
        return best

    def features(self, text: str) -> list[tuple[int, float, float, float]]:
        """(entry index, query coverage, phrase coverage, corroboration factor) of the most promising entries."""
        terms = self._terms(text)
        total = sum(t.weight for t in terms)
        if total <= 0.0:
            return []
        acc: dict[int, float] = defaultdict(float)
        matched: dict[str, float] = {}
        for term in terms:
            if term.confidence <= 0.0:
                continue
            if not term.related:
                # Common case, one stem: no need to keep the best of several per entry.
                if matched.get(term.stem, 0.0) < term.confidence:
                    matched[term.stem] = term.confidence
                share = term.weight * term.confidence
                for index, field_weight in self._postings.get(term.stem, ()):
                    acc[index] += share * field_weight
                continue
            best: dict[int, float] = {}
            for stem, confidence in ((term.stem, term.confidence), *term.related):
                if matched.get(stem, 0.0) < confidence:
                    matched[stem] = confidence
                for index, field_weight in self._postings.get(stem, ()):
                    value = confidence * field_weight
                    if best.get(index, 0.0) < value:
                        best[index] = value
            for index, value in best.items():
                acc[index] += term.weight * value
        return [(i, v / total, self._phrase_coverage(i, matched), f) for i, v, f in self._top(terms, acc)]

    def _top(self, terms: list[_Term], acc: dict[int, float]) -> list[tuple[int, float, float]]:
        """(entry index, raw score, corroboration factor) of the RERANK best entries once damped.

        An entry sharing only one of the question's several meaningful words keeps SINGLE_WORD_FACTOR of its
        score. Counting is done over the entries' id lists (C speed), not in the scoring loop.
        """
        content = [t for t in terms if t.content]
        if len(content) < 2:
            return [(i, v, 1.0) for i, v in heapq.nlargest(RERANK, acc.items(), key=_second)]
        shared: Counter[int] = Counter()
        for term in content:
            if term.confidence <= 0.0:
                continue
            if term.related:
                stems = (term.stem, *(r for r, _ in term.related))
                shared.update(set().union(*(self._members.get(s, ()) for s in stems)))
            else:
                shared.update(self._members.get(term.stem, ()))
        corroborated = {i for i, n in shared.items() if n >= 2}
        top = heapq.nlargest(
            RERANK, acc.items(), key=lambda iv: iv[1] if iv[0] in corroborated else iv[1] * SINGLE_WORD_FACTOR
        )
        return [(i, v, 1.0 if i in corroborated else SINGLE_WORD_FACTOR) for i, v in top]

    def explain(self, text: str) -> list[tuple[str, str]]:
        """How each meaningful word of the question was understood: (word, note in French)."""
        out: list[tuple[str, str]] = []
        for term in self._terms(text or ""):
            if term.confidence <= 0.0:
                out.append((term.word, "inconnu de la base"))
            elif term.confidence < 1.0:
                out.append((term.word, f"rapproché de « {self._stem_word(term.stem)} »"))
            elif self._norm.weight(term.stem) < 1.0:
                out.append((term.word, "mot courant, peu de poids"))
            else:
                out.append((term.word, "connu"))
        return out

    def _stem_word(self, stem: str) -> str:
        return next((w for w, s in self._word_stem.items() if s == stem), stem)

    @staticmethod
    def combine(query_coverage: float, phrase_coverage: float, corroboration: float = 1.0) -> float:
        return corroboration * ((1.0 - PHRASE_SHARE) * query_coverage + PHRASE_SHARE * phrase_coverage)

    def topic_only(self, text: str) -> int:
        """For a question made of one meaningful word the base knows (« mon wifi », « google ? »), the number of
        entries that name it in their question or alternatives; 0 for a question that says more. A bare topic
        shared by several tutorials is not a question any one of them answers: the chat asks which one."""
        terms = self._terms(text or "")
        # Light words say more too (« nouvelles règles » for rentals is a question): only the word alone counts.
        if len(terms) != 1 or not terms[0].content or terms[0].confidence <= 0.0:
            return 0
        return self._named.get(terms[0].stem, 0)

    def known_share(self, text: str) -> float:
        """The share of the question's weight carried by words the base knows (0 when none)."""
        terms = self._terms(text)
        total = sum(t.weight for t in terms)
        return sum(t.weight for t in terms if t.confidence > 0.0) / total if total > 0.0 else 0.0

    def missing(self, text: str, indices: Iterable[int]) -> dict[int, float]:
        """Per entry, the weight share of the heaviest meaningful word of the question that the entry's
        question, alternatives, tags and theme lack: "imprimante" for the QR-code entry, "tiktok" for the
        Instagram one. Near misses share everything but that word."""
        every = self._terms(text)
        terms = [t for t in every if t.content]
        total = sum(t.weight for t in every)
        out: dict[int, float] = {}
        for index in indices:
            fields = self._fields[index]
            worst = 0.0
            for term in terms:
                stems = (term.stem, *(r for r, _ in term.related))
                if term.confidence > 0.0 and any(fields.get(s, 0.0) >= FIELD_THEME for s in stems):
                    continue
                worst = max(worst, term.weight)
            out[index] = worst / total if total > 0.0 else 0.0
        return out

    def unnamed_actions(self, text: str, indices: Iterable[int]) -> dict[int, float]:
        """Per entry, 1.0 when the question names a kind of action (removing, a hacked account) that the entry
        does not: « supprimer mon compte tiktok » against the tutorial that opens one."""
        wanted = self._norm.actions(text)
        return {i: 1.0 if wanted - self._actions[i] else 0.0 for i in indices}

    def scores(self, text: str) -> list[tuple[int, float, float]]:
        """(entry index, score in [0, 1], query coverage) of the most promising entries, best first."""
        scored = [(i, min(1.0, max(0.0, self.combine(q, p, c))), q) for i, q, p, c in self.features(text or "")]
        scored.sort(key=lambda s: (-s[1], s[0]))
        return scored
