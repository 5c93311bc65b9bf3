"""Message catalogs. French is the default; English the second language.

Every catalog file under bot/i18n/<lang>/ is merged. Arguments are HTML-escaped unless wrapped in
`Safe`, so user text can never inject formatting into a reply.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

from bot import safe_yaml

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
_HERE = Path(__file__).parent


class Safe(str):
    """Text already formatted by the core (escaped or built from catalog strings)."""

    __slots__ = ()


def esc(text: object) -> Safe:
    return Safe(html.escape(str(text), quote=True))


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((_HERE / lang).glob("*.yml")):
        data = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
        for key, value in _flatten(data).items():
            if key in merged:
                raise ValueError(f"{path}: clé « {key} » déjà définie")
            merged[key] = value
    return merged


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = str(value).rstrip("\n")
    return out


def pick_language(*candidates: str | None) -> str:
    for cand in candidates:
        if cand:
            short = cand.lower().split("-")[0].split("_")[0]
            if short in LANGUAGES:
                return short
    return DEFAULT_LANGUAGE


def t(lang: str, key: str, **kwargs: object) -> Safe:
    """Translate `key`; falls back to French, then to the key itself (a visible, testable mistake)."""
    template = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if template is None:
        return Safe(key)
    args = {k: v if isinstance(v, Safe) else esc(v) for k, v in kwargs.items()}
    return Safe(template.format(**args))
