"""The real discord.py client, driven end to end against a fake Discord REST API and gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import yaml

from adapters.discord_adapter import DiscordAdapter, DiscordSetupError, make_view, render, split
from bot import gate
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import Button, ChatRef, MemberAction, OutMessage, Reply
from tests.conftest import ROOT
from tests.fake_discord import APP_ID, BOT_ID, GUILD_ID, TOKEN, FakeDiscord, content, flags

EQUIPE = 1180000000000000001
PRESTA = 1180000000000000002
ROLE_EQUIPE = 1180000000000000011
ROLE_PRESTA = 1180000000000000012
CAMILLE = 1170000000000000001  # the ANT
JULIEN = 1170000000000000002  # office staff
NEWCOMER = 1170000000000000003  # Marie, of the Gîte du Moulin, not linked yet


class Acks:
    """Collects the outbox acknowledgements; tests wait for them without polling."""

    def __init__(self, app: App) -> None:
        self.messages: list[OutMessage] = []
        self.failed: list[tuple[OutMessage, str]] = []
        self._changed = asyncio.Event()
        app.outbox.on_sent(self._sent)
        app.outbox.on_failed(self._failed)

    def _sent(self, message: OutMessage) -> None:
        self.messages.append(message)
        self._changed.set()

    def _failed(self, message: OutMessage, outcome: str) -> None:
        self.failed.append((message, outcome))
        self._changed.set()

    async def wait(self, count: int, timeout: float = 5) -> None:
        async def until() -> None:
            while len(self.messages) + len(self.failed) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


def make_config(**discord: object) -> Config:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["database"] = {"url": "sqlite://"}
    for person in raw["people"]:
        if person["id"] == "camille-ant":
            person["identities"] = [f"discord:{CAMILLE}"]
        if person["id"] == "julien-accueil":
            person["identities"] = [f"discord:{JULIEN}"]
    raw["adapters"]["discord"] = {"enabled": True, "guild_ids": [str(GUILD_ID)], **discord}
    return Config.model_validate(raw)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires"})
    await server.start()
    with server.patched():
        yield server
    await server.stop()


@pytest.fixture
def dc_app(clock: ManualClock, database_url: str) -> Iterator[App]:
    app = bootstrap(make_config(), clock=clock, database_url=database_url, migrate=False, platforms=("discord",))
    yield app
    app.close()


@pytest.fixture
async def adapter(fake: FakeDiscord, dc_app: App) -> AsyncIterator[DiscordAdapter]:
    dc = DiscordAdapter(dc_app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    await asyncio.wait_for(fake.identified.wait(), 10)
    yield dc
    await asyncio.wait_for(dc.stop(), 10)


# -- setup ---------------------------------------------------------------------------------------------


def test_missing_token_is_a_clear_french_error(dc_app: App) -> None:
    with pytest.raises(DiscordSetupError, match="DISCORD_BOT_TOKEN"):
        DiscordAdapter(dc_app, env={})


async def test_start_syncs_localised_slash_commands_and_identifies_without_message_content(
    fake: FakeDiscord, adapter: DiscordAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    (sync,) = fake.made("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    by_name = {c["name"]: c for c in sync.json}
    assert {"aide", "prochain", "question", "verifier", "compte-rendu"} <= set(by_name)
    assert "start" not in by_name  # not a menu command
    aide = by_name["aide"]
    assert aide["name_localizations"]["en-US"] == "help" and aide["name_localizations"]["en-GB"] == "help"
    assert "fr" not in aide["name_localizations"]
    assert aide["description"] and len(aide["description"]) <= 100
    assert aide["description_localizations"]["en-US"] != aide["description"]
    (option,) = aide["options"]
    assert option["name"] == "arguments" and option["type"] == 3 and option.get("required") is False
    assert all(len(c["description"]) <= 100 for c in sync.json)
    assert fake.identify is not None
    intents = int(fake.identify["intents"])
    assert not intents & (1 << 15)  # MESSAGE_CONTENT is privileged: not asked for
    assert intents & (1 << 9) and intents & (1 << 12)  # guild messages and DMs
    assert TOKEN not in caplog.text


# -- whole flows ---------------------------------------------------------------------------------------


async def test_slash_aide_is_answered_through_the_interaction_callback(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    event = fake.interaction(user_id=JULIEN, channel_id=EQUIPE, command="aide")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/{event['token']}/callback")
    assert callback.json["type"] == 4
    text = content(callback)
    assert "/inviter" in text and "**" in text and "<b>" not in text
    assert callback.json["data"]["allowed_mentions"] == {"parse": []}
    assert flags(callback) & 64 == 0  # public in the channel


async def test_slash_command_in_english_with_arguments(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    event = fake.interaction(user_id=JULIEN, channel_id=EQUIPE, command="langue", arguments="xx", locale="en-GB")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
    assert "fr" in content(callback) and "en" in content(callback)


async def test_private_reply_is_ephemeral_and_later_replies_are_followups(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    event = fake.interaction(user_id=JULIEN, channel_id=EQUIPE, command="inviter", arguments="gite-du-moulin")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
    (followup,) = await fake.wait_for("POST", f"/webhooks/{APP_ID}/{event['token']}")
    replies = [callback, followup]
    private = [c for c in replies if flags(c) & 64]
    public = [c for c in replies if not flags(c) & 64]
    assert len(private) == 1 and len(public) == 1
    assert "gite-du-moulin" in content(private[0])


async def test_mention_is_answered_in_the_channel(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    seen: list[tuple[str, bool]] = []

    def free_text(ctx: object, text: str) -> list[Reply]:
        seen.append((text, ctx.incoming.mentions_bot))  # type: ignore[attr-defined]
        return [Reply("Bien reçu, <b>*merci*</b> @everyone")]

    dc_app.free_text_handler = free_text
    await fake.push("MESSAGE_CREATE", fake.message_payload(EQUIPE, JULIEN, "pas pour moi"))
    await fake.push(
        "MESSAGE_CREATE", fake.message_payload(EQUIPE, JULIEN, f"<@{BOT_ID}> comment   renommer ?", mentions=(BOT_ID,))
    )
    (sent,) = await fake.wait_for("POST", f"/channels/{EQUIPE}/messages")
    assert seen == [("comment renommer ?", True)]
    assert content(sent) == "Bien reçu, **\\*merci\\*** @\u200beveryone"
    assert sent.json["allowed_mentions"]["parse"] == []
    assert sent.json["message_reference"]["fail_if_not_exists"] is False


async def test_direct_message_is_free_text_answered_in_dm(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    await fake.push("MESSAGE_CREATE", fake.message_payload(555, JULIEN, "/aide", guild=False))
    (dm,) = await fake.wait_for("POST", "/users/@me/channels")
    assert str(dm.json["recipient_id"]) == str(JULIEN)
    channel = fake.dm_channels[str(JULIEN)]
    (sent,) = await fake.wait_for("POST", f"/channels/{channel}/messages")
    assert "/inviter" in content(sent)


async def test_buttons_carry_the_command_and_a_press_runs_it(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    dc_app.outbox.put(
        OutMessage(ChatRef("discord", str(EQUIPE)), Reply("Choisissez", buttons=((Button("Aide", "/aide"),),)))
    )
    (sent,) = await fake.wait_for("POST", f"/channels/{EQUIPE}/messages")
    (row,) = sent.json["components"]
    (button,) = row["components"]
    assert button["custom_id"] == "/aide" and button["label"] == "Aide"

    event = fake.interaction(user_id=JULIEN, channel_id=EQUIPE, custom_id="/aide")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
    assert "/inviter" in content(callback)


async def test_outbox_message_is_delivered_and_acked_once(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    acks = Acks(dc_app)
    message = OutMessage(ChatRef("discord", str(PRESTA)), Reply("Séance <i>demain</i> à 18 h"))
    dc_app.outbox.put(message)
    (sent,) = await fake.wait_for("POST", f"/channels/{PRESTA}/messages")
    await acks.wait(1)
    assert content(sent) == "Séance *demain* à 18 h"
    assert acks.messages == [message] and acks.failed == []
    await asyncio.sleep(0.05)
    assert len(fake.made("POST", f"/channels/{PRESTA}/messages")) == 1 and len(acks.messages) == 1


async def test_private_outbox_message_goes_to_a_dm(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    acks = Acks(dc_app)
    dc_app.outbox.put(OutMessage(ChatRef("discord", str(JULIEN), private=True), Reply("Rappel")))
    await acks.wait(1)
    channel = fake.dm_channels[str(JULIEN)]
    (sent,) = fake.made("POST", f"/channels/{channel}/messages")
    assert content(sent) == "Rappel"


async def test_refused_outbox_message_is_failed_not_retried(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    acks = Acks(dc_app)
    fake.fail("POST", f"/channels/{PRESTA}/messages", 403)
    dc_app.outbox.put(OutMessage(ChatRef("discord", str(PRESTA)), Reply("Annonce")))
    await acks.wait(1)
    assert acks.messages == [] and [o for _, o in acks.failed] == ["failed"]
    assert len(fake.made("POST", f"/channels/{PRESTA}/messages")) == 1


async def test_member_action_removes_the_office_roles(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    acks = Acks(dc_app)
    dc_app.outbox.put(MemberAction("discord", str(PRESTA), str(NEWCOMER)).to_out())
    await acks.wait(1)
    deleted = fake.made("DELETE", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/")
    assert sorted(c.path.rsplit("/", 1)[1] for c in deleted) == sorted([str(ROLE_EQUIPE), str(ROLE_PRESTA)])
    assert len(acks.messages) == 1


async def test_revoke_through_the_core_removes_roles(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    acks = Acks(dc_app)
    event = fake.interaction(user_id=CAMILLE, channel_id=EQUIPE, command="retirer", arguments="julien-accueil")
    await fake.push("INTERACTION_CREATE", event)
    await fake.wait_for("POST", f"/interactions/{event['id']}/")
    await acks.wait(1)
    assert fake.made("DELETE", f"/guilds/{GUILD_ID}/members/{JULIEN}/roles/{ROLE_PRESTA}")


async def test_verifier_redeems_the_code_and_grants_the_roles(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    with dc_app.sessions.begin() as db:
        from sqlalchemy import select

        from bot.storage.tables import Person

        person = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        code = gate.create_invite(db, person=person, now=dc_app.clock.now()).code
    event = fake.interaction(user_id=NEWCOMER, command="verifier", arguments=code.lower(), user_name="Marie")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
    assert "Marie" in content(callback) and "C'est ouvert" in content(callback)
    (granted,) = await fake.wait_for("PUT", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/")
    assert granted.path.endswith(f"/roles/{ROLE_PRESTA}")


async def test_stop_is_clean_and_logs_no_token(
    fake: FakeDiscord, dc_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dc = DiscordAdapter(dc_app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    await dc.wait_until_ready()
    await asyncio.wait_for(dc.stop(), 10)
    assert dc.client is None
    assert TOKEN not in caplog.text


# -- rendering -----------------------------------------------------------------------------------------


def test_render_escapes_user_text_and_maps_tags() -> None:
    assert render("<b>Titre</b> &lt;x&gt; a_b *c*") == "**Titre** <x> a\\_b \\*c\\*"
    assert render('<a href="https://ex.fr/a_b">la fiche</a>') == "[la fiche](<https://ex.fr/a_b>)"
    assert render('<a href="https://ex.fr">https://ex.fr</a>') == "<https://ex.fr>"
    assert render("<code>a*b`c</code>") == "`a*bˋc`"
    assert render("@here <@123456789012345678>").startswith("@\u200bhere")


def test_split_under_two_thousand() -> None:
    parts = split("\n\n".join(["mot " * 100] * 10))
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)


async def test_long_button_commands_are_dropped() -> None:
    reply = Reply("x", buttons=((Button("ok", "/aide"), Button("trop", "/" + "x" * 120)),))
    view = make_view(reply)
    assert view is not None and [getattr(i, "custom_id", None) for i in view.children] == ["/aide"]
    assert make_view(Reply("x")) is None
