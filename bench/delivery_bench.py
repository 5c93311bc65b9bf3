"""The durable outbox: throughput, work sharing between instances, recovery after a crash.

    python bench/delivery_bench.py [--rows 2000] [--runs 3] [--pg postgresql+psycopg://…]

1. Throughput: ROWS messages written to the outbox, then delivered by the real `OutboxPump` (claim by
   batches; one commit per message, 'sending' together with the previous message's 'sent'; call) to a
   platform call that returns at once — what the database machinery costs, without Telegram's own limit
   (30 messages/s per bot). One instance, then two instances (two processes on the same database,
   started together): messages/s and how the rows were shared.
2. Recovery: instance "a" claims every row, is in the middle of sending one, and dies. A new process
   under the same name starts: the delay from its start to the first and to the last recovered
   delivery, and how many rows ended uncertain (at most the one in flight).
Medians of several runs, on a fresh SQLite file and (with --pg or $KLUB_BENCH_DATABASE_URL) PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from adapters.outbox_pump import OutboxPump  # noqa: E402
from bench import pages  # noqa: E402
from bot import instances  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.messages import ChatRef, MemberAction, OutMessage, Reply  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from bot.storage.tables import OutboxRow  # noqa: E402

CONFIG = {
    "offices": [{"id": "ot-bench", "name": "OT Bench"}],
    "adapters": {"console": {"enabled": False}},
}


def config() -> Config:
    return Config.model_validate(CONFIG)


def open_app(url: str, name: str) -> App:
    return bootstrap(config(), database_url=url, migrate=False, instance=name, platforms=["telegram"])


def fresh(url: str | None) -> str:
    url = pages.fresh_url(url, tempfile.mkdtemp())
    storage.upgrade(url)
    return url


def fill(url: str, rows: int) -> None:
    app = open_app(url, "writer")
    with app.sessions.begin() as db:
        for n in range(rows):
            chat = ChatRef("telegram", str(10_000 + n), private=True)
            app.outbox.put(OutMessage(chat, Reply(f"⏰ Rappel n°{n}")), db)
    app.close()


async def pump(app: App) -> list[float]:
    """Deliver everything claimable with the real pump; the time of each delivery."""
    times: list[float] = []

    async def send(message: OutMessage) -> None:
        times.append(time.perf_counter())

    async def execute(action: MemberAction) -> None:
        times.append(time.perf_counter())

    await OutboxPump(app, "telegram", send, execute).flush()
    return times


def _worker(url: str, name: str, ready: Any, go: Any, out: Any) -> None:
    app = open_app(url, name)
    ready.put(name)
    go.wait()
    start = time.perf_counter()
    times = asyncio.run(pump(app))
    out.put((name, start, times))
    app.close()


def throughput(url: str, rows: int, count: int) -> tuple[float, dict[str, int]]:
    fill(url, rows)
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, f"inst-{i}", ready, go, out)) for i in range(count)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)  # every process imported and connected: start them together
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    start = min(r[1] for r in results)
    end = max(max(r[2], default=r[1]) for r in results)
    shares = {r[0]: len(r[2]) for r in results}
    assert sum(shares.values()) == rows, shares  # every row once, none twice
    return rows / (end - start), shares


def recovery(url: str, rows: int) -> tuple[float, float, int]:
    fill(url, rows)
    dead = open_app(url, "a")
    held = dead.outbox.claim("telegram")
    dead.outbox.mark_sending(held[0])  # then the process dies in the middle of that call
    dead.close()
    start = time.perf_counter()
    again = open_app(url, "a")
    instances.recover(again.sessions, "a", again.clock.now())
    times = asyncio.run(pump(again))
    with again.sessions() as db:
        uncertain = int(db.scalar(select(func.count()).where(OutboxRow.status == "uncertain")) or 0)
    again.close()
    assert len(times) == rows - 1
    return times[0] - start, times[-1] - start, uncertain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("KLUB_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.pg:
        backends.append(("PostgreSQL", args.pg))
    for label, url in backends:
        for count in (1, 2):
            rates, shares = [], []
            for _ in range(args.runs):
                rate, share = throughput(fresh(url), args.rows, count)
                rates.append(rate)
                shares.append(sorted(share.values(), reverse=True))
            split = " / ".join(str(round(statistics.median(s[i] for s in shares))) for i in range(count))
            print(f"{label:<10} {count} instance(s) : {statistics.median(rates):7.0f} messages/s  (partage : {split})")
        firsts, lasts, uncertain = [], [], []
        for _ in range(args.runs):
            first, last, lost = recovery(fresh(url), args.rows)
            firsts.append(first)
            lasts.append(last)
            uncertain.append(lost)
        print(
            f"{label:<10} reprise après kill -9 : premier envoi {statistics.median(firsts) * 1000:.0f} ms, "
            f"dernier {statistics.median(lasts):.2f} s après le redémarrage ({args.rows - 1} messages), "
            f"incertain(s) : {max(uncertain)}"
        )


if __name__ == "__main__":
    main()
