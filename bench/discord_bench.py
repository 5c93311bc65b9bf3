"""A burst of slash commands through the real discord.py against the fake Discord server: how long each
interaction waits for its acknowledgement (Discord's limit is 3 s) and for its answer.

    python bench/discord_bench.py [--bursts 100,400,1000] [--people 50] [--db URL]

Every figure is taken by the fake server: from sending INTERACTION_CREATE on the gateway to receiving
the callback (acknowledgement), and to receiving the first answer (the follow-up). The mix: /inscrire,
/prochain, /mesquestions and /question, in the providers' channel, by `--people` members taking turns
(one person's commands are handled in their order, different people's side by side; `--people 2` is
the mix of the first measures: Camille and Julien), on a fresh SQLite file per burst (or the given
PostgreSQL URL, emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from adapters.discord_adapter import DiscordAdapter  # noqa: E402
from bot.bootstrap import bootstrap  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import PersonConfig  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from bot.storage.tables import Base, Session  # noqa: E402
from tests.conftest import paris  # noqa: E402
from tests.fake_discord import TOKEN, FakeDiscord  # noqa: E402
from tests.test_discord_adapter import CAMILLE, EQUIPE, JULIEN, PRESTA, WELCOME, make_config  # noqa: E402


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _empty(url: str) -> None:
    storage.upgrade(url)
    engine = storage.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables) + " CASCADE"))
    engine.dispose()


def members(count: int) -> tuple[list[PersonConfig], list[int]]:
    """Camille and Julien, then providers of the office linked on Discord."""
    ids = [JULIEN, CAMILLE] + [1170000000000100000 + n for n in range(max(0, count - 2))]
    extra = [
        PersonConfig(id=f"presta-{n}", name=f"Presta {n}", office="ot-trois-vallees", identities=[f"discord:{user}"])
        for n, user in enumerate(ids[2:])
    ]
    return extra, ids[:count]


async def burst(size: int, url: str, people: int, follow_ups: int | None = None) -> dict[str, Any]:
    if url.startswith("postgresql"):
        _empty(url)
    config = make_config(events=False)
    extra, users = members(people)
    config.people.extend(extra)
    app = bootstrap(
        config,
        clock=ManualClock(paris("2026-11-20 09:00")),
        database_url=url,
        platforms=("discord",),
    )
    fake = FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires", WELCOME: "bienvenue"})
    await fake.start()
    try:
        with fake.patched():
            adapter = DiscordAdapter(
                app, env={"DISCORD_BOT_TOKEN": TOKEN}, guild_ready_timeout=0.05, follow_ups=follow_ups
            )
            await adapter.start()
            await asyncio.wait_for(fake.identified.wait(), 10)
            with app.sessions() as db:
                number = db.scalars(select(Session.id).order_by(Session.starts_at)).first()
            kinds: list[dict[str, Any]] = [
                {"command": "inscrire", "options": {"seance": number}},
                {"command": "prochain"},
                {"command": "mesquestions"},
                {"command": "question", "options": {"texte": "Comment publier une offre sur Google ?"}},
            ]
            events = [
                fake.interaction(user_id=users[n % len(users)], channel_id=PRESTA, **kinds[n % len(kinds)])
                for n in range(size)
            ]
            started = time.perf_counter()
            for event in events:
                await fake.push("INTERACTION_CREATE", event)
            while len(fake.followed_in) + len(fake.late) < size:
                fake._changed.clear()
                await asyncio.wait_for(fake._changed.wait(), 120)
            await adapter.settle()
            elapsed = time.perf_counter() - started
            await adapter.stop()
    finally:
        await fake.stop()
        app.close()
    ack, follow = list(fake.acked_in.values()), list(fake.followed_in.values())
    return {"size": size, "ack": ack, "follow": follow, "late": len(fake.late), "elapsed": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", default="100,400,1000")
    parser.add_argument("--people", type=int, default=50, help="members taking turns in the burst (2 or more)")
    parser.add_argument("--follow-ups", type=int, default=None, help="answers in flight at once (default: Klub's)")
    parser.add_argument("--db", default="", help="PostgreSQL URL (default: a fresh SQLite file per burst)")
    args = parser.parse_args()
    print(
        f"{'burst':>6} {'ack median':>11} {'ack p99':>8} {'ack max':>8} {'answer median':>14} {'answer p99':>11} "
        f"{'late':>5} {'total':>7}"
    )
    for size in (int(s) for s in args.bursts.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.db or f"sqlite:///{Path(tmp) / 'klub.db'}"
            r = asyncio.run(burst(size, url, max(2, args.people), args.follow_ups))
        ack, follow = r["ack"], r["follow"]
        print(
            f"{size:>6} {statistics.median(ack):>10.3f}s {p99(ack):>7.3f}s {max(ack):>7.3f}s "
            f"{statistics.median(follow):>13.3f}s {p99(follow):>10.3f}s {r['late']:>5} {r['elapsed']:>6.1f}s"
        )


if __name__ == "__main__":
    main()
