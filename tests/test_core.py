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


def test_the_core_decides_which_answers_are_personal(app: App) -> None:
    # Every reply leaves the core with `personal` decided: from the command table, or by the handler.
    (registered,) = say(app, "gite-du-moulin", "/inscrire", chat="prestataires")
    assert registered.personal is True
    (refusal,) = say(app, "gite-du-moulin", "/annuler 1 neige", chat="prestataires")
    assert refusal.personal is True
    (unknown,) = say(app, "gite-du-moulin", "/zzz", chat="prestataires")
    assert unknown.personal is True
    assert all(r.personal is False for r in say(app, "gite-du-moulin", "/questions", chat="prestataires"))
    # Telegram and the console cannot hide an answer: a question asked there is not echoed to the group.
    asked = say(app, "gite-du-moulin", "/question Comment publier sur Instagram ?", chat="prestataires")
    assert [r.personal for r in asked] == [True]


def test_options_compose_the_text_form_the_handler_parses(app: App) -> None:
    question = app.core.table.find("question")
    assert question is not None
    assert question.compose({"texte": "Comment faire ?", "anonyme": True}) == "anonyme Comment faire ?"
    assert question.compose({"texte": "Comment faire ?", "anonyme": False}) == "Comment faire ?"
    move = app.core.table.find("deplacer")
    assert move is not None
    assert move.compose({"heure": "18:30", "seance": 3, "date": "2026-12-10"}) == "3 2026-12-10 18:30"
    assert move.compose({"seance": 3, "inconnue": "x"}) == "3"


def test_the_platform_locale_is_the_default_until_the_person_chooses(app: App) -> None:
    def aide(language: str | None) -> str:
        user = UserRef("console", "gite-du-moulin", language=language)
        return plain(app.core.handle(Incoming(ChatRef("console", "gite-du-moulin", private=True), user, "/aide")))

    assert aide("en-US").startswith("What I can do for you")
    assert aide("de-DE").startswith("Ce que je sais faire")  # a language Klub does not speak
    assert aide(None).startswith("Ce que je sais faire")
    say(app, "gite-du-moulin", "/langue fr")
    assert aide("en-US").startswith("Ce que je sais faire")  # the choice wins
