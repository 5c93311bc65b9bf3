"""Core routing: help by role, unknown commands, refusals, unconfigured chats, bad input."""

from __future__ import annotations

from bot.bootstrap import App
from bot.commands import CommandTable, canonical
from bot.messages import ChatRef, Incoming, UserRef
from bot.storage.tables import Identity, Person

from .helpers import plain, say


def test_help_lists_only_what_the_caller_may_do(app: App) -> None:
    provider = plain(say(app, "gite-du-moulin", "/aide"))
    assert provider.startswith("Ce que je sais faire pour vous")
    assert "/langue" in provider
    guest = plain(say(app, "inconnu", "/aide"))
    assert "/langue" not in guest
    assert "code d'invitation" in guest


def test_english_alias_and_english_speaker(app: App) -> None:
    # hotel-du-lac is declared with language: en in the example config
    assert plain(say(app, "hotel-du-lac", "/help")).startswith("What I can do for you")
    assert plain(say(app, "gite-du-moulin", "/help")).startswith("Ce que je sais faire")


def test_unknown_command_suggests_the_closest(app: App) -> None:
    assert "Vouliez-vous dire /aide ?" in plain(say(app, "gite-du-moulin", "/aid"))
    assert "Je ne connais pas la commande /zzz" in plain(say(app, "gite-du-moulin", "/zzz"))


def test_unknown_command_name_is_escaped(app: App) -> None:
    replies = say(app, "gite-du-moulin", "/x<b>")
    assert "/x&lt;b&gt;" in replies[0].text


def test_start_welcomes_members_by_first_name_and_guests_with_how_to_join(app: App) -> None:
    assert "Bonjour Marie" in plain(say(app, "gite-du-moulin", "/start"))
    assert "code d'invitation" in plain(say(app, "quelquun", "/start"))


def test_language_switch_is_stored(app: App) -> None:
    assert "Noted" in plain(say(app, "gite-du-moulin", "/langue en"))
    assert plain(say(app, "gite-du-moulin", "/aide")).startswith("What I can do")
    assert "Précisez la langue" in plain(say(app, "camping-les-pins", "/langue de"))


def test_guest_cannot_use_member_commands(app: App) -> None:
    assert "réservé aux prestataires" in plain(say(app, "inconnu", "/langue en"))


def test_unconfigured_chat_is_told_once_then_left(app: App) -> None:
    incoming = Incoming(ChatRef("console", "nowhere:prestataires"), UserRef("console", "gite-du-moulin"), "/aide")
    first = app.core.handle(incoming)
    assert len(first) == 1 and first[0].leave_chat
    assert "n'est pas configuré" in plain(first)
    assert app.core.handle(incoming) == []


def test_too_long_message_is_refused_clearly(app: App) -> None:
    assert "trop long" in plain(say(app, "gite-du-moulin", "/aide " + "x" * 10_000))


def test_empty_message_gets_no_reply(app: App) -> None:
    assert say(app, "gite-du-moulin", "   ") == []


def test_revoked_person_is_treated_as_guest(app: App) -> None:
    with app.sessions.begin() as db:
        person = db.query(Person).filter_by(slug="gite-du-moulin").one()
        person.active = False
    assert "réservé aux prestataires" in plain(say(app, "gite-du-moulin", "/langue en"))


def test_identity_last_seen_is_recorded(app: App) -> None:
    say(app, "camping-les-pins", "/aide")
    with app.sessions() as db:
        ident = db.query(Identity).filter_by(platform="console", platform_user_id="camping-les-pins").one()
        assert ident.last_seen_at == app.clock.now()


def test_command_names_accept_underscore_for_hyphen() -> None:
    assert canonical("compte_rendu") == canonical("Compte-Rendu")


def test_command_table_rejects_duplicates() -> None:
    from bot.handlers.base import COMMANDS

    try:
        CommandTable([*COMMANDS, COMMANDS[0]])
    except ValueError as exc:
        assert "deux fois" in str(exc)
    else:
        raise AssertionError("duplicate command accepted")
