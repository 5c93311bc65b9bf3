"""Two processes on one database, the real discord.py against the fake Discord: what another process
commits (the command line, the Telegram instance) reaches Discord through the outbox within the poll
interval — scheduled events created, moved, cancelled, roles taken away — without the periodic pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select

from adapters.discord_adapter import DiscordAdapter
from bot import cli
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import ChatRef, Incoming, UserRef
from bot.storage.tables import OutboxRow, Session
from tests.fake_discord import GUILD_ID, TOKEN, FakeDiscord
from tests.helpers import plain
from tests.test_discord_adapter import Acks, fake  # noqa: F401  (fixture)
from tests.test_event_rows import CAMILLE_TG, EQUIPE_TG, MARIE_DC, OFFICE, both_raw

PARIS = ZoneInfo("Europe/Paris")
EVENTS = f"/guilds/{GUILD_ID}/scheduled-events"


def raw_config(database_url: str) -> dict[str, Any]:
    raw = both_raw(events_sync_minutes=1440)  # the periodic pass cannot be what brings the changes
    raw["database"] = {"url": database_url}
    raw["delivery"] = {"poll": 0.2}
    return raw


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))  # the command line runs on the real clock: the same day here


@pytest.fixture
def dc_app(clock: ManualClock, database_url: str) -> Iterator[App]:
    config = Config.model_validate(raw_config(database_url))
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, platforms=("discord",),
                    instance="klub-discord")  # fmt: skip
    yield app
    app.close()


@pytest.fixture
def tg_app(dc_app: App, clock: ManualClock, database_url: str) -> Iterator[App]:
    """The Telegram instance: same config and database, serves Telegram only (no Telegram adapter
    is needed here: the core handles what it would pass on)."""
    app = bootstrap(dc_app.config, clock=clock, database_url=database_url, migrate=False, platforms=("telegram",),
                    instance="klub-telegram")  # fmt: skip
    yield app
    app.close()


@pytest.fixture
async def running(fake: FakeDiscord, dc_app: App) -> AsyncIterator[tuple[DiscordAdapter, Acks]]:  # noqa: F811
    """The Discord instance, started, its start-up pass and the rows queued at bootstrap done."""
    acks = Acks(dc_app)
    with dc_app.sessions() as db:
        queued = db.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.platform == "discord")) or 0
    dc = DiscordAdapter(dc_app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
    await asyncio.wait_for(dc.start(), 10)
    await asyncio.wait_for(dc.synced.wait(), 10)
    await acks.wait_syncs(queued)
    dc.synced.clear()
    yield dc, acks
    await asyncio.wait_for(dc.stop(), 10)


def camille(app: App, text: str) -> str:
    incoming = Incoming(ChatRef("telegram", EQUIPE_TG), UserRef("telegram", CAMILLE_TG, "Camille"), text)
    return plain(app.core.handle(incoming))


def event_of(app: App, title: str) -> tuple[int, str | None]:
    with app.sessions() as db:
        row = db.scalars(select(Session).where(Session.title == title)).one()
        return row.id, row.discord_event_id


def local(day: datetime) -> tuple[str, str]:
    at = day.astimezone(PARIS)
    return at.strftime("%Y-%m-%d"), at.strftime("%H:%M")


async def test_a_session_of_another_process_is_created_moved_and_cancelled_on_discord(
    fake: FakeDiscord,  # noqa: F811
    running: tuple[DiscordAdapter, Acks],
    dc_app: App,
    tg_app: App,
    clock: ManualClock,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "adapters.discord_event_rows")
    _, acks = running
    before, synced = len(fake.made("POST", EVENTS)), len(acks.event_syncs)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw_config(database_url), allow_unicode=True), encoding="utf-8")
    start = (clock.now() + timedelta(days=10)).replace(hour=17, minute=0, second=0, microsecond=0)
    day, hour = local(start)

    # The command line, a process of its own: its transaction holds the session and the row.
    args = ["--config", str(path), "sessions", "create", "--office", OFFICE, "--title", "Atelier CLI"]
    assert await asyncio.to_thread(cli.main, [*args, "--date", day, "--time", hour, "--location", "Salle B"]) == 0
    (made,) = await fake.wait_for("POST", EVENTS, lambda c: c.json["name"] == "Atelier CLI", timeout=10)
    assert made.json["entity_metadata"] == {"location": "Salle B"}
    assert made.json["scheduled_start_time"] == start.astimezone(UTC).isoformat()
    await acks.wait_syncs(synced + 1)
    number, event_id = event_of(dc_app, "Atelier CLI")
    assert event_id is not None and fake.events[event_id]["name"] == "Atelier CLI"

    # The Telegram instance handles the ANT's /deplacer: the Discord instance moves the event.
    later = start + timedelta(days=2)
    assert "déplacé" in (await asyncio.to_thread(camille, tg_app, f"/deplacer {number} {' '.join(local(later))}"))
    moved = f"{EVENTS}/{event_id}"
    (patch,) = await fake.wait_for("PATCH", moved, timeout=10)
    assert patch.json["scheduled_start_time"] == later.astimezone(UTC).isoformat()

    # … and its /annuler: the event is cancelled (Discord's status 4).
    await asyncio.to_thread(camille, tg_app, f"/annuler {number} neige")
    calls = await fake.wait_for("PATCH", moved, count=2, timeout=10)
    assert calls[1].json == {"status": 4}
    await acks.wait_syncs(synced + 3)
    assert [outcome for _, outcome in acks.event_syncs[synced:]] == ["sent", "sent", "sent"]
    assert len(fake.made("POST", EVENTS)) == before + 1  # created once
    # Each was done by its row (the whole pass, every 1 440 minutes here, does not log its operations).
    done = [r.getMessage() for r in caplog.records if r.name == "adapters.discord_event_rows"]
    assert [m for m in done if f"n°{number} " in m] == [
        f"Discord : évènement de la séance n°{number} : {op}" for op in ("create", "update", "cancel")
    ]


async def test_a_revocation_by_the_telegram_instance_takes_the_discord_roles_away(
    fake: FakeDiscord,  # noqa: F811
    running: tuple[DiscordAdapter, Acks],
    tg_app: App,
) -> None:
    _, acks = running
    reply = await asyncio.to_thread(camille, tg_app, "/retirer gite-du-moulin")
    assert "L'accès de Marie Dupont est retiré" in reply
    deleted = await fake.wait_for("DELETE", f"/guilds/{GUILD_ID}/members/{MARIE_DC}/roles/", count=2, timeout=10)
    assert sorted(c.path.rsplit("/", 1)[1] for c in deleted) == ["1180000000000000011", "1180000000000000012"]
    await acks.wait(2)
    assert acks.failed == []


async def test_a_create_that_may_have_happened_is_adopted_not_made_twice(
    fake: FakeDiscord,  # noqa: F811
    running: tuple[DiscordAdapter, Acks],
    tg_app: App,
    dc_app: App,
    clock: ManualClock,
) -> None:
    adapter, acks = running
    synced = len(acks.event_syncs)
    fake.fail("POST", EVENTS, 0)  # Discord creates it, the answer is lost on the way
    day, hour = local((clock.now() + timedelta(days=5)).replace(hour=9, minute=0, second=0, microsecond=0))
    assert "Café" in await asyncio.to_thread(camille, tg_app, f'/klub titre="Café" date={day} heure={hour}')
    await acks.wait_syncs(synced + 1)
    assert acks.event_syncs[synced][1] == "uncertain"  # never tried again as such…

    async def adopted() -> None:  # …but a whole pass is asked for at once, and it adopts the event
        while event_of(dc_app, "Café")[1] is None:
            adapter.synced.clear()
            await adapter.synced.wait()

    await asyncio.wait_for(adopted(), 10)
    posts = fake.made("POST", EVENTS, lambda c: c.json["name"] == "Café")
    assert len(posts) == 1
    (only,) = [e for e in fake.events.values() if e["name"] == "Café"]
    assert event_of(dc_app, "Café")[1] == only["id"]  # adopted: the session points at the one event


async def test_the_apology_after_a_crash_reaches_the_interaction_as_a_row(
    fake: FakeDiscord,  # noqa: F811
    running: tuple[DiscordAdapter, Acks],
    dc_app: App,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, acks = running

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(dc_app.core, "_handle", boom)
    event = fake.interaction(user_id=int(MARIE_DC), channel_id=1180000000000000002, command="prochain")
    await fake.push("INTERACTION_CREATE", event)
    (shown,) = await fake.wait_shown(event, timeout=10)
    assert "problème technique" in shown.text and shown.ephemeral
    await acks.wait(1)
    assert [m.ledger_id is not None for m in acks.messages] == [True]  # sent as a row, acknowledged
    assert dc_app.inbox.unhandled("discord") == 0
