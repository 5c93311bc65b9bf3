"""`klub run` on Discord killed with SIGKILL in the middle of a burst of slash commands, measured from outside.

The real process runs against the fake Discord server (REST and gateway on 127.0.0.1, named in the
configuration). A burst of interactions arrives; once some answers are out the process is killed (kill
-9), then restarted under its name. Every interaction was acknowledged before the kill (stored first);
after the restart each is answered through its webhook, the placeholder edited once — never twice — and
only rows that were being sent at the kill (at most the follow-up slots plus the pump's one) are
uncertain, never sent again. The waits are on the subprocesses and the fake server, each bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sqlalchemy import func, select

from adapters.discord_adapter import FOLLOW_UPS
from bot.storage import db as storage
from bot.storage.tables import InboxRow, OutboxRow

from .conftest import ROOT
from .fake_discord import APP_ID, TOKEN, FakeDiscord
from .test_crash import WAIT, Klub
from .test_discord_adapter import CAMILLE, EQUIPE, JULIEN, NEWCOMER, PRESTA, WELCOME, make_config

BURST = 60
KILL_AFTER = 15  # answers received when the process is killed


class DiscordKlub(Klub):
    secrets: ClassVar[dict[str, str]] = {"DISCORD_BOT_TOKEN": TOKEN}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires", WELCOME: "bienvenue"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def setup(tmp_path: Path, database_url: str, fake: FakeDiscord) -> Iterator[Path]:
    raw: dict[str, Any] = make_config(
        events=False, api_base_url=f"{fake.url}/api/v10", gateway_url=f"ws://127.0.0.1:{fake.port}/gateway-ws"
    ).model_dump(mode="json", exclude_defaults=True)
    raw["database"] = {"url": database_url}
    raw["faq"]["bases"] = [str(ROOT / base) for base in raw["faq"]["bases"]]  # relative to the config file
    raw["adapters"]["console"] = {"enabled": False}
    raw["adapters"].setdefault("telegram", {})["enabled"] = False
    raw["web"] = {"enabled": False}
    raw["delivery"] = {"heartbeat": 0.2, "dead_after": 1.0, "poll": 0.2, "lease": 30, "batch": 10}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    yield path
    for klub in Klub.started:  # a failed test must not leave a bot running against the test database
        if klub.proc is not None and klub.proc.returncode is None:
            klub.proc.kill()
    Klub.started.clear()


async def _until(fake: FakeDiscord, done: Any, timeout: float = WAIT) -> None:
    async def wait() -> None:
        while not done():
            fake._changed.clear()
            await fake._changed.wait()

    await asyncio.wait_for(wait(), timeout)


def _rows(database_url: str) -> tuple[dict[str, int], set[str], int]:
    """The answers' statuses, the interactions whose answers are being sent, the inbox rows not handled."""
    engine = storage.make_engine(database_url)
    try:
        with engine.connect() as conn:
            # The answers to the interactions (the seeded sessions' late reminders are dropped meanwhile).
            answers = [
                (status, meta["interaction"])
                for status, payload in conn.execute(select(OutboxRow.status, OutboxRow.payload))
                if (meta := json.loads(payload).get("meta", {})).get("via") == "interaction"
            ]
            statuses = dict(Counter(status for status, _ in answers))
            sending = {interaction for status, interaction in answers if status == "sending"}
            unhandled = conn.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status != "done"))
    finally:
        engine.dispose()
    return statuses, sending, int(unhandled or 0)


async def test_sigkill_mid_burst_then_restart_answers_every_interaction_once(
    fake: FakeDiscord, setup: Path, database_url: str
) -> None:
    first = DiscordKlub(setup, "klub-a")
    await first.start()
    await asyncio.wait_for(fake.identified.wait(), WAIT)
    users = (JULIEN, CAMILLE, NEWCOMER)
    events = [fake.interaction(user_id=users[n % 3], channel_id=EQUIPE, command="aide") for n in range(BURST)]
    for event in events:
        await fake.push("INTERACTION_CREATE", event)
    await _until(fake, lambda: len(fake.followed_in) >= KILL_AFTER)
    first.kill()
    await first.reap()
    answered_before = set(fake.followed_in)
    assert set(fake.acked_in) == {e["id"] for e in events} and fake.late == []  # all stored, then deferred
    assert len(answered_before) < BURST  # the kill came mid-burst: the restart has work left
    _, in_flight, _ = _rows(database_url)
    # Only the call in flight at the kill can be uncertain: one row (more only if answers go in parallel).
    assert len(in_flight) <= (1 if FOLLOW_UPS == 1 else FOLLOW_UPS + 1)

    fake.identified.clear()
    second = DiscordKlub(setup, "klub-a")  # restarted under its name: resumes its own rows at once
    await second.start()
    expected = {e["id"] for e in events} - (in_flight - answered_before)
    await _until(fake, lambda: set(fake.followed_in) >= expected)
    code, err = await second.terminate()
    assert code == 0, err

    statuses, _, unhandled = _rows(database_url)
    assert unhandled == 0
    assert set(statuses) <= {"sent", "uncertain"} and statuses.get("uncertain", 0) == len(in_flight)
    for event in events:
        edits = fake.made("PATCH", f"/webhooks/{APP_ID}/{event['token']}/messages/@original")
        assert len(edits) <= 1, "an answer shown twice"
        if event["id"] in expected:
            assert len(edits) == 1, "an interaction left unanswered"
