"""Authorisation matrix: every command × role, in private and in both groups, and across offices."""

from __future__ import annotations

import pytest

from bot.bootstrap import App, all_commands
from bot.roles import Role

from .helpers import plain, say

SPEAKERS = {
    Role.GUEST: "inconnu",
    Role.PROVIDER: "gite-du-moulin",
    Role.STAFF: "julien-accueil",
    Role.ANT: "camille-ant",
}
REFUSALS = ("Klub est réservé aux prestataires", "La commande /")  # how the core's single check starts
COMMANDS = [c for c in all_commands() if c.name not in ("start",)]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_every_command_checks_the_role(app: App, command: object) -> None:
    cmd = command
    for role, who in SPEAKERS.items():
        for chat in ("prive", "equipe", "prestataires"):
            if role == Role.GUEST and chat != "prive":
                continue  # a guest is not in the groups: the platforms' gate keeps them out
            text = plain(say(app, who, f"/{cmd.name} 1", chat=chat))  # type: ignore[attr-defined]
            refused = text.startswith(REFUSALS)
            allowed = role >= cmd.min_role and (cmd.where == "any" or (cmd.where == "private") == (chat == "prive"))  # type: ignore[attr-defined]
            assert refused != allowed, f"/{cmd.name} by {role.name} in {chat}: {text}"  # type: ignore[attr-defined]
            assert "problème technique" not in text


def test_nothing_leaks_across_offices(app: App) -> None:
    say(app, "gite-du-moulin", "/question anonyme Une question de l'office des Trois Vallées ?")
    say(app, "gite-du-moulin", "/inscrire 1")
    other = {"who": "nadia-ant", "chat": "equipe", "office": "ot-haut-plateau"}
    for command in (
        "/voter 1",
        "/repondu 1 note",
        "/ecarter 1 non",
        "/fusionner 1 1",
        "/reporter 1 2",
        "/inscrits 1",
        "/annuler 1 neige",
        "/deplacer 1 2026-12-10 18:30",
        "/annoncer 1",
        "/inscrire 1",
        "/modifier 1 x",
        "/supprimer 1",
    ):
        text = plain(say(app, other["who"], command, chat=other["chat"], office=other["office"]))
        assert "Trois Vallées" not in text and "Marie" not in text, command
        assert "Je ne trouve pas" in text or "pas la vôtre" in text, f"{command}: {text}"
    agenda = plain(say(app, "nadia-ant", "/agenda", chat="equipe", office="ot-haut-plateau"))
    assert "Trois Vallées" not in agenda
