"""French text normalisation for the FAQ engine: the same pipeline runs on the tutorials and on questions.

fold (case, accents) -> symbols -> elisions and punctuation -> domain synonyms (longest phrase first)
-> stop words and chat noise out -> plural and Snowball stem.

The domain vocabulary lives in ``data/vocabulary.yml`` so that it can grow without touching code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer

from bot import safe_yaml

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_VOCABULARY = DATA_DIR / "vocabulary.yml"

# Weight classes of a stem, relative to an ordinary word.
LIGHT_WEIGHT = 0.25
ENTITY_WEIGHT = 1.6

# Letters left alone by an elision ("l'", "d'"…) or typed without the apostrophe ("chambre d hotes").
_ELIDED = frozenset({"l", "d", "j", "m", "t", "s", "c", "n", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"})
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HAS_DIGIT = re.compile(r"\d")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Lower-case and strip accents: users type "evenement" as often as "événement"."""
    text = text.translate(_LIGATURES).translate(_APOSTROPHES).lower()
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def split_words(folded: str) -> list[str]:
    """Words of a folded text: punctuation, emoji and elided articles/pronouns dropped."""
    return [w for w in _WORD.findall(folded) if w not in _ELIDED]


@lru_cache(maxsize=1)
def _french_stemmer() -> Any:
    return snowballstemmer.stemmer("french")


@dataclass(frozen=True)
class Vocabulary:
    """The data file, parsed: see ``data/vocabulary.yml`` for what each part means."""

    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    case_sensitive: Mapping[str, str] = field(default_factory=dict)
    symbols: Mapping[str, str] = field(default_factory=dict)
    noise: frozenset[str] = frozenset()
    stopwords: frozenset[str] = frozenset()
    light: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()
    actions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> word starts

    @classmethod
    def load(cls, path: Path = DEFAULT_VOCABULARY) -> Vocabulary:
        raw = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
        _only_strings(raw, path.name)

        def words(key: str) -> frozenset[str]:
            return frozenset(fold(w) for w in raw.get(key) or ())

        return cls(
            synonyms={fold(k): tuple(fold(v) for v in vs or ()) for k, vs in (raw.get("synonyms") or {}).items()},
            case_sensitive={str(k): fold(str(v)) for k, v in (raw.get("case_sensitive") or {}).items()},
            symbols={str(k): fold(str(v)) for k, v in (raw.get("symbols") or {}).items()},
            noise=words("noise"),
            stopwords=words("stopwords"),
            light=words("light"),
            entities=words("entities"),
            actions={str(k): tuple(fold(v) for v in vs or ()) for k, vs in (raw.get("actions") or {}).items()},
        )


