"""Messages per second and per-message latency through Core.handle, with the writes a real message causes.

    python bench/pipeline_bench.py [--messages 2000] [--runs 5] [--db URL]

Each run uses a fresh SQLite file (or the given PostgreSQL URL, emptied first) and the demo config.
The mix: /aide, /start, an unknown command, /langue (a write), from several people, in private and
in groups — each message also updates the speaker's last-seen time, as in production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.bootstrap import bootstrap  # noqa: E402
from bot.clock import ManualClock, SystemClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.membership import console_chat_id  # noqa: E402
from bot.messages import ChatRef, Incoming, UserRef  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from bot.storage.tables import Base  # noqa: E402

PEOPLE = ["gite-du-moulin", "camping-les-pins", "auberge-de-la-source", "canoe-aventure", "camille-ant"]
TEXTS = ["/aide", "/start", "/inconnue", "/langue fr", "/langue fr"]


def messages(n: int) -> list[Incoming]:
    out = []
    for i in range(n):
        who = PEOPLE[i % len(PEOPLE)]
        chat = (
            ChatRef("console", who, private=True)
            if i % 3
            else ChatRef("console", console_chat_id("ot-trois-vallees", "prestataires"))
        )
        out.append(Incoming(chat, UserRef("console", who), TEXTS[(i // 5) % len(TEXTS)]))
    return out


def one_run(url: str, n: int) -> tuple[float, list[float]]:
    config = load_config(ROOT / "config.example.yml", env={})
    if url.startswith("postgresql"):
        engine = storage.make_engine(url)
        storage.upgrade(url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables) + " CASCADE"))
        engine.dispose()
    app = bootstrap(config, clock=ManualClock(SystemClock().now()), database_url=url)
    batch = messages(n)
    for m in batch[:50]:  # warm caches and connections
        app.core.handle(m)
    latencies = []
    start = time.perf_counter()
    for m in batch:
        t0 = time.perf_counter()
        app.core.handle(m)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    app.close()
    return n / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", default=os.environ.get("KLUB_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    targets = [("SQLite", None)] + ([("PostgreSQL", args.db)] if args.db else [])
    for label, url in targets:
        rates, medians, p99s = [], [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                rate, lat = one_run(url or f"sqlite:///{tmp}/bench.db", args.messages)
            lat.sort()
            rates.append(rate)
            medians.append(statistics.median(lat) * 1000)
            p99s.append(lat[int(len(lat) * 0.99) - 1] * 1000)
        print(
            f"{label:<11} {args.messages} messages × {args.runs} runs: "
            f"median {statistics.median(rates):.0f} msg/s, "
            f"latency median {statistics.median(medians):.2f} ms, p99 {statistics.median(p99s):.2f} ms"
        )


if __name__ == "__main__":
    main()
