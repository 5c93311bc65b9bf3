"""The real discord.py client, driven end to end against a fake Discord REST API and gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from adapters.discord_adapter import DiscordAdapter, DiscordSetupError, make_view, render, split
from adapters.reconnect import Backoff
from bot import cli, discord_events, gate
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.discord_events import EventSpec, Mirror, RemoteEvent
from bot.messages import Button, ChatRef, EventSync, MemberAction, OutMessage, Reply
from bot.storage.tables import Identity, OutboxRow, Person, Session
from tests.conftest import ROOT
from tests.fake_discord import APP_ID, BOT_ID, GUILD_ID, TOKEN, FakeDiscord, content, flags

EQUIPE = 1180000000000000001
PRESTA = 1180000000000000002
ROLE_EQUIPE = 1180000000000000011
ROLE_PRESTA = 1180000000000000012
CAMILLE = 1170000000000000001  # the ANT
JULIEN = 1170000000000000002  # office staff
NEWCOMER = 1170000000000000003  # Marie, of the Gîte du Moulin, not linked yet
WELCOME = 1180000000000000003  # the one channel everybody sees (not a Klub group)
MARIE_ON_TELEGRAM = 2001
EPHEMERAL = 64


class Acks:
    """Collects the outbox acknowledgements; tests wait for them without polling. The scheduled-event
    syncs (rows written with each session change, the config's sessions at bootstrap) are kept apart."""

    def __init__(self, app: App) -> None:
        self.messages: list[OutMessage] = []
        self.failed: list[tuple[OutMessage, str]] = []
        self.event_syncs: list[tuple[EventSync, str]] = []
        self._changed = asyncio.Event()
        app.outbox.on_sent(self._sent)
        app.outbox.on_failed(self._failed)

    def _sent(self, message: OutMessage) -> None:
        sync = EventSync.from_out(message)
        if sync is not None:
            self.event_syncs.append((sync, "sent"))
        else:
            self.messages.append(message)
        self._changed.set()

    def _failed(self, message: OutMessage, outcome: str) -> None:
        sync = EventSync.from_out(message)
        if sync is not None:
            self.event_syncs.append((sync, outcome))
        else:
            self.failed.append((message, outcome))
        self._changed.set()

    async def wait_syncs(self, count: int, timeout: float = 10) -> None:
        async def until() -> None:
            while len(self.event_syncs) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

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
        if person["id"] == "gite-du-moulin":
            person["identities"] = [f"telegram:{MARIE_ON_TELEGRAM}"]  # already a member on Telegram
    raw["adapters"]["discord"] = {
        "enabled": True,
        "guild_ids": [str(GUILD_ID)],
        "welcome_channels": {str(GUILD_ID): str(WELCOME)},
        **discord,
    }
    return Config.model_validate(raw)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires", WELCOME: "bienvenue"})
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
    assert aide["options"] == []
    assert all(len(c["description"]) <= 100 for c in sync.json)
    assert all(len(o["description"]) <= 100 for c in sync.json for o in c["options"])
    assert fake.identify is not None
    intents = int(fake.identify["intents"])
    assert not intents & (1 << 15)  # MESSAGE_CONTENT is privileged: not asked for
    assert intents & (1 << 9) and intents & (1 << 12)  # guild messages and DMs
    # discord.py asks for a compressed stream, but text frames are read as plain JSON: the fake sends those.
    assert fake.gateway_query["v"] == "10" and fake.gateway_query["encoding"] == "json"
    assert "compress" in fake.gateway_query
    assert TOKEN not in caplog.text


# -- whole flows ---------------------------------------------------------------------------------------


async def test_slash_aide_is_answered_through_the_interaction_callback(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    event = fake.interaction(user_id=JULIEN, channel_id=EQUIPE, command="aide")
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/{event['token']}/callback")
    assert callback.json["type"] == 5 and flags(callback) & EPHEMERAL  # deferred: « Klub réfléchit… »
    (answer,) = await fake.wait_shown(event)
    assert answer.call.method == "PATCH"  # the placeholder becomes the answer
    assert "/inscrits" in answer.text and "**" in answer.text and "<b>" not in answer.text
    assert answer.call.json["allowed_mentions"] == {"parse": []}
    assert answer.ephemeral  # the list of commands is for the speaker


async def test_an_english_client_gets_english_answers_until_the_person_chooses(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    event = fake.interaction(
        user_id=JULIEN, channel_id=EQUIPE, command="langue", options={"langue": "xx"}, locale="en-GB"
    )
    await fake.push("INTERACTION_CREATE", event)
    (answer,) = await fake.wait_shown(event)
    assert answer.text == "Say which language: /language fr or /language en." and answer.ephemeral


async def test_private_reply_is_ephemeral_and_later_replies_are_followups(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    event = fake.interaction(
        user_id=CAMILLE, channel_id=EQUIPE, command="inviter", options={"personne": "gite-du-moulin"}
    )
    await fake.push("INTERACTION_CREATE", event)
    shown = await fake.wait_shown(event, count=2)
    private = [m for m in shown if m.ephemeral]
    public = [m for m in shown if not m.ephemeral]
    assert len(private) == 1 and len(public) == 1
    assert "gite-du-moulin" in private[0].text


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
    assert "/inscrits" in content(sent)


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
    (answer,) = await fake.wait_shown(event)
    assert "/inscrits" in answer.text and answer.ephemeral


async def test_outbox_message_is_delivered_and_acked_once(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    acks = Acks(dc_app)
    message = OutMessage(ChatRef("discord", str(PRESTA)), Reply("Séance <i>demain</i> à 18 h"))
    dc_app.outbox.put(message)
    (sent,) = await fake.wait_for("POST", f"/channels/{PRESTA}/messages")
    await acks.wait(1)
    assert content(sent) == "Séance *demain* à 18 h"
    assert [(m.chat, m.reply) for m in acks.messages] == [(message.chat, message.reply)] and acks.failed == []
    assert await adapter.flush_outbox() == (0, 0)  # nothing left that could go out a second time
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


async def test_outbox_message_waits_while_discord_answers_5xx_then_goes_once(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    adapter.pump.backoff = Backoff(0.01, 0.02)  # the tests' waits
    acks = Acks(dc_app)
    fake.fail("POST", f"/channels/{PRESTA}/messages", 503, times=2)
    dc_app.outbox.put(OutMessage(ChatRef("discord", str(PRESTA)), Reply("Annonce")))
    await acks.wait(1)
    assert acks.failed == []  # not given up: it waited, then went
    assert [c.failed for c in fake.made("POST", f"/channels/{PRESTA}/messages")] == [True, True, False]
    assert "Discord injoignable (erreur 503 du serveur Discord) : les envois attendent" in caplog.text


async def test_a_token_the_gateway_refuses_stops_discord_and_keeps_the_rows(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    assert fake._ws is not None and adapter._connect_task is not None
    await fake._ws.close(code=4004, message=b"Authentication failed.")  # the token was reset in the portal
    await asyncio.wait_for(adapter._connect_task, 10)  # no retry: it will never work
    refused = [r.getMessage() for r in caplog.records if "jeton refusé" in r.getMessage()]
    assert refused == [
        "jeton refusé par Discord : vérifiez la variable d'environnement DISCORD_BOT_TOKEN ; Discord est arrêté"
        " (les autres plateformes continuent), redémarrez Klub après correction"
    ]
    assert not any(r.exc_info for r in caplog.records)
    dc_app.outbox.put(OutMessage(ChatRef("discord", str(PRESTA)), Reply("Annonce")))
    adapter.pump.wake()
    for _ in range(20):
        await asyncio.sleep(0)
    assert adapter.pump.waiting and fake.made("POST", f"/channels/{PRESTA}/messages") == []
    with dc_app.sessions() as db:
        assert db.scalars(select(OutboxRow.status).where(OutboxRow.payload.like('%"Annonce"%'))).all() == ["pending"]


async def test_member_action_removes_the_channel_role(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    acks = Acks(dc_app)
    dc_app.outbox.put(MemberAction("discord", str(PRESTA), str(NEWCOMER)).to_out())
    await acks.wait(1)
    (deleted,) = fake.made("DELETE", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/")
    assert deleted.path.endswith(f"/roles/{ROLE_PRESTA}")  # the revocation sends one action per channel
    assert len(acks.messages) == 1


async def test_revoke_through_the_core_removes_roles(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    acks = Acks(dc_app)
    event = fake.interaction(
        user_id=CAMILLE, channel_id=EQUIPE, command="retirer", options={"personne": "julien-accueil"}
    )
    await fake.push("INTERACTION_CREATE", event)
    await fake.wait_shown(event)
    await acks.wait(3)  # the answer (an outbox row too) and one removal per channel of the office
    deleted = fake.made("DELETE", f"/guilds/{GUILD_ID}/members/{JULIEN}/roles/")
    assert sorted(c.path.rsplit("/", 1)[1] for c in deleted) == sorted([str(ROLE_EQUIPE), str(ROLE_PRESTA)])
    assert [o for _, o in acks.failed] == []


def invite(app: App, slug: str) -> str:
    with app.sessions.begin() as db:
        person = db.scalars(select(Person).where(Person.slug == slug)).one()
        return gate.create_invite(db, person=person, now=app.clock.now()).code


async def test_verifier_in_the_welcome_channel_is_private_and_grants_the_role(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    code = invite(dc_app, "gite-du-moulin")
    event = fake.interaction(
        user_id=NEWCOMER, channel_id=WELCOME, command="verifier", options={"code": code.lower()}, user_name="Marie"
    )
    await fake.push("INTERACTION_CREATE", event)
    (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
    # Linked although typed in a channel: the exchange is private, and only Marie sees the answer.
    assert flags(callback) & EPHEMERAL
    (answer,) = await fake.wait_shown(event)
    assert answer.ephemeral and "C'est fait, Marie" in answer.text and "C'est ouvert" in answer.text
    (granted,) = await fake.wait_for("PUT", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/")
    assert granted.path.endswith(f"/roles/{ROLE_PRESTA}")  # a provider: the prestataires channel only
    assert fake.made("POST", "/channels/") == []  # nothing posted in any channel


async def test_a_refused_role_is_explained_to_the_member(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    code = invite(dc_app, "gite-du-moulin")
    fake.fail("PUT", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/{ROLE_PRESTA}", 403)  # Klub's role too low
    event = fake.interaction(user_id=NEWCOMER, channel_id=WELCOME, command="verifier", options={"code": code})
    await fake.push("INTERACTION_CREATE", event)
    shown = await fake.wait_shown(event, count=2)
    assert all(m.ephemeral for m in shown) and "je n'ai pas pu ouvrir vos salons" in shown[-1].text


async def test_one_person_on_both_platforms(fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App) -> None:
    code = invite(dc_app, "gite-du-moulin")
    event = fake.interaction(user_id=NEWCOMER, channel_id=WELCOME, command="verifier", options={"code": code})
    await fake.push("INTERACTION_CREATE", event)
    await fake.wait_for("PUT", f"/guilds/{GUILD_ID}/members/{NEWCOMER}/roles/")
    with dc_app.sessions() as db:
        marie = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        idents = sorted(
            (i.platform, i.platform_user_id)
            for i in db.scalars(select(Identity).where(Identity.person_id == marie.id))
            if i.platform != "console"
        )
    # The Telegram member who verified on Discord is one person with two accounts, not two people.
    assert idents == [("discord", str(NEWCOMER)), ("telegram", str(MARIE_ON_TELEGRAM))]


async def test_wrong_codes_are_refused_privately_then_rate_limited(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    answers = []
    for _ in range(gate.MAX_FAILURES + 1):
        event = fake.interaction(
            user_id=NEWCOMER, channel_id=WELCOME, command="verifier", options={"code": "ABCD-EFGH-JKMN"}
        )
        await fake.push("INTERACTION_CREATE", event)
        (answer,) = await fake.wait_shown(event)
        assert answer.ephemeral
        answers.append(answer.text)
    assert "n'existe pas" in answers[0]
    assert "Trop de codes erronés" in answers[-1]
    assert fake.made("PUT", f"/guilds/{GUILD_ID}/members/") == []


async def test_a_question_by_slash_command_gets_an_answer_and_its_buttons_work(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    question = "Comment créer une page Facebook pour mon gîte ?"
    event = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="faq", options={"question": question})
    await fake.push("INTERACTION_CREATE", event)
    shown = await fake.wait_shown(event)
    assert "Facebook" in shown[0].text and not shown[0].ephemeral  # the group learns from the answer too
    await asyncio.wait_for(adapter.settle(), 10)  # every follow-up sent
    buttons = [b for m in fake.shown(event) for b in _buttons(m.call)]
    useful = next(b for b in buttons if re.fullmatch(r"/utile \d+ oui", b["custom_id"]))
    press = fake.interaction(user_id=JULIEN, channel_id=PRESTA, custom_id=useful["custom_id"])
    await fake.push("INTERACTION_CREATE", press)
    (answer,) = await fake.wait_shown(press)
    assert answer.ephemeral and answer.text  # a press is answered to the presser only


def _buttons(call: object) -> list[dict[str, str]]:
    body = getattr(call, "json", None) or {}
    data = body.get("data", body) if "type" in body else body
    return [b for row in data.get("components", []) for b in row["components"]]


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
    assert render("<code>a*b`c</code>") == "`` a*b`c ``"  # literal inside code, backtick included
    # Mentions typed by users stay text: @everyone/@here and ids get a zero-width space, tokens a backslash.
    assert render("@here &lt;@123456789012345678&gt; &lt;#1&gt; &lt;@&amp;2&gt;") == (
        "@\u200bhere \\<@\u200b123456789012345678> \\<#1> \\<@&2>"
    )
    assert render("<b>gras </b>suite") == "**gras** suite"  # Markdown markers hug the text
    assert render('<a href="javascript:alert(1)">piège</a>') == "piège"  # only http(s) and mailto links


def test_split_under_two_thousand() -> None:
    parts = split("\n\n".join(["mot " * 100] * 10))
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)


async def test_long_button_commands_are_dropped() -> None:
    reply = Reply("x", buttons=((Button("ok", "/aide"), Button("trop", "/" + "x" * 120)),))
    view = make_view(reply)
    assert view is not None and [getattr(i, "custom_id", None) for i in view.children] == ["/aide"]
    assert make_view(Reply("x")) is None


def test_split_closes_and_reopens_formatting_at_each_cut() -> None:
    paragraph = "<b>Étape</b> : ouvrez <i>Paramètres</i> puis suivez le guide pas à pas. " * 20
    text = "\n\n".join([paragraph] * 5) + "\n<b>" + "très long " * 300 + "</b>"
    parts = split(text)
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts)
    for part in parts:
        assert part.count("**") % 2 == 0
    assert parts[-1].startswith("**très long") and parts[-1].endswith("**")


# -- scheduled events ----------------------------------------------------------------------------------


async def event_rows_done(app: App) -> None:
    """Until no scheduled-event row waits or is being carried out (woken by each row's outcome)."""
    changed = asyncio.Event()
    app.outbox.on_sent(lambda _m: changed.set())
    app.outbox.on_failed(lambda _m, _o: changed.set())
    while True:
        changed.clear()
        with app.sessions() as db:
            busy = db.scalar(
                select(OutboxRow.id).where(
                    OutboxRow.payload.like('%"kind": "event_sync"%'),
                    OutboxRow.status.in_(("pending", "claimed", "sending")),
                )
            )
        if busy is None:
            return
        await changed.wait()


def _session_ids(app: App) -> dict[str, tuple[int, str | None]]:
    with app.sessions() as db:
        rows = db.scalars(select(Session).order_by(Session.starts_at))
        return {r.starts_at.strftime("%Y-%m-%d"): (r.id, r.discord_event_id) for r in rows}


async def test_sessions_become_scheduled_events_moved_and_cancelled(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    # At start: one external event per session within the horizon (60 days: December and January).
    created = await fake.wait_for("POST", f"/guilds/{GUILD_ID}/scheduled-events", count=2)
    assert await asyncio.wait_for(adapter.sync_events(), 10) == []  # a second pass has nothing to do
    first = created[0].json
    assert first["name"] == "Klub numérique" and first["entity_type"] == 3 and first["privacy_level"] == 2
    assert first["entity_metadata"] == {"location": "Salle du conseil, office de tourisme"}
    assert first["scheduled_start_time"] == "2026-12-03T17:30:00+00:00"  # 18:30 in Paris
    assert first["scheduled_end_time"] == "2026-12-03T19:30:00+00:00"
    assert "/inscrire" in first["description"]
    sessions = _session_ids(dc_app)
    number, event_id = sessions["2026-12-03"]
    assert event_id is not None and event_id in fake.events
    assert sessions["2027-02-04"][1] is None  # beyond the horizon: not yet

    # The ANT moves it: the announcement wakes the sender, and the event follows.
    move = fake.interaction(
        user_id=CAMILLE,
        channel_id=EQUIPE,
        command="deplacer",
        options={"seance": number, "date": "2026-12-10", "heure": "18:30"},
    )
    await fake.push("INTERACTION_CREATE", move)
    (patched,) = await fake.wait_for("PATCH", f"/guilds/{GUILD_ID}/scheduled-events/{event_id}")
    assert patched.json["scheduled_start_time"] == "2026-12-10T17:30:00+00:00"
    assert patched.json["scheduled_end_time"] == "2026-12-10T19:30:00+00:00"

    # Snow: cancelled, and so is the event (status 4, Discord's CANCELED).
    cancel = fake.interaction(
        user_id=CAMILLE, channel_id=EQUIPE, command="annuler", options={"seance": number, "raison": "neige"}
    )
    await fake.push("INTERACTION_CREATE", cancel)
    calls = await fake.wait_for("PATCH", f"/guilds/{GUILD_ID}/scheduled-events/{event_id}", count=2)
    assert calls[1].json == {"status": 4}
    assert await asyncio.wait_for(adapter.sync_events(), 10) == []
    assert len(fake.made("POST", f"/guilds/{GUILD_ID}/scheduled-events")) == 2


async def test_an_event_deleted_by_hand_is_created_again(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    await fake.wait_for("POST", f"/guilds/{GUILD_ID}/scheduled-events", count=2)
    await asyncio.wait_for(event_rows_done(dc_app), 10)  # the rows of the config's sessions, too
    await asyncio.wait_for(adapter.sync_events(), 10)
    number, event_id = _session_ids(dc_app)["2026-12-03"]
    assert event_id is not None
    posts = len(fake.made("POST", f"/guilds/{GUILD_ID}/scheduled-events"))
    del fake.events[event_id]  # someone removed it in Discord: the database is the source of truth
    # Our pass, or one the start-up still had queued (a second pass after the gateway's ready): one of
    # them makes it again, once.
    ops = await asyncio.wait_for(adapter.sync_events(), 10)
    assert [(op.action, op.session_id) for op in ops] in ([("create", number)], [])
    again = _session_ids(dc_app)["2026-12-03"][1]
    assert again not in (None, event_id) and again in fake.events
    assert len(fake.made("POST", f"/guilds/{GUILD_ID}/scheduled-events")) == posts + 1


def _spec(day: int, name: str = "Klub numérique") -> EventSpec:
    start = datetime(2026, 12, day, 17, 30, tzinfo=UTC)
    return EventSpec(name, "Inscription", "Salle", start, start + timedelta(hours=2))


def test_event_plan_decides_from_database_and_server_state() -> None:
    guild = str(GUILD_ID)
    wanted = [
        Mirror(1, guild, None, True, _spec(3)),  # new, but an unrecorded event of ours exists: adopted
        Mirror(2, guild, "e2", True, _spec(10)),  # unchanged
        Mirror(3, guild, "e3", True, _spec(17)),  # moved (the server still shows the 16th)
        Mirror(4, guild, "e4", False, _spec(24)),  # cancelled, event still scheduled
        Mirror(5, guild, "e5", True, _spec(31)),  # its event was cancelled by hand: made again
        Mirror(6, "999", None, True, _spec(31)),  # a server the bot cannot read: left alone
    ]
    remote = {
        guild: {
            "orphan": RemoteEvent("orphan", "scheduled", _spec(3)),
            "e2": RemoteEvent("e2", "scheduled", _spec(10)),
            "e3": RemoteEvent("e3", "scheduled", _spec(16)),
            "e4": RemoteEvent("e4", "scheduled", _spec(24)),
            "e5": RemoteEvent("e5", "cancelled", _spec(31)),
        }
    }
    ops = discord_events.plan(wanted, remote)
    assert [(op.action, op.session_id, op.event_id) for op in ops] == [
        ("adopt", 1, "orphan"),
        ("update", 3, "e3"),
        ("cancel", 4, "e4"),
        ("create", 5, None),
    ]


async def test_staff_only_sessions_are_not_published(dc_app: App) -> None:
    with dc_app.sessions.begin() as db:
        for row in db.scalars(select(Session)):
            row.audience = "equipe"
    assert discord_events.mirrors(dc_app, dc_app.clock.now(), timedelta(days=60)) == []


# -- members joining, and the optional intents ----------------------------------------------------------


@pytest.fixture
async def greeting_adapter(fake: FakeDiscord, clock: ManualClock, database_url: str) -> AsyncIterator[DiscordAdapter]:
    config = make_config(members_intent=True, welcome_channels={str(GUILD_ID): str(WELCOME)}, events=False)
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, platforms=("discord",))
    dc = DiscordAdapter(app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    await dc.wait_until_ready()
    yield dc
    await asyncio.wait_for(dc.stop(), 10)
    app.close()


async def test_newcomers_are_greeted_and_linked_members_get_their_roles_back(
    fake: FakeDiscord, greeting_adapter: DiscordAdapter
) -> None:
    assert fake.identify is not None and int(fake.identify["intents"]) & (1 << 1)  # GUILD_MEMBERS asked for
    await fake.push("GUILD_MEMBER_ADD", fake.member_join(NEWCOMER, "Marie"))
    (greeting,) = await fake.wait_for("POST", f"/channels/{WELCOME}/messages")
    assert content(greeting).startswith("Bienvenue Marie !") and "/verifier" in content(greeting)
    assert greeting.json["allowed_mentions"]["parse"] == []
    with greeting_adapter.app.sessions() as db:  # a row of the outbox, like every message Klub decides
        assert len(db.scalars(select(OutboxRow).where(OutboxRow.chat_id == str(WELCOME))).all()) == 1

    await fake.push("GUILD_MEMBER_ADD", fake.member_join(JULIEN, "Julien"))  # staff, linked, back on the server
    granted = await fake.wait_for("PUT", f"/guilds/{GUILD_ID}/members/{JULIEN}/roles/", count=2)
    assert sorted(c.path.rsplit("/", 1)[1] for c in granted) == sorted([str(ROLE_EQUIPE), str(ROLE_PRESTA)])
    assert len(fake.made("POST", f"/channels/{WELCOME}/messages")) == 1
    assert fake.made("GET", f"/guilds/{GUILD_ID}/scheduled-events") == []  # events: false


async def test_message_content_intent_lets_unaddressed_messages_through(
    fake: FakeDiscord, clock: ManualClock, database_url: str
) -> None:
    app = bootstrap(
        make_config(message_content_intent=True, events=False),
        clock=clock,
        database_url=database_url,
        migrate=False,
        platforms=("discord",),
    )
    seen: list[tuple[str, bool]] = []

    def free_text(ctx: object, text: str) -> list[Reply]:
        seen.append((text, ctx.incoming.mentions_bot))  # type: ignore[attr-defined]
        return [Reply("Vu")]

    app.free_text_handler = free_text
    dc = DiscordAdapter(app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    try:
        await fake.push("MESSAGE_CREATE", fake.message_payload(EQUIPE, JULIEN, "bonjour à tous"))
        await fake.wait_for("POST", f"/channels/{EQUIPE}/messages")
        assert seen == [("bonjour à tous", False)]  # the core decides whether to speak unprompted
        assert fake.identify is not None and int(fake.identify["intents"]) & (1 << 15)
    finally:
        await asyncio.wait_for(dc.stop(), 10)
        app.close()


async def test_reminders_reach_the_channel_and_the_registered_member_once(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App, clock: ManualClock
) -> None:
    from bot.storage.tables import Delivery

    number, _ = _session_ids(dc_app)["2026-12-03"]
    register = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="inscrire", options={"seance": number})
    await fake.push("INTERACTION_CREATE", register)
    (registered,) = await fake.wait_shown(register)
    assert "inscrit" in registered.text.lower() and registered.ephemeral
    await asyncio.wait_for(adapter.settle(), 10)  # the answer's row recorded sent before counting
    acks = Acks(dc_app)

    # J-1 at 18:30 in Paris: the reminder in the providers' channel (the J-7 one, six days late, is dropped).
    clock.set(datetime(2026, 12, 2, 17, 31, tzinfo=UTC))
    dc_app.tick()
    (group,) = await fake.wait_for("POST", f"/channels/{PRESTA}/messages")
    # The team channel hears once what was dropped, and why.
    (notice,) = await fake.wait_for("POST", f"/channels/{EQUIPE}/messages")
    await acks.wait(2)
    assert "Klub numérique" in content(group) and "demain" in content(group)
    assert "Rappels non envoyés" in content(notice) and "J-7 dans le groupe" in content(notice)

    # Two hours before: privately, to the registered member.
    clock.set(datetime(2026, 12, 3, 15, 31, tzinfo=UTC))
    dc_app.tick()
    await acks.wait(3)
    dm = fake.dm_channels[str(JULIEN)]
    (private,) = fake.made("POST", f"/channels/{dm}/messages")
    assert "Klub numérique" in content(private)

    dc_app.tick()  # a second alarm at the same moment sends nothing again
    await asyncio.sleep(0)
    assert len(fake.made("POST", f"/channels/{PRESTA}/messages")) == 1 and len(acks.messages) == 3
    with dc_app.sessions() as db:
        ledger = {((d.offset_key or "").split("@")[0], d.status) for d in db.scalars(select(Delivery))}
    # The J-3 attendance alert is as late as the J-7 reminder: dropped too, never sent late.
    # ("", "sent"): the team channel's notice of the two dropped ones, a plain row of the outbox.
    assert ledger == {
        ("group:7d", "dropped"),
        ("alert:3d", "dropped"),
        ("group:1d", "sent"),
        ("private:2h", "sent"),
        ("", "sent"),
    }


async def test_klub_person_revoke_removes_discord_roles_without_the_gateway(
    fake: FakeDiscord,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No bot running: the command line logs in over REST only and takes the roles away itself.
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    for person in raw["people"]:
        if person["id"] == "julien-accueil":
            person["identities"] = [f"discord:{JULIEN}"]
    raw["adapters"]["discord"] = {"enabled": True, "guild_ids": [str(GUILD_ID)]}
    raw["faq"]["bases"] = [str(ROOT / "faq")]
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
    args = ["--config", str(path), "person", "revoke", "julien-accueil", "--db", database_url]
    assert await asyncio.to_thread(cli.main, args) == 0
    deleted = fake.made("DELETE", f"/guilds/{GUILD_ID}/members/{JULIEN}/roles/")
    assert sorted(c.path.rsplit("/", 1)[1] for c in deleted) == sorted([str(ROLE_EQUIPE), str(ROLE_PRESTA)])
    assert not fake.identified.is_set()  # REST only: no gateway session, no command sync
    assert not fake.made("PUT", f"/applications/{APP_ID}/guilds/")
    assert "Retraits effectués : 2 groupe(s)." in capsys.readouterr().out
