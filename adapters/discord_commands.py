"""Slash commands from the core's command table, both ways: the JSON Discord's bulk upsert takes (French
names, English localisations, typed options), and an interaction's name and options back to the text the
core parses (`/inscrire 12`). Which options exist is the table's (`Command.options`); this renders them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters import discord_render
from bot.commands import Command, CommandTable, Option, compose
from bot.i18n import t

MAX_DESCRIPTION = 100  # command, option and choice texts
MAX_CHOICES = 25  # autocomplete answers
ENGLISH = ("en-US", "en-GB")
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
# Discord's option types: STRING, INTEGER, BOOLEAN. A session is its number, completed as it is typed.
_TYPES = {"text": 3, "integer": 4, "boolean": 5, "session": 4}
VERIFY = "verifier"  # Discord's own way in: /verifier code:…, the same as Telegram's /start CODE
VERIFY_TARGET = "start"


def description(text: str) -> str:
    return discord_render.clip(discord_render.plain(text), MAX_DESCRIPTION) or "…"


@dataclass(frozen=True)
class Slash:
    name: str  # as registered: the French name
    target: str  # the core command it runs
    options: tuple[Option, ...]
    description_key: str
    en_name: str | None = None  # None: English speakers see the French name too
    private: bool = False  # the exchange belongs to the user alone (/verifier): never in the channel

    def text(self, values: Mapping[str, object]) -> str:
        return f"/{self.target} {compose(self.options, values)}".strip()

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": 1,
            "name": self.name,
            "description": description(t("fr", self.description_key)),
            "description_localizations": _english(description(t("en", self.description_key))),
        }
        if self.en_name:
            out["name_localizations"] = _english(self.en_name)
        # Discord wants the required options first; the text form keeps the declared order.
        ordered = sorted(self.options, key=lambda o: not o.required)
        out["options"] = [_option(o) for o in ordered]
        return out


def _english(value: str) -> dict[str, str]:
    return dict.fromkeys(ENGLISH, value)


def _option(option: Option) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": _TYPES[option.kind],
        "name": option.name,
        "description": description(t("fr", option.description_key)),
        "description_localizations": _english(description(t("en", option.description_key))),
        "required": option.required,
    }
    if option.en != option.name:
        out["name_localizations"] = _english(option.en)
    if option.kind == "session":
        out["autocomplete"] = True
    if option.kind in ("integer", "session"):
        out["min_value"] = 1
    return out


def _slash_name(name: str) -> str | None:
    name = name.lower()
    return name if _NAME.match(name) else None


class SlashTable:
    """One slash command per menu command of the core, plus /verifier (mapped to the core's /start)."""

    def __init__(self, table: CommandTable) -> None:
        self._by_name: dict[str, Slash] = {}
        commands = [c for c in table.all() if c.menu and _slash_name(c.name) is not None]
        french = {_slash_name(c.name) for c in commands}
        english: set[str] = set()
        for cmd in commands:
            name = _slash_name(cmd.name)
            if name is None or name in self._by_name:
                continue
            en = _slash_name(cmd.english) if cmd.english.isascii() else None
            # English speakers see the localised names: each must be unique among them.
            if en == name or en in english or (en in french and en != name):
                en = None
            if en is not None:
                english.add(en)
            self._by_name[name] = _slash(cmd, name, en)
        start = table.find(VERIFY_TARGET)
        if VERIFY not in self._by_name and start is not None:
            code = tuple(Option(o.name, o.en, o.kind, True, o.word) for o in start.options)
            self._by_name[VERIFY] = Slash(VERIFY, VERIFY_TARGET, code, "discord.cmd_verifier", "verify", private=True)

    def all(self) -> list[Slash]:
        return list(self._by_name.values())

    def find(self, name: str) -> Slash | None:
        return self._by_name.get(name)

    def payloads(self) -> list[dict[str, Any]]:
        return [s.payload() for s in self._by_name.values()]


def _slash(cmd: Command, name: str, en: str | None) -> Slash:
    return Slash(name, cmd.name, cmd.options, cmd.description_key, en, private=name == VERIFY)


def option_values(data: Mapping[str, Any]) -> tuple[dict[str, object], str | None, str]:
    """An interaction's options -> (values by name, the focused option's name, what is typed in it)."""
    values: dict[str, object] = {}
    focused: str | None = None
    typed = ""
    for item in data.get("options") or []:
        name = str(item.get("name", ""))
        value = item.get("value")
        if item.get("focused"):
            focused, typed = name, "" if value is None else str(value)
            continue
        if isinstance(value, bool | int | str):
            values[name] = value
    return values, focused, typed


def choices(found: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The core's (number, label) pairs as Discord choices: plain text, cut to Discord's limits."""
    return [{"name": description(label), "value": number} for number, label in found[:MAX_CHOICES]]
