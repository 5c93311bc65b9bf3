# ruff: noqa: F811  (the Discord fixtures are imported from test_discord_adapter)
"""Discord's durable inbox and outbox across a restart, with the real discord.py against the fake server:
what was stored and not handled is handled once by the next start (answered through the interaction's
webhook when it was deferred, privately or in the channel when it never was); answers committed as rows
and not sent are sent once by the next start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from adapters.discord_adapter import DiscordAdapter
from adapters.discord_intake import Stored
from bot import instances
from bot.app import App
from bot.clock import ManualClock
from bot.messages import OutMessage
from bot.storage.tables import InboxRow, OutboxRow, Question
from tests.fake_discord import APP_ID, BOT_ID, TOKEN, FakeDiscord, content
from tests.test_discord_adapter import CAMILLE, JULIEN, PRESTA, dc_app, fake  # noqa: F401  (fixtures)


async def _started(app: App) -> DiscordAdapter:
    dc = DiscordAdapter(app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    await asyncio.wait_for(dc.wait_until_ready(), 10)
    return dc


async def _stopped(app: App, dc: DiscordAdapter) -> None:
    """A stop, then what a restart does first (`instances.recover`, as `klub run`): our claims are free."""
    await asyncio.wait_for(dc.stop(), 10)
    instances.recover(app.sessions, app.instance, app.clock.now())


def _statuses(app: App) -> dict[str, int]:
    """The answers' rows (the scheduled-event syncs queued with the config's sessions are left out)."""
    answers = OutboxRow.payload.not_like('%"kind": "event_sync"%')
    with app.sessions() as db:
        query = select(OutboxRow.status, func.count()).where(answers).group_by(OutboxRow.status)
        return dict(db.execute(query).all())


async def _until(fake: FakeDiscord, done: Callable[[], bool], timeout: float = 10) -> None:
    async def wait() -> None:
        while not done():
            fake._changed.clear()
            await fake._changed.wait()

    await asyncio.wait_for(wait(), timeout)


async def test_stored_and_not_handled_is_handled_once_after_a_restart(fake: FakeDiscord, dc_app: App) -> None:
    first = await _started(dc_app)
    stored = asyncio.Event()
    count = 0

    async def crashed(_stored: Stored) -> None:  # the process died before handling anything
        nonlocal count
        count += 1
        if count == 4:
            stored.set()

    first.handle_stored = crashed  # type: ignore[method-assign,assignment]
    deferred = fake.interaction(
        user_id=JULIEN, channel_id=PRESTA, command="question", options={"texte": "Comment créer un QR code ?"}
    )
    never_personal = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="prochain")
    never_public = fake.interaction(
        user_id=CAMILLE, channel_id=PRESTA, command="question", options={"texte": "Faut-il un compte pro ?"}
    )
    undeferred = {never_personal["id"], never_public["id"]}
    acknowledge: Callable[[Any, bool], Awaitable[None]] = first._acknowledge

    async def maybe(interaction: Any, hidden: bool) -> None:  # died between the commit and the deferral
        if str(interaction.id) not in undeferred:
            await acknowledge(interaction, hidden)

    first._acknowledge = maybe  # type: ignore[method-assign]
    for event in (deferred, never_personal, never_public):
        await fake.push("INTERACTION_CREATE", event)
    mention = fake.message_payload(PRESTA, JULIEN, f"<@{BOT_ID}> /prochain", mentions=(BOT_ID,))
    await fake.push("MESSAGE_CREATE", mention)
    await asyncio.wait_for(stored.wait(), 10)
    assert set(fake.acked_in) == {deferred["id"]}
    await _stopped(dc_app, first)
    assert dc_app.inbox.unhandled("discord") == 4 and fake.followed_in == {}

    second = await _started(dc_app)
    # The deferred one: through its webhook, the acknowledgement in place of the placeholder, the
    # announcement for the group as a follow-up.
    ack, group = await fake.wait_shown(deferred, count=2)
    assert ack.ephemeral and "enregistrée" in ack.text and ack.call.method == "PATCH"
    assert not group.ephemeral and "Julien Petit" in group.text
    # Never deferred: the personal answers privately, the public one in the channel.
    await _until(fake, lambda: len(fake.made("POST", f"/channels/{PRESTA}/messages")) >= 2)
    await asyncio.wait_for(second.settle(), 10)
    dms = {fake.dm_channels[str(JULIEN)]: JULIEN, fake.dm_channels[str(CAMILLE)]: CAMILLE}
    to_julien = fake.made("POST", f"/channels/{next(c for c, u in dms.items() if u == JULIEN)}/messages")
    to_camille = fake.made("POST", f"/channels/{next(c for c, u in dms.items() if u == CAMILLE)}/messages")
    assert [("Klub numérique" in content(c)) for c in to_julien] == [True]
    assert to_camille and "enregistrée" in content(to_camille[0])  # then, maybe, a tutorial to read meanwhile
    in_channel = fake.made("POST", f"/channels/{PRESTA}/messages")
    by_reply = [c for c in in_channel if c.json.get("message_reference")]
    announced = [c for c in in_channel if not c.json.get("message_reference")]
    assert len(by_reply) == 1 and str(by_reply[0].json["message_reference"]["message_id"]) == mention["id"]
    assert len(announced) == 1 and "Camille" in content(announced[0]) and "compte pro" in content(announced[0])
    assert fake.shown(never_personal) == [] and fake.shown(never_public) == []  # the webhook refused them
    assert not any("enregistrée" in content(c) for c in in_channel)  # personal answers never in the channel
    shown = len(fake.shown(deferred))
    calls = len(fake.calls)
    await _stopped(dc_app, second)

    third = await _started(dc_app)  # nothing left: each was handled once
    await asyncio.wait_for(third.settle(), 10)
    await asyncio.wait_for(third.stop(), 10)
    assert dc_app.inbox.unhandled("discord") == 0
    with dc_app.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Question)) == 2
    assert len(fake.shown(deferred)) == shown
    assert [c.path for c in fake.calls[calls:] if "/messages" in c.path or "/webhooks/" in c.path] == []
    assert set(_statuses(dc_app)) == {"sent"}


async def test_answers_committed_and_not_sent_are_sent_once_after_a_restart(fake: FakeDiscord, dc_app: App) -> None:
    first = await _started(dc_app)

    async def crashed(_messages: list[OutMessage]) -> None:  # died after the commit, before sending
        return None

    first._deliver_replies = crashed  # type: ignore[method-assign,assignment]
    event = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="prochain")
    await fake.push("INTERACTION_CREATE", event)
    await fake.wait_for("POST", f"/interactions/{event['id']}/")
    await asyncio.wait_for(first.settle(), 10)
    assert _statuses(dc_app) == {"claimed": 1} and dc_app.inbox.unhandled("discord") == 0
    await _stopped(dc_app, first)
    assert _statuses(dc_app) == {"pending": 1}

    second = await _started(dc_app)
    (answer,) = await fake.wait_shown(event)
    await _until(fake, lambda: _statuses(dc_app) == {"sent": 1})
    assert answer.ephemeral and "Klub numérique" in answer.text
    assert answer.call.path == f"/webhooks/{APP_ID}/{event['token']}/messages/@original"
    await asyncio.wait_for(second.stop(), 10)
    assert len(fake.shown(event)) == 1


async def test_an_answer_discord_refuses_is_failed_and_never_sent_again(fake: FakeDiscord, dc_app: App) -> None:
    first = await _started(dc_app)
    event = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="prochain")
    original = f"/webhooks/{APP_ID}/{event['token']}/messages/@original"
    fake.fail("PATCH", original, 400)
    await fake.push("INTERACTION_CREATE", event)
    await fake.wait_for("PATCH", original)
    await asyncio.wait_for(first.settle(), 10)
    assert _statuses(dc_app) == {"failed": 1}
    await _stopped(dc_app, first)
    second = await _started(dc_app)  # a restart does not try it again
    await asyncio.wait_for(second.settle(), 10)
    await asyncio.wait_for(second.stop(), 10)
    assert len(fake.made("PATCH", original)) == 1 and fake.shown(event) == []
    assert fake.made("POST", "/channels/") == [] and fake.made("POST", "/users/@me/channels") == []


# -- the interaction's token: kept while an answer may need it, then removed from the rows --------------


def _payloads(app: App) -> list[str]:
    """Every stored Discord payload: the inbox rows and the answers' rows."""
    with app.sessions() as db:
        inbox = db.scalars(select(InboxRow.payload).where(InboxRow.platform == "discord")).all()
        answers = OutboxRow.payload.not_like('%"kind": "event_sync"%')
        outbox = db.scalars(select(OutboxRow.payload).where(OutboxRow.platform == "discord", answers)).all()
    return [*inbox, *outbox]


