# ruff: noqa: F811  (the Discord fixtures are imported from test_discord_adapter)
"""Interactions as a Discord server's members meet them, with the real discord.py against the fake server:
acknowledged at once even in a burst, personal answers shown to the speaker alone, the welcome channel,
the client's language, typed options and the completion of session numbers."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from adapters.discord_adapter import DiscordAdapter
from bot.bootstrap import App
from bot.storage.tables import Question, Session
from tests.fake_discord import APP_ID, GUILD_ID, FakeDiscord, Shown, flags
from tests.test_discord_adapter import (  # noqa: F401  (fixtures)
    CAMILLE,
    EPHEMERAL,
    EQUIPE,
    JULIEN,
    NEWCOMER,
    PRESTA,
    WELCOME,
    adapter,
    dc_app,
    fake,
)

BURST = 200  # the full 1,000 run in bench/discord_bench.py


def _first_session(app: App) -> int:
    with app.sessions() as db:
        row = db.scalars(select(Session).where(Session.audience == "prestataires").order_by(Session.starts_at)).first()
        assert row is not None
        return row.id


async def _ask(fake: FakeDiscord, count: int = 1, **kwargs: Any) -> list[Shown]:
    event = fake.interaction(**kwargs)
    await fake.push("INTERACTION_CREATE", event)
    return await fake.wait_shown(event, count=count)


# -- 1. a burst: every interaction acknowledged within Discord's 3 seconds, every answer delivered -----------


async def test_a_burst_of_commands_is_acknowledged_within_the_deadline(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    number = _first_session(dc_app)
    kinds = [
        {"command": "inscrire", "options": {"seance": number}},
        {"command": "prochain"},
        {"command": "mesquestions"},
        {"command": "question", "options": {"texte": "Comment publier une offre sur Google ?"}},
    ]
    events = [
        fake.interaction(user_id=JULIEN, channel_id=PRESTA, **kinds[n % len(kinds)])  # type: ignore[arg-type]
        for n in range(BURST)
    ]
    for event in events:  # as fast as the gateway carries them
        await fake.push("INTERACTION_CREATE", event)

    async def all_answered() -> None:
        while len(fake.followed_in) < BURST:
            fake._changed.clear()
            await fake._changed.wait()

    await asyncio.wait_for(all_answered(), 120)
    await asyncio.wait_for(adapter.settle(), 30)
    ids = {e["id"] for e in events}
    # Timed by the fake, from sending INTERACTION_CREATE to receiving the callback.
    assert set(fake.acked_in) == ids and fake.late == []
    assert max(fake.acked_in.values()) < fake.deadline
    assert set(fake.followed_in) == ids
    assert all(fake.shown(e) for e in events)
    with dc_app.sessions() as db:
        asked = db.scalars(select(Question)).all()
    assert len(asked) == BURST // len(kinds)  # every question of the burst stored once


# -- 2. personal answers are for the speaker; the group sees what concerns it --------------------------


async def test_personal_answers_are_ephemeral_in_the_providers_channel(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    number = _first_session(dc_app)
    (registered,) = await _ask(fake, user_id=JULIEN, channel_id=PRESTA, command="inscrire", options={"seance": number})
    assert registered.ephemeral and "inscrit" in registered.text
    (nxt,) = await _ask(fake, user_id=JULIEN, channel_id=PRESTA, command="prochain")
    assert nxt.ephemeral and "Klub numérique" in nxt.text
    (mine,) = await _ask(fake, user_id=JULIEN, channel_id=PRESTA, command="mesquestions")
    assert mine.ephemeral
    (error,) = await _ask(fake, user_id=JULIEN, channel_id=PRESTA, command="inscrire", options={"seance": 9999})
    assert error.ephemeral and "9999" in error.text
    # A staff member trying an ANT command: refused, to them alone.
    (refusal,) = await _ask(
        fake, user_id=JULIEN, channel_id=PRESTA, command="annuler", options={"seance": number, "raison": "x"}
    )
    assert refusal.ephemeral and "animateur numérique" in refusal.text
    await asyncio.wait_for(adapter.settle(), 10)
    assert fake.made("POST", f"/channels/{PRESTA}/messages") == []  # nothing posted in the channel


async def test_a_question_is_acknowledged_privately_and_shown_to_the_group_with_who_asked(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    text = "Comment répondre à un avis négatif sur Google ?"
    shown = await _ask(fake, count=2, user_id=JULIEN, channel_id=PRESTA, command="question", options={"texte": text})
    ack, group = shown[0], shown[1]
    assert ack.ephemeral and "enregistrée" in ack.text
    assert not group.ephemeral and "Julien Petit" in group.text and text in group.text

    shown = await _ask(
        fake,
        count=2,
        user_id=JULIEN,
        channel_id=PRESTA,
        command="question",
        options={"texte": "Faut-il un compte Instagram pro ?", "anonyme": True},
    )
    public = [m for m in shown if not m.ephemeral]
    assert len(public) == 1 and "Julien" not in public[0].text and "sans nom" in public[0].text
    with dc_app.sessions() as db:
        stored = {q.text: q.anonymous for q in db.scalars(select(Question))}
    assert stored == {text: False, "Faut-il un compte Instagram pro ?": True}


async def test_a_personal_answer_to_a_public_command_replaces_the_public_placeholder(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    # /questions answers for the group, but a stranger is refused: to them alone.
    event = fake.interaction(user_id=NEWCOMER, channel_id=PRESTA, command="questions")
    await fake.push("INTERACTION_CREATE", event)
    (answer,) = await fake.wait_shown(event)
    (deferral,) = fake.made("POST", f"/interactions/{event['id']}/")
    assert deferral.json["type"] == 5 and not flags(deferral) & EPHEMERAL
    assert answer.ephemeral and "code d'invitation" in answer.text
    assert fake.made("DELETE", f"/webhooks/{APP_ID}/{event['token']}/messages/@original")


# -- 3. the welcome channel, and a channel Klub does not serve -----------------------------------------


async def test_the_welcome_channel_points_to_verifier_and_to_whom_to_ask(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    (pointer,) = await _ask(fake, user_id=NEWCOMER, channel_id=WELCOME, command="prochain", user_name="Marie")
    assert pointer.ephemeral and "/verifier" in pointer.text and "Camille Martin" in pointer.text
    assert "quitte" not in pointer.text
    (again,) = await _ask(fake, user_id=NEWCOMER, channel_id=WELCOME, command="aide", locale="en-US")
    assert again.ephemeral and again.text.startswith("This channel is the way in")


async def test_an_unconfigured_channel_gets_a_truthful_answer_every_time(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    elsewhere = 1180000000000000099
    for _ in range(2):
        (answer,) = await _ask(fake, user_id=JULIEN, channel_id=elsewhere, command="prochain")
        assert answer.ephemeral and "n'y réponds pas" in answer.text and "quitte" not in answer.text


# -- 4. the client's language until the person chooses -------------------------------------------------


async def test_the_client_locale_is_the_default_language(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    (english,) = await _ask(fake, user_id=JULIEN, channel_id=EQUIPE, command="prochain", locale="en-US")
    assert "Klub numérique" in english.text and "December" in english.text
    (german,) = await _ask(fake, user_id=JULIEN, channel_id=EQUIPE, command="prochain", locale="de")
    assert "décembre" in german.text  # a locale Klub does not speak: French
    (chosen,) = await _ask(
        fake, user_id=JULIEN, channel_id=EQUIPE, command="langue", options={"langue": "fr"}, locale="en-US"
    )
    assert chosen.text == "C'est noté : je vous réponds désormais en français."
    (french,) = await _ask(fake, user_id=JULIEN, channel_id=EQUIPE, command="prochain", locale="en-US")
    assert "décembre" in french.text  # the choice wins over the client


# -- 5. typed options and completion -------------------------------------------------------------------


async def test_commands_have_typed_localised_options(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    (sync,) = fake.made("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    by_name = {c["name"]: c for c in sync.json}
    options = {name: {o["name"]: o for o in c["options"]} for name, c in by_name.items()}
    code = options["verifier"]["code"]
    assert code["type"] == 3 and code["required"] is True
    seance = options["inscrire"]["seance"]
    assert seance["type"] == 4 and seance["autocomplete"] is True and seance["required"] is False
    assert seance["name_localizations"]["en-US"] == "session"
    assert seance["description_localizations"]["en-GB"].startswith("the session number")
    question = by_name["question"]["options"]
    assert [(o["name"], o["type"], o["required"]) for o in question] == [("texte", 3, True), ("anonyme", 5, False)]
    assert question[1]["name_localizations"]["en-US"] == "anonymous"
    move = [o["name"] for o in by_name["deplacer"]["options"]]
    assert move == ["seance", "date", "heure"]
    # English names: /faq and /questions, not /q and /list.
    assert "name_localizations" not in by_name["faq"] and "name_localizations" not in by_name["questions"]
    assert by_name["prochain"]["name_localizations"]["en-US"] == "next"
    english = [c.get("name_localizations", {}).get("en-US", c["name"]) for c in sync.json]
    assert len(english) == len(set(english))
    for command in sync.json:
        required = [o["required"] for o in command["options"]]
        assert required == sorted(required, reverse=True)  # Discord: required options first


async def test_session_numbers_are_completed_with_the_upcoming_sessions(
    fake: FakeDiscord, adapter: DiscordAdapter, dc_app: App
) -> None:
    with dc_app.sessions.begin() as db:
        rows = list(db.scalars(select(Session).order_by(Session.starts_at)))
        rows[1].audience = "equipe"  # a staff-only session: not offered in the providers' channel
        staff_only = rows[1].id
        upcoming = [r.id for r in rows if r.audience == "prestataires" and r.status == "scheduled"]

    async def complete(**kwargs: Any) -> list[dict[str, Any]]:
        event = fake.interaction(command="inscrire", focused=("seance", ""), **kwargs)
        await fake.push("INTERACTION_CREATE", event)
        (callback,) = await fake.wait_for("POST", f"/interactions/{event['id']}/")
        assert callback.json["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
        return list(callback.json["data"]["choices"])

    offered = await complete(user_id=JULIEN, channel_id=PRESTA)
    assert [c["value"] for c in offered] == upcoming[: len(offered)] and staff_only not in [c["value"] for c in offered]
    assert offered[0]["name"].startswith(f"n°{upcoming[0]} · Klub numérique · jeudi 3 décembre")
    assert all(len(c["name"]) <= 100 for c in offered) and len(offered) <= 25
    in_english = await complete(user_id=JULIEN, channel_id=PRESTA, locale="en-GB")
    assert in_english[0]["name"].startswith(f"#{upcoming[0]} · Klub numérique · Thursday 3 December")
    in_staff_channel = await complete(user_id=CAMILLE, channel_id=EQUIPE)
    assert staff_only in [c["value"] for c in in_staff_channel]
    assert await complete(user_id=NEWCOMER, channel_id=PRESTA) == []  # a stranger sees no sessions

    # The chosen number runs the command.
    (registered,) = await _ask(
        fake, user_id=JULIEN, channel_id=PRESTA, command="inscrire", options={"seance": offered[0]["value"]}
    )
    assert registered.ephemeral and f"/desinscrire {upcoming[0]}" in registered.text
