"""Chat security, one rule per test: other bots' commands, privacy of what is asked in private,
personal lists, staff-only sessions, invitations and the confirmation of a replaced account, and
user text made inert in Discord messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.discord_render import escape_text, render, split
from adapters.render import to_plain
from bot import gate
from bot.config import Config
from bot.messages import ChatRef, GateReply, Incoming, UserRef
from bot.storage.tables import AuditLog, Identity, Invite

from .conftest import paris
from .world import PRIVMARK, STAFFMARK, World, digest, play


@pytest.fixture
def world(config: Config, database_url: str) -> Iterator[World]:
    w = World(config, database_url, paris("2026-11-20 09:00"))
    yield w
    w.close()


def test_a_command_for_another_bot_is_ignored_by_the_core(world: World) -> None:
    app, ids = world.app, world.ids
    before = digest(app)
    chat = ChatRef("console", "ot-trois-vallees:equipe")
    user = UserRef("console", "camille-ant")
    line = f"/annuler@un_autre_bot {ids.session} neige"
    assert app.core.handle(Incoming(chat, user, line, bot_username="klub_bot")) == []
    assert app.core.handle(Incoming(chat, user, line)) == []  # a bot that does not know its name: not for us
    assert digest(app) == before and app.outbox.drain("console") == []
    mine = app.core.handle(Incoming(chat, user, "/aide@Klub_Bot", bot_username="klub_bot"))
    assert "Ce que je sais faire" in to_plain(mine[0].text)


def test_a_private_question_never_reaches_the_group_report(world: World) -> None:
    app, ids = world.app, world.ids
    play(app, "camille-ant", f"/repondu {ids.private_q} Une recette se partage sur la page de l'office.", "prive")
    play(app, "camille-ant", f"/repondu {ids.public_q} Voir la fiche taxe de séjour.", "prive")
    app.clock.advance(paris("2026-12-04 09:00") - app.clock.now())  # type: ignore[attr-defined]
    outcome = play(app, "camille-ant", f"/compte-rendu {ids.session}", "A-equipe")
    assert not outcome.refused, outcome.keys
    (sent,) = [m for m in outcome.sent if m.chat.chat_id.endswith(":prestataires")]
    text = to_plain(sent.reply.text)
    assert PRIVMARK not in text and "tarte" not in text
    assert "Une question reçue en privé" in text and "page de l'office" in text  # the ANT's answer only
    assert "taxe de séjour" in text


def test_personal_lists_typed_in_a_group_are_answered_in_private(world: World) -> None:
    outcome = play(world.app, "gite-du-moulin", "/mesquestions", "A-prestataires")
    public = [r for r in outcome.replies if not r.private]
    private = [r for r in outcome.replies if r.private]
    assert [to_plain(r.text) for r in public] == ["Je vous ai répondu en message privé."]
    assert PRIVMARK in to_plain(private[0].text)  # hers: she sees it, alone
    outcome = play(world.app, "julien-accueil", f"/inscrits {world.ids.session}", "A-equipe")
    assert "Thomas Bernard" not in "".join(to_plain(r.text) for r in outcome.replies if not r.private)
    assert any("Thomas Bernard" in to_plain(r.text) for r in outcome.replies if r.private)


def test_staff_only_sessions_stay_out_of_the_providers_group(world: World) -> None:
    app, ids = world.app, world.ids
    for line in ("/klubs", "/prochain", f"/inscrits {ids.staff_session}", f"/agenda {ids.staff_session}"):
        outcome = play(app, "camille-ant", line, "A-prestataires")
        assert all(STAFFMARK not in to_plain(r.text) for r in outcome.replies), line
    assert STAFFMARK in "".join(to_plain(r.text) for r in play(app, "julien-accueil", "/klubs", "A-equipe").replies)
    # Created from the providers' group, a staff-only session is described to its creator in private.
    outcome = play(
        app, "camille-ant", '/klub titre="Point STAFFMARK" date=2026-12-15 heure=10h pour=equipe', "A-prestataires"
    )
    assert all(STAFFMARK not in to_plain(r.text) for r in outcome.replies if not r.private)
    assert any(STAFFMARK in to_plain(r.text) for r in outcome.replies if r.private)


def test_providers_cannot_vote_for_a_question_they_cannot_see(world: World) -> None:
    before = digest(world.app)
    outcome = play(world.app, "camping-les-pins", f"/voter {world.ids.private_q}", "prive")
    assert outcome.keys == ["question.unknown"] and digest(world.app) == before


def test_nobody_invites_above_their_role(world: World) -> None:
    before = digest(world.app)
    assert play(world.app, "camille-ant", "/inviter coord-pays", "prive").keys == ["gate.invite_higher"]
    assert play(world.app, "julien-accueil", "/inviter camping-les-pins", "prive").refused
    assert digest(world.app) == before


def _code(world: World, slug: str) -> str:
    outcome = play(world.app, "camille-ant", f"/inviter {slug}", "prive")
    (reply,) = [r for r in outcome.replies if isinstance(r, GateReply)]
    return reply.invite_code


def test_replacing_a_linked_account_needs_the_ants_confirmation(world: World) -> None:
    app = world.app
    code = _code(world, "gite-du-moulin")  # Marie already has a console account
    outcome = play(app, "nouveau-telephone", f"/start {code}", "prive")
    assert outcome.keys == ["gate.pending_confirmation"]
    (notice,) = outcome.sent
    assert notice.chat.chat_id == "ot-trois-vallees:equipe" and "/confirmer" in notice.reply.text
    with app.sessions() as db:
        invite = db.scalars(select(Invite)).one()
        assert invite.used_at is None and invite.pending_by == "console:nouveau-telephone"
        assert db.scalar(select(Identity).where(Identity.platform_user_id == "nouveau-telephone")) is None
    assert play(app, "nouveau-telephone", "/mesquestions", "prive").keys == ["core.not_member"]
    # Only an ANT of the office confirms.
    assert play(app, "julien-accueil", f"/confirmer {invite.id}", "A-equipe").refused
    assert play(app, "nadia-ant", f"/confirmer {invite.id}", "prive").keys == ["gate.nothing_pending"]
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    outcome = play(app, "camille-ant", f"/confirmer {invite.id}", "A-equipe")
    assert outcome.keys[-1] == "gate.confirmed"
    told = {m.chat.chat_id: to_plain(m.reply.text) for m in outcome.sent}
    assert "n'est plus relié" in told["gite-du-moulin"]  # the old account is told…
    assert "C'est confirmé" in told["nouveau-telephone"]
    assert play(app, "gite-du-moulin", "/mesquestions", "prive").keys == ["core.not_member"]  # …and unlinked
    # The new account does not inherit the questions asked from the old one.
    mine = play(app, "nouveau-telephone", "/mesquestions", "prive")
    assert mine.keys == ["question.none_mine"]
    with app.sessions() as db:
        actions = [a.action for a in db.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions[-3:] == ["invite.create", "identity.pending", "identity.replace"]
    assert gate.CLI_ACTOR  # the command line keeps its own label in the same log


def test_discord_rendering_makes_links_and_client_tokens_inert() -> None:
    hostile = (
        "[Cliquez ici](https://evil.example/x) puis [là](https://evil.example/y) "
        "<id:customize> <id:browse> <#1> <@&2> <t:1:R>"
    )
    for text in (escape_text(hostile), render(hostile.replace("<", "&lt;")), *split(hostile.replace("<", "&lt;") * 40)):
        assert "](" not in text.replace("\\](", "") and "[Cliquez" not in text.replace("\\[Cliquez", "")
        for token in ("<id:", "<#", "<@&", "<t:"):
            assert token not in text.replace("\\" + token, ""), (token, text[:200])