class Normalizer:
    """Turns French text into weighted stems. Deterministic and cheap; results of stemming are cached."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        vocab = vocabulary if vocabulary is not None else _default_vocabulary()
        self._drop = vocab.noise | vocab.stopwords
        self._phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        for canonical, variants in vocab.synonyms.items():
            target = tuple(split_words(canonical))
            for variant in (*variants, canonical):
                key = tuple(split_words(variant))
                if key and key != target:
                    self._phrases[key] = target
        # Longest phrase starting with each word: most words start none, and skip the search.
        self._starts: dict[str, int] = {}
        for key in self._phrases:
            self._starts[key[0]] = max(self._starts.get(key[0], 0), len(key))
        self._case_targets = {abbr: f" {target} " for abbr, target in vocab.case_sensitive.items()}
        self._case_pattern = (
            re.compile(rf"(?<![^\W_])(?:{'|'.join(map(re.escape, self._case_targets))})(?![^\W_])")
            if self._case_targets
            else None
        )
        self._symbols = dict(vocab.symbols)
        self._stem_cache: dict[str, str] = {}
        self._light = self._stem_set(vocab.light)
        self._entities = self._stem_set(vocab.entities) - self._light
        self._actions = dict(vocab.actions)

    def _stem_set(self, words: Iterable[str]) -> frozenset[str]:
        stems: set[str] = set()
        for phrase in words:
            stems.update(self.stems(phrase, keep_light=True))
        return frozenset(stems)

    def actions(self, text: str) -> frozenset[str]:
        """The kinds of action (``actions`` of the vocabulary: removing, a hacked account…) a text names: words
        starting with one of the kind's beginnings (« supprim » is « supprimer », « supprimez », « supprimé »)."""
        words = split_words(fold(text))
        return frozenset(kind for kind, starts in self._actions.items() if any(w.startswith(starts) for w in words))

    def expendable(self, word: str) -> int:
        """How little a typed word says, for shortening a long question before the model: 2 for stop words and
        chat noise ("de", "m'a", "svp"), 1 for light words ("faire", "fallait"), 0 for the rest."""
        parts = split_words(fold(word))
        if all(p in self._drop for p in parts):
            return 2
        if all(p in self._drop or self.weight(self.stem(p)) < 1.0 for p in parts):
            return 1
        return 0

    # -- pipeline -------------------------------------------------------------------------------------

    def words(self, text: str) -> list[str]:
        """Canonical content words, unstemmed: synonyms applied, stop words and noise removed."""
        if self._case_pattern is not None:
            text = self._case_pattern.sub(lambda m: self._case_targets[m.group(0)], text)
        folded = fold(text)
        for symbol, word in self._symbols.items():
            if symbol in folded:
                folded = folded.replace(symbol, f" {word} ")
        # Synonyms twice: as typed ("mot de passe"), then without stop words ("bandeau des cookies").
        words = [w for w in self._apply_phrases(split_words(folded)) if w not in self._drop]
        words = self._apply_phrases(words, min_size=2)
        return [w for w in words if w not in self._drop and not _HAS_DIGIT.search(w) and len(w) > 1]

    def _apply_phrases(self, raw: list[str], min_size: int = 1) -> list[str]:
        """Replace known phrases, longest first; min_size=2 keeps single canonical words as they are."""
        out: list[str] = []
        i = 0
        n = len(raw)
        while i < n:
            longest = self._starts.get(raw[i], 0)
            for size in range(min(longest, n - i), min_size - 1, -1):
                target = self._phrases.get(tuple(raw[i : i + size]))
                if target is not None:
                    out.extend(target)
                    i += size
                    break
            else:
                out.append(raw[i])
                i += 1
        return out

    def stem(self, word: str) -> str:
        cached = self._stem_cache.get(word)
        if cached is None:
            base = word
            # Snowball keeps the plural of some words ("photos"): drop it first, on both sides alike.
            if len(base) > 3 and base[-1] in "sx" and base[-2] not in "siux":
                base = base[:-1]
            cached = _french_stemmer().stemWord(base) or base
            if len(self._stem_cache) < 200_000:
                self._stem_cache[word] = cached
        return cached

    def stems(self, text: str, *, keep_light: bool = True) -> list[str]:
        stems = [self.stem(w) for w in self.words(text)]
        if not keep_light:
            stems = [s for s in stems if s not in self._light]
        return stems

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(canonical word, stem) pairs: the word is kept for typo matching."""
        return [(w, self.stem(w)) for w in self.words(text)]

    def weight(self, stem: str) -> float:
        """How much a stem says about the topic, before any base statistics."""
        if stem in self._light:
            return LIGHT_WEIGHT
        if stem in self._entities:
            return ENTITY_WEIGHT
        return 1.0

    def is_entity(self, stem: str) -> bool:
        return stem in self._entities


def _only_strings(node: Any, where: str) -> None:
    """YAML turns a bare `on` or `no` into a boolean: refuse anything but text in the vocabulary."""
    if isinstance(node, dict):
        for key, value in node.items():
            _only_strings(key, where)
            _only_strings(value, f"{where}: {key}")
    elif isinstance(node, list):
        for item in node:
            _only_strings(item, where)
    elif node is not None and not isinstance(node, str):
        raise ValueError(f"{where} : « {node!r} » n'est pas un texte (mettez-le entre guillemets)")


@lru_cache(maxsize=1)
def _default_vocabulary() -> Vocabulary:
    return Vocabulary.load()


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    return Normalizer()