def _holding(app: App, token: str) -> int:
    return sum(token in p for p in _payloads(app))


async def _in_flight(fake: FakeDiscord, app: App) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two deferred interactions left by a process that stopped: the first stored and not handled, the
    second handled and its answer committed, not sent."""
    first = await _started(app)
    stored = asyncio.Event()

    async def crashed(_stored: Stored) -> None:
        stored.set()

    first.handle_stored = crashed  # type: ignore[method-assign,assignment]
    waiting = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="prochain")
    await fake.push("INTERACTION_CREATE", waiting)
    await asyncio.wait_for(stored.wait(), 10)
    del first.handle_stored  # the class's again

    async def unsent(_messages: list[OutMessage]) -> None:
        return None

    first._deliver_replies = unsent  # type: ignore[method-assign,assignment]
    answered = fake.interaction(user_id=CAMILLE, channel_id=PRESTA, command="prochain")
    await fake.push("INTERACTION_CREATE", answered)
    await fake.wait_for("POST", f"/interactions/{answered['id']}/")
    await asyncio.wait_for(first.settle(), 10)
    assert set(fake.acked_in) == {waiting["id"], answered["id"]}
    await _stopped(app, first)
    assert app.inbox.unhandled("discord") == 1 and _statuses(app) == {"pending": 1}
    return waiting, answered


async def test_a_handled_and_answered_interaction_leaves_no_token_in_the_database(
    fake: FakeDiscord, dc_app: App
) -> None:
    dc = await _started(dc_app)
    event = fake.interaction(user_id=JULIEN, channel_id=PRESTA, command="prochain")
    await fake.push("INTERACTION_CREATE", event)
    (answer,) = await fake.wait_shown(event)
    await asyncio.wait_for(dc.settle(), 10)
    await _until(fake, lambda: _statuses(dc_app) == {"sent": 1})
    await asyncio.wait_for(dc.stop(), 10)
    assert answer.call.path.startswith(f"/webhooks/{APP_ID}/{event['token']}/")  # it was used
    assert _holding(dc_app, event["token"]) == 0
    # The rest of the rows is kept: what was asked, and where the answer went.
    with dc_app.sessions() as db:
        (inbox,) = db.scalars(select(InboxRow.payload).where(InboxRow.platform == "discord")).all()
        (row,) = db.scalars(select(OutboxRow).where(OutboxRow.payload.like('%"via": "interaction"%'))).all()
    stored = Stored.from_json(inbox)
    assert stored.interaction_id == event["id"] and stored.application_id == str(APP_ID) and stored.token == ""
    assert stored.incoming.user.user_id == str(JULIEN)
    meta = json.loads(row.payload)["meta"]
    assert meta["interaction"] == event["id"] and meta["app"] == str(APP_ID) and "token" not in meta
    assert row.status == "sent" and "Klub numérique" in json.loads(row.payload)["text"]


async def test_an_interaction_waiting_for_its_answer_keeps_its_token_and_is_answered_after_a_restart(
    fake: FakeDiscord, dc_app: App, clock: ManualClock
) -> None:
    waiting, answered = await _in_flight(fake, dc_app)
    # The handled one's inbox row lost it (its answer's row has its own copy); the other kept it.
    assert _holding(dc_app, waiting["token"]) == 1 and _holding(dc_app, answered["token"]) == 1
    clock.advance(timedelta(minutes=10))  # within the token's 15 minutes
    dc_app.tick()
    assert _holding(dc_app, waiting["token"]) == 1 and _holding(dc_app, answered["token"]) == 1

    second = await _started(dc_app)
    for event in (waiting, answered):  # through the webhook, in place of « Klub réfléchit… »
        (shown,) = await fake.wait_shown(event)
        assert shown.call.method == "PATCH" and "Klub numérique" in shown.text
    await asyncio.wait_for(second.settle(), 10)
    await _until(fake, lambda: _statuses(dc_app) == {"sent": 2})
    await asyncio.wait_for(second.stop(), 10)
    assert _holding(dc_app, waiting["token"]) == 0 and _holding(dc_app, answered["token"]) == 0


async def test_the_sweep_removes_expired_tokens_and_their_answers_still_reach_the_person(
    fake: FakeDiscord, dc_app: App, clock: ManualClock
) -> None:
    waiting, answered = await _in_flight(fake, dc_app)
    dc_app.tick()  # the process's first pass: nothing has expired yet
    assert _holding(dc_app, waiting["token"]) == 1 and _holding(dc_app, answered["token"]) == 1
    clock.advance(timedelta(minutes=21))  # past the 15 minutes and the margin: Discord refuses them now
    dc_app.tick()
    assert _holding(dc_app, waiting["token"]) == 0 and _holding(dc_app, answered["token"]) == 0
    # Nothing else changed: still to handle, still to send.
    assert dc_app.inbox.unhandled("discord") == 1 and _statuses(dc_app) == {"pending": 1}

    second = await _started(dc_app)
    await _until(fake, lambda: _statuses(dc_app) == {"sent": 2})
    await asyncio.wait_for(second.settle(), 10)
    await asyncio.wait_for(second.stop(), 10)
    # Without a token, privately (the answers are personal), never through the webhook.
    assert [c for c in fake.calls if c.path.startswith("/webhooks/")] == []
    for person in (JULIEN, CAMILLE):
        dm = fake.made("POST", f"/channels/{fake.dm_channels[str(person)]}/messages")
        assert [("Klub numérique" in content(c)) for c in dm] == [True]
    assert fake.made("POST", f"/channels/{PRESTA}/messages") == []
    assert _holding(dc_app, waiting["token"]) == 0 and _holding(dc_app, answered["token"]) == 0
