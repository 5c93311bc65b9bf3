"""The token sweep on tables that keep every row ever handled: the cost of one pass, with the indexes of
migration 0005 and without them (what each minute cost before), and the one-time upgrade that cleans rows
closed by earlier versions.

    python bench/tokens_bench.py [--rows 100000] [--open 50] [--runs 5] [--pg postgresql+psycopg://…]

ROWS closed rows (half inbox, handled; half outbox, sent; a tenth of them still carrying a token, as an
earlier version left them) and OPEN open ones with a token. Medians of --runs passes, on a fresh SQLite file
and (with --pg or $KLUB_BENCH_DATABASE_URL) PostgreSQL: a database the bench may empty (its public schema is
dropped), not the test database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bot.clock import ManualClock  # noqa: E402
from bot.inbox import Inbox  # noqa: E402
from bot.outbox import Outbox  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from bot.storage.tables import InboxRow, OutboxRow  # noqa: E402

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
INDEXES = ("ix_inbox_status_received", "ix_outbox_status_created")


def fill(url: str, rows: int, open_rows: int) -> None:
    """The tables at revision 0003 (before the indexes), filled, then nothing else."""
    engine = storage.make_engine(url)
    old = NOW - timedelta(days=30)
    with engine.begin() as db:
        inbox, outbox = [], []
        for n in range(rows // 2):
            data = {"kind": "interaction", "n": n, "text": "Comment répondre à un avis ?"}
            if n % 10 == 0:
                data["token"] = f"t-{n}"
            inbox.append({"platform": "discord", "key": f"i:{n}", "payload": json.dumps(data), "status": "done",
                          "claimed_by": "a", "received_at": old, "handled_at": old})
            meta = {"token": f"o-{n}"} if n % 10 == 0 else {}
            outbox.append({"platform": "discord", "chat_id": str(n), "private": True, "status": "sent",
                           "claimed_by": "a", "created_at": old, "sent_at": old,
                           "payload": json.dumps({"reply": {"text": "Voici le tutoriel."}, "meta": meta})})
        for n in range(open_rows):
            inbox.append({"platform": "discord", "key": f"p:{n}", "status": "pending", "claimed_by": "",
                          "received_at": NOW - timedelta(minutes=n), "handled_at": None,
                          "payload": json.dumps({"kind": "interaction", "token": f"p-{n}"})})
        db.execute(insert(InboxRow), inbox)
        db.execute(insert(OutboxRow), outbox)
    engine.dispose()


def sweep_ms(url: str, runs: int) -> float:
    engine = storage.make_engine(url)
    sessions = storage.session_factory(engine)
    clock = ManualClock(NOW)
    inbox, outbox = Inbox(sessions, clock, "a"), Outbox(sessions, clock, "a")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        inbox.scrub_tokens(NOW - timedelta(minutes=20))
        outbox.scrub_tokens(NOW - timedelta(minutes=20))
        times.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return statistics.median(times)


def measure(label: str, url: str, rows: int, open_rows: int, runs: int) -> None:
    cfg = storage.alembic_config(url)
    command.upgrade(cfg, "0003")
    fill(url, rows, open_rows)
    start = time.perf_counter()
    command.upgrade(cfg, "head")
    upgrade_s = time.perf_counter() - start
    with_index = sweep_ms(url, runs)
    engine = storage.make_engine(url)
    with engine.begin() as db:
        for name in INDEXES:
            db.execute(text(f'DROP INDEX "{name}"'))
    engine.dispose()
    without = sweep_ms(url, runs)
    print(f"{label}: {rows} closed rows, {open_rows} open; upgrade to 0005 {upgrade_s:.2f} s (once); "
          f"one sweep pass: {with_index:.2f} ms with the indexes, {without:.2f} ms without "
          f"(x{without / with_index:.0f})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("KLUB_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.rows, args.open, args.runs)
    if args.pg:
        engine = storage.make_engine(args.pg)
        with engine.begin() as db:
            db.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        measure("PostgreSQL", args.pg, args.rows, args.open, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
