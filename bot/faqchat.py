"""The tutorial base in chat: load once, match, render an entry, and know when to stay quiet."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.config import Config
from bot.faq.loader import Base, Entry, load_base
from bot.faq.matcher import DEFAULT_THRESHOLD, Matcher, MatchResult
from bot.faq.normalize import Normalizer, default_normalizer
from bot.i18n import Safe, t

log = logging.getLogger(__name__)

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_QUESTION_START = re.compile(
    r"^(comment|pourquoi|ou|où|quand|quel|quelle|quels|quelles|est-ce|est ce|peut-on|peut on|"
    r"qui|combien|que|qu'|how|what|why|where|when|can|is|do)\b",
    re.IGNORECASE,
)


def markdown_to_html(text: str) -> Safe:
    """The tutorial Markdown subset (bold, italic, code, links) into the core's HTML subset, escaped first."""
    out = html.escape(text.strip(), quote=False)
    out = _LINK.sub(lambda m: f'<a href="{html.escape(m.group(2), quote=True)}">{m.group(1)}</a>', out)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    return Safe(out)


def looks_like_a_question(text: str) -> bool:
    """Unprompted group answers only for messages that ask something, not for chatter."""
    stripped = text.strip()
    return "?" in stripped or bool(_QUESTION_START.match(stripped))


_LOADED: dict[tuple[object, ...], Base] = {}


def _fingerprint(folders: tuple[str, ...]) -> tuple[object, ...]:
    """What the base was read from: every file's path, size and modification time."""
    marks: list[object] = []
    for folder in folders:
        path = Path(folder)
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            marks.append((str(file.resolve()), stat.st_size, stat.st_mtime_ns))
    return (folders, *marks)


def _load_shared(folders: tuple[str, ...]) -> Base:
    """A Base is immutable: apps of one process reading the same unchanged files share it (tests, restarts)."""
    key = _fingerprint(folders)
    base = _LOADED.get(key)
    if base is None:
        base = load_base(list(folders))
        _LOADED.clear()  # keep only the latest: an edited base is read again, the old one let go
        _LOADED[key] = base
    return base


@dataclass
class Faq:
    config: Config

    @cached_property
    def base(self) -> Base:
        # Loaded at start-up (bootstrap): a missing or broken base refuses to start, with the file named,
        # rather than quietly forwarding every question to the team.
        return _load_shared(tuple(self.config.faq.bases))

    def reload(self) -> None:
        """Forget the loaded base: the next question reads the files again (a tutorial saved from the web)."""
        for name in ("base", "matcher"):
            self.__dict__.pop(name, None)

    @cached_property
    def matcher(self) -> Matcher:
        cache = self.config.faq.cache_dir
        return Matcher(self.base, threshold=self.threshold, cache_dir=Path(cache) if cache else None)

    @property
    def threshold(self) -> float:
        return self.config.faq.threshold if self.config.faq.threshold is not None else DEFAULT_THRESHOLD

    @property
    def group_threshold(self) -> float:
        return max(self.config.faq.group_threshold, self.threshold)

    @cached_property
    def normalizer(self) -> Normalizer:
        return default_normalizer()

    def match(self, text: str) -> MatchResult:
        return self.matcher.match(text)

    def render(self, entry: Entry, lang: str) -> Safe:
        lines = [f"<b>{html.escape(entry.question, quote=False)}</b>", markdown_to_html(entry.answer)]
        for link in entry.links:
            href = html.escape(link.url, quote=True)
            lines.append(f'🔗 <a href="{href}">{html.escape(link.title, quote=False)}</a>')
        lines.append(t(lang, "faq.source", theme=entry.theme, id=entry.id))
        return Safe("\n".join(lines))

    def similarity(self, a: str, b: str) -> float:
        """Overlap of the content stems of two questions (0–1): for spotting duplicates."""
        return stem_overlap(self.stem_set(a), self.stem_set(b))

    def stem_set(self, text: str) -> frozenset[str]:
        """The content stems `similarity` compares: computed once per question when comparing many."""
        return frozenset(self.normalizer.stems(text, keep_light=False))


def stem_overlap(sa: frozenset[str], sb: frozenset[str]) -> float:
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb)) * (2 * len(sa & sb) / (len(sa) + len(sb))) ** 0.5
