"""The command table: French names, English aliases, minimum role and where it may be used."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.roles import Role, allows

if TYPE_CHECKING:
    from bot.core import Ctx
    from bot.messages import Reply

# "equipe": in private or in the office's staff group, never in front of the providers.
Where = Literal["any", "group", "private", "equipe"]
Handler = Callable[["Ctx", str], "list[Reply]"]


@dataclass(frozen=True)
class Command:
    name: str  # French, as typed after the slash
    aliases: tuple[str, ...]  # English and other spellings
    min_role: Role
    where: Where
    handler: Handler
    menu: bool = True  # shown in /aide and in the platforms' command menus
    usage: str = ""  # argument hint, e.g. "<texte>"
    personal: bool = False  # a personal list: typed in a group, it is answered in private

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"

    def usable(self, role: Role, private: bool, group_kind: str | None = None) -> bool:
        if not allows(role, self.min_role):
            return False
        if self.where == "equipe":
            return private or group_kind in (None, "equipe")
        return self.where == "any" or (self.where == "private") == private


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
