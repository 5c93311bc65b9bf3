"""The core's HTML subset (<b>, <i>, <code>, <a href>) as Discord Markdown, cut under Discord's limits.

User text reaches Discord inert: Markdown is escaped (discord.utils.escape_markdown), @everyone/@here
get a zero-width space (discord.utils.escape_mentions) and `<@…>`-style tokens are backslash-escaped,
so nothing a provider typed can format, ping or impersonate a mention. The adapter also sends every
message with AllowedMentions.none(): this module is the first line of defence, not the only one.
"""

from __future__ import annotations

import html
import re
import warnings
from dataclasses import dataclass
from urllib.parse import quote

with warnings.catch_warnings():
    # discord.py imports audioop for voice (deprecated in 3.11, gone in 3.13); Klub has no voice.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord.utils

MAX_MESSAGE = 2000  # characters per message
MAX_CUSTOM_ID = 100  # a button's custom_id
MAX_LABEL = 80  # a button's label
MAX_COMMAND_DESCRIPTION = 100
MAX_EVENT_NAME = 100
MAX_EVENT_LOCATION = 100
MAX_EVENT_DESCRIPTION = 1000

_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<name>[a-zA-Z][a-zA-Z0-9]*)(?P<attrs>(?:\s[^<>]*)?)>"
    r"|(?P<text>[^<]+|<)"
)
_HREF = re.compile(r'''\bhref\s*=\s*"([^"]*)"''')
_SAFE_URL = re.compile(r"^(https?://|mailto:)\S+$", re.IGNORECASE)
# Discord turns <@id>, <@&id>, <#id>, </cmd:id>, <:emoji:id>, <a:emoji:id>, <t:…>, <id:browse>,
# <id:customize>… into rich tokens: any `<` opening a sigil or a `word:` is escaped.
_RICH = re.compile(r"<(?=[@#/:]|[a-zA-Z]+:)")
# One backslash escape at a time, so that an escaped backslash is never mistaken for an escape.
_ESCAPED_OR_BRACKET = re.compile(r"\\.|[\[\]]", re.DOTALL)
_FRAGMENT = re.compile(r"\S+\s*|\s+")
_STYLES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "code": "code", "pre": "code"}


@dataclass(frozen=True)
class Style:
    bold: bool = False
    italic: bool = False
    code: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Run:
    text: str  # unescaped, as the reader should see it
    style: Style


def utf16_len(text: str) -> int:
    # Counting UTF-16 units is never below Discord's own count: a safe measure for the limit.
    return len(text.encode("utf-16-le")) // 2


def escape_text(text: str) -> str:
    """Plain user-visible text made inert for Discord Markdown."""
    escaped = discord.utils.escape_markdown(text)
    escaped = discord.utils.escape_mentions(escaped)
    # escape_markdown escapes a whole `[…](…)` with one backslash, which leaves a second masked link
    # in the same text live: every bracket is escaped on its own instead.
    escaped = _ESCAPED_OR_BRACKET.sub(_bracket, escaped)
    return _RICH.sub(r"\\<", escaped)


def _bracket(m: re.Match[str]) -> str:
    token = m.group(0)
    return token if token.startswith("\\") else "\\" + token


def parse(text: str) -> list[Run]:
    """The core's HTML as styled runs; unknown tags are dropped, unbalanced ones tolerated."""
    runs: list[Run] = []
    bold = italic = code = 0
    links: list[str | None] = []
    for m in _TOKEN.finditer(text):
        if m.group("text") is not None:
            chunk = html.unescape(m.group("text"))
            if chunk:
                href = next((h for h in reversed(links) if h), None)
                runs.append(Run(chunk, Style(bold > 0, italic > 0, code > 0, href)))
            continue
        name = m.group("name").lower()
        closing = bool(m.group("close"))
        if name == "a":
            if closing:
                if links:
                    links.pop()
            else:
                href_match = _HREF.search(m.group("attrs") or "")
                url = html.unescape(href_match.group(1)) if href_match else ""
                links.append(url if _SAFE_URL.match(url) else None)
            continue
        if name == "br" and not closing:
            runs.append(Run("\n", Style()))
            continue
        kind = _STYLES.get(name)
        step = -1 if closing else 1
        if kind == "bold":
            bold = max(0, bold + step)
        elif kind == "italic":
            italic = max(0, italic + step)
        elif kind == "code":
            code = max(0, code + step)
    return runs


