"""argparse speaking French: its errors as one line (exit code 2), its help with French headings.

argparse builds its messages from English templates; we match those templates (stable since Python 3.2)
and rephrase them, rather than patching the module's gettext for the whole process.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from typing import Any, NoReturn

from bot.config import parse_duration

MAX_NUMBER = 2**63 - 1  # ids and counts past 64 bits cannot exist in the database

_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), french)
    for pattern, french in (
        (r"^the following arguments are required: (.+)$", r"arguments obligatoires manquants : \1"),
        (r"^unrecognized arguments: (.+)$", r"arguments inconnus : \1"),
        (r"^argument (.+?): invalid choice: (.+?) \(choose from (.+)\)$", r"argument \1 : \2 invalide (choix : \3)"),
        (r"^argument (.+?): invalid int value: (.+)$", r"argument \1 : nombre entier attendu, reçu \2"),
        (r"^argument (.+?): invalid float value: (.+)$", r"argument \1 : nombre attendu, reçu \2"),
        (r"^argument (.+?): invalid (.+?) value: (.+)$", r"argument \1 : valeur invalide \3"),
        (r"^argument (.+?): expected one argument$", r"argument \1 : une valeur est attendue"),
        (r"^argument (.+?): expected at least one argument$", r"argument \1 : au moins une valeur est attendue"),
        (r"^argument (.+?): expected at most one argument$", r"argument \1 : au plus une valeur est attendue"),
        (r"^argument (.+?): expected (\d+) arguments?$", r"argument \1 : \2 valeur(s) attendue(s)"),
        (r"^argument (.+?): not allowed with argument (.+)$", r"argument \1 : incompatible avec \2"),
        (r"^argument (.+?): ignored explicit argument (.+)$", r"argument \1 : valeur en trop \2"),
        (r"^one of the arguments (.+) is required$", r"un de ces arguments est obligatoire : \1"),
        (r"^ambiguous option: (.+?) could match (.+)$", r"option ambiguë : \1 peut désigner \2"),
        (r"^argument (.+?): (.+)$", r"argument \1 : \2"),
    )
)


def translate(message: str) -> str:
    for pattern, french in _ERRORS:
        if pattern.match(message):
            return pattern.sub(french, message)
    return message


class FrenchHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)


class FrenchArgumentParser(argparse.ArgumentParser):
    """Sub-parsers made by ``add_subparsers`` are of this class too (argparse passes its own type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        self.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")

    def error(self, message: str) -> NoReturn:
        # One line, no usage block: the command named, what is wrong, where to find the help.
        line = " ".join(translate(message).split())
        self.exit(2, f"{self.prog} : {line} (aide : {self.prog} -h)\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def bounded_int(low: int, high: int = MAX_NUMBER) -> Any:
    """An argparse ``type`` for an integer between two bounds; ASCII digits only (« ² » is refused)."""

    def parse(text: str) -> int:
        value = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,19}", value) or not low <= int(value) <= high:
            raise argparse.ArgumentTypeError(f"attendu un nombre entier de {low} à {high}, reçu « {text} »")
        return int(value)

    parse.__name__ = "nombre"
    return parse


def duration(text: str) -> timedelta:
    """An argparse ``type`` for a duration (7j, 2h, 30min), with the config's parser and bounds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def non_blank(text: str) -> str:
    """An argparse ``type`` refusing an empty or blank value."""
    if not text.strip():
        raise argparse.ArgumentTypeError("ne doit pas être vide")
    return text.strip()
