"""How long a session change made by another process takes to reach Discord as a scheduled event.

    python bench/event_rows_bench.py [--sessions 20] [--poll 2] [--db URL]

Two apps on one database: "another process" (no adapter: the command line, the Telegram instance)
creates sessions one after another, each in its own transaction; the Discord instance (the real
discord.py against the fake server) carries out the rows. Measured: from the commit, at a random
moment of the pump's poll cycle, to the fake server receiving the POST of the event, with the default
`delivery.poll` (2 s) unless told; the periodic pass is set to a day so it plays no part.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import clubs  # noqa: E402
from bot.bootstrap import bootstrap  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.clubs import SessionSpec  # noqa: E402
from bot.config import Config  # noqa: E402
from tests.conftest import paris  # noqa: E402
from tests.fake_discord import GUILD_ID, TOKEN, FakeDiscord  # noqa: E402
from tests.test_discord_adapter import EQUIPE, PRESTA, WELCOME  # noqa: E402
from tests.test_event_rows import both_raw  # noqa: E402

EVENTS = f"/guilds/{GUILD_ID}/scheduled-events"


async def run(count: int, poll: float, url: str) -> list[float]:
    from adapters.discord_adapter import DiscordAdapter

    raw = both_raw(events_sync_minutes=1440)
    raw["delivery"] = {"poll": poll}
    config = Config.model_validate(raw)
    clock = ManualClock(paris("2026-11-20 09:00"))
    dc_app = bootstrap(config, clock=clock, database_url=url, platforms=("discord",), instance="bench-discord")
    other = bootstrap(config, clock=clock, database_url=url, migrate=False, platforms=(), instance="bench-cli")
    fake = FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires", WELCOME: "bienvenue"})
    await fake.start()
    delays: list[float] = []
    rng = random.Random(7)
    with fake.patched():
        dc = DiscordAdapter(dc_app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05)
        await dc.start()
        await asyncio.wait_for(dc.synced.wait(), 30)
        for n in range(count):
            title = f"Atelier {n}"
            start = paris("2026-12-01 10:00") + timedelta(days=n % 40, hours=n // 40)

            def create(title: str = title, start: object = start) -> None:
                with other.sessions.begin() as db:
                    clubs.create_one_off(db, "ot-trois-vallees", SessionSpec(title), start, clock.now())  # type: ignore[arg-type]

            # Land at a random moment of the pump's poll cycle (right after the previous row the pump is
            # still draining its batch and would take the new one at once: not what is measured).
            await asyncio.sleep(poll + rng.uniform(0, poll))
            await asyncio.to_thread(create)
            committed = time.perf_counter()
            await fake.wait_for("POST", EVENTS, lambda c, t=title: c.json["name"] == t, timeout=60)  # type: ignore[misc]
            delays.append(time.perf_counter() - committed)
        await dc.stop()
    await fake.stop()
    other.close()
    dc_app.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--db")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        delays = asyncio.run(run(args.sessions, args.poll, url))
    ordered = sorted(delays)
    print(
        f"{len(delays)} séances, poll {args.poll} s : médiane {statistics.median(delays):.2f} s, "
        f"max {ordered[-1]:.2f} s, min {ordered[0]:.2f} s"
    )


if __name__ == "__main__":
    main()