def _code(text: str) -> str:
    if "`" not in text:
        return f"`{text}`"
    inner = text.replace("``", "`\u200b`")  # a double backtick would end the span early
    return f"`` {inner} ``"


def _url(url: str) -> str:
    # Inside <…> the URL may not contain spaces or angle brackets; parentheses would end the link.
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._")


def render_run(run: Run) -> str:
    text = run.text
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    style = run.style
    if style.code:
        body = _code(core)
    else:
        body = escape_text(core)
        if style.href is not None:
            url = _url(style.href)
            # Masked link with <url>: no embed preview, like the other adapters' disabled link previews.
            body = f"<{url}>" if core == style.href else f"[{body}](<{url}>)"
    if style.italic:
        body = f"*{body}*"
    if style.bold:
        body = f"**{body}**"
    return lead + body + trail


def _render_runs(runs: list[Run]) -> str:
    merged: list[Run] = []
    for run in runs:
        if merged and merged[-1].style == run.style:
            merged[-1] = Run(merged[-1].text + run.text, run.style)
        else:
            merged.append(run)
    return "".join(render_run(r) for r in merged).strip()


def render(text: str) -> str:
    return _render_runs(parse(text))


def plain(text: str) -> str:
    """Visible text only (button labels, command and event descriptions): no Markdown at all."""
    return " ".join("".join(r.text for r in parse(text)).split())


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _priority(fragment: str) -> int:
    """How good a cut after this fragment is: 3 paragraph, 2 line, 1 word."""
    tail = fragment[len(fragment.rstrip()) :]
    if not tail:
        return 0  # inside a word (a style change): cut only if nothing better
    if tail.count("\n") >= 2:
        return 3
    return 2 if "\n" in tail else 1


def split(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Render and cut into messages of at most `limit` characters, at a paragraph, line or word boundary
    when possible; formatting that spans a cut is closed and reopened (each part is rendered alone)."""
    pieces: list[tuple[Run, int]] = []
    for run in parse(text):
        for frag in _FRAGMENT.findall(run.text):
            piece = Run(frag, run.style)
            cost = utf16_len(render_run(piece))
            if cost <= limit:
                pieces.append((piece, cost))
                continue
            step = max(1, limit // 3)  # escaping at most doubles a character, plus the markers
            for i in range(0, len(frag), step):
                chunk = Run(frag[i : i + step], run.style)
                pieces.append((chunk, utf16_len(render_run(chunk))))
    groups: list[list[tuple[Run, int]]] = []
    current: list[tuple[Run, int]] = []
    size = 0
    for entry in pieces:
        while current and size + entry[1] > limit:
            cut = _best_cut(current, limit)
            groups.append(current[:cut])
            current = current[cut:]
            size = sum(c for _, c in current)
        current.append(entry)
        size += entry[1]
    if current:
        groups.append(current)
    parts: list[str] = []
    for group in groups:
        rendered = _render_runs([r for r, _ in group])
        while utf16_len(rendered) > limit:  # never expected: merging only removes markers
            parts.append(rendered[: limit // 2])
            rendered = rendered[limit // 2 :]
        if rendered:
            parts.append(rendered)
    return parts


def _best_cut(current: list[tuple[Run, int]], limit: int) -> int:
    total = 0
    best: dict[int, int] = {}
    for i, (run, cost) in enumerate(current, start=1):
        total += cost
        prio = _priority(run.text)
        if prio and total >= limit * 0.3:  # no tiny first message for the sake of a better boundary
            best[prio] = i
    for prio in (3, 2, 1):
        if prio in best:
            return best[prio]
    return len(current)
