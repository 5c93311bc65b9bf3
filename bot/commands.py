"""The command table: French names, English aliases, minimum role and where it may be used."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.roles import Role, allows

if TYPE_CHECKING:
    from bot.core import Ctx
    from bot.messages import Reply

# "equipe": in private or in the office's staff group, never in front of the providers.
Where = Literal["any", "group", "private", "equipe"]
Handler = Callable[["Ctx", str], "list[Reply]"]
OptionKind = Literal["text", "integer", "boolean", "session"]


@dataclass(frozen=True)
class Option:
    """A named argument, for platforms with typed command options (Discord). The command still receives
    one text: `Command.compose` writes the values back in the order its text form expects.

    "session" is a session number the platform may offer to complete (`Core.session_choices`); a
    boolean that is true writes its `word` (e.g. `anonyme`) in front of the other arguments.
    """

    name: str  # French, as shown; lowercase letters, digits, - and _
    en: str  # the English name
    kind: OptionKind = "text"
    required: bool = False
    word: str = ""  # boolean options: the word that stands for "true" in the text form

    @property
    def description_key(self) -> str:
        return f"opt.{self.name}"


@dataclass(frozen=True)
class Command:
    name: str  # French, as typed after the slash
    aliases: tuple[str, ...]  # English and other spellings
    min_role: Role
    where: Where
    handler: Handler
    menu: bool = True  # shown in /aide and in the platforms' command menus
    usage: str = ""  # argument hint, e.g. "<texte>"
    options: tuple[Option, ...] = ()  # the same arguments, named and typed (Discord's slash options)
    personal: bool = False  # its answers concern the speaker alone (shown to them only where possible)
    en: str = ""  # the English name when it is not the first alias (/faq stays /faq, not /q)
    private_list: bool = False  # a personal list: typed in a group, answered in private

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"

    @property
    def english(self) -> str:
        return self.en or (self.aliases[0] if self.aliases else self.name)

    def compose(self, values: Mapping[str, object]) -> str:
        return compose(self.options, values)

    def usable(self, role: Role, private: bool, group_kind: str | None = None) -> bool:
        if not allows(role, self.min_role):
            return False
        if self.where == "equipe":
            return private or group_kind in (None, "equipe")
        return self.where == "any" or (self.where == "private") == private


def compose(options: Iterable[Option], values: Mapping[str, object]) -> str:
    """Named option values -> the text a handler parses: the words of true booleans first, then the
    other values in declaration order. Unknown names are ignored; the handler checks the values."""
    declared = list(options)
    words = [o.word for o in declared if o.kind == "boolean" and o.word and values.get(o.name) is True]
    rest = [
        str(values[o.name]).strip() for o in declared if o.kind != "boolean" and values.get(o.name) not in (None, "")
    ]
    return " ".join(w for w in (*words, *rest) if w)


def canonical(name: str) -> str:
    # Telegram command names cannot hold hyphens: /compte_rendu and /compte-rendu are the same.
    return name.lower().replace("_", "-")


class CommandTable:
    def __init__(self, commands: Iterable[Command]) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        for cmd in commands:
            self._commands.append(cmd)
            for name in (cmd.name, *cmd.aliases):
                key = canonical(name)
                if key in self._by_name:
                    raise ValueError(f"commande /{name} déclarée deux fois")
                self._by_name[key] = cmd

    def all(self) -> list[Command]:
        return list(self._commands)

    def find(self, name: str) -> Command | None:
        return self._by_name.get(canonical(name))

    def closest(self, name: str) -> str | None:
        """The command the user probably meant, for the unknown-command answer."""
        matches = difflib.get_close_matches(canonical(name), list(self._by_name), n=1, cutoff=0.6)
        if not matches:
            return None
        return self._by_name[matches[0]].name

    def visible(self, role: Role, private: bool, group_kind: str | None = None) -> list[Command]:
        return [c for c in self._commands if c.menu and c.usable(role, private, group_kind)]
