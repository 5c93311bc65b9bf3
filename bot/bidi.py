"""Bidirectional-text controls removed from user text before it is shown.

U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates) reorder what follows them: a name
ending in « \u202egnp.exe » reads « exe.png ». Letters of right-to-left scripts keep their natural
direction without them, so removing the controls costs nothing legitimate.
"""

from __future__ import annotations

import re
from typing import TypeVar

CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
Text = TypeVar("Text", bound=str)


def strip_bidi(text: Text) -> Text:
    """The same text without bidi controls; a Markup stays a Markup (the controls are not markup)."""
    if not CONTROLS.search(text):
        return text
    return type(text)(CONTROLS.sub("", text))
