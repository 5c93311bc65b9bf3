"""The core's HTML subset, made safe for Telegram's parse_mode=HTML and cut under its length limit."""

from __future__ import annotations

import html
import re

MAX_MESSAGE = 4096  # Telegram's limit, counted in UTF-16 code units
ALLOWED = frozenset({"b", "i", "code", "a"})
_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<name>[a-zA-Z][a-zA-Z0-9]*)(?P<attrs>(?:\s[^<>]*)?)>"
    r"|&(?P<entity>#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});"
    r"|(?P<stray>[<>&])"
)
_HREF = re.compile(r'''\bhref\s*=\s*"([^"]*)"''')
_ATOM = re.compile(r"<[^<>]*>|&[#\w]+;|.", re.DOTALL)
_OPEN = re.compile(r"<([a-z]+)(?:\s[^<>]*)?>")
_CLOSE = re.compile(r"</([a-z]+)>")
_TELEGRAM_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sanitize(text: str) -> str:
    """Keep <b>, <i>, <code>, <a href>; drop every other tag; escape stray `<`, `>`, `&`; balance tags.

    The core already escapes user text: this is the last line of defence, so that a catalog typo or
    an unexpected tag can never make Telegram refuse a message (or render something it should not).
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        if m.group("stray"):
            out.append(html.escape(m.group("stray")))
        elif m.group("entity"):
            name = m.group("entity")
            # Telegram knows four named entities and every numeric one.
            known = name.startswith("#") or name in _TELEGRAM_ENTITIES
            out.append(m.group(0) if known else html.escape(html.unescape(m.group(0))))
        else:
            name = m.group("name").lower()
            if name not in ALLOWED:
                continue
            if m.group("close"):
                if name in stack:
                    while stack:
                        top = stack.pop()
                        out.append(f"</{top}>")
                        if top == name:
                            break
                continue
            if name == "a":
                href = _HREF.search(m.group("attrs") or "")
                if href is None or "a" in stack:
                    continue
                out.append(f'<a href="{href.group(1)}">')
            elif "code" in stack:
                continue  # Telegram allows nothing inside <code>
            else:
                out.append(f"<{name}>")
            stack.append(name)
    out.append(text[pos:])
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^<>]*>", "", text))


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut well-formed HTML into messages of at most `limit` UTF-16 units, at a paragraph, line or
    word boundary when there is one; tags open at a cut are closed and reopened in the next part."""
    if utf16_len(text) <= limit:
        return [text]
    atoms = _ATOM.findall(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) open where the next part starts
    i = 0
    while i < len(atoms):
        prefix = "".join(tag for _, tag in stack)
        size = utf16_len(prefix)
        state = list(stack)
        j = i
        best: tuple[int, int, list[tuple[str, str]]] | None = None  # (priority, cut, stack at cut)
        while j < len(atoms):
            atom = atoms[j]
            after = _apply(state, atom)
            closing = sum(len(name) + 3 for name, _ in after)
            if size + utf16_len(atom) + closing > limit and j > i:
                break
            size += utf16_len(atom)
            state = after
            j += 1
            prio = _boundary(atoms, j)
            if prio and (best is None or prio >= best[0]):
                best = (prio, j, list(state))
        if j < len(atoms) and best is not None and best[1] > i:
            cut, state = best[1], best[2]
        else:
            cut = j
        body = "".join(atoms[i:cut]).rstrip(" \n")
        part = prefix + body + "".join(f"</{name}>" for name, _ in reversed(state))
        if visible(part).strip():
            parts.append(part)
        stack = state
        i = cut
        while i < len(atoms) and atoms[i] in (" ", "\n"):
            i += 1
    return parts


def _apply(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    if not atom.startswith("<"):
        return stack
    m = _CLOSE.fullmatch(atom)
    if m:
        names = [name for name, _ in stack]
        if m.group(1) in names:
            return stack[: len(names) - 1 - names[::-1].index(m.group(1))]
        return stack
    m = _OPEN.fullmatch(atom)
    return [*stack, (m.group(1), atom)] if m else stack


def _boundary(atoms: list[str], j: int) -> int:
    """How good a cut just before atoms[j] is: 3 paragraph, 2 line, 1 word, 0 none."""
    last = atoms[j - 1]
    if last == "\n":
        return 3 if j >= 2 and atoms[j - 2] == "\n" else 2
    return 1 if last == " " else 0


def command_name(name: str) -> str | None:
    """Telegram menus take [a-z0-9_]{1,32}: /compte-rendu is published as /compte_rendu."""
    candidate = name.lower().replace("-", "_")
    return candidate if _COMMAND.match(candidate) else None


def command_description(text: str) -> str:
    plain = " ".join(visible(text).split())
    return (plain[:253] + "…") if len(plain) > 256 else (plain or "…")
