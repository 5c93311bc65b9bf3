"""Render the core's small HTML subset (<b>, <i>, <code>, <a href>) for each platform."""

from __future__ import annotations

import html
import re

_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_TAG = re.compile(r"</?(b|i|u|s|code|pre)>")


def to_plain(text: str) -> str:
    """For the console: links become « title (url) », tags vanish, entities are decoded."""

    def link(m: re.Match[str]) -> str:
        url, title = html.unescape(m.group(1)), m.group(2)
        return title if url == html.unescape(_TAG.sub("", title)) else f"{title} ({url})"

    return html.unescape(_TAG.sub("", _LINK.sub(link, text)))


def split_message(text: str, limit: int) -> list[str]:
    """Split under a platform's length limit, at paragraph, then line, then word boundaries."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        parts.append(rest)
    return parts
