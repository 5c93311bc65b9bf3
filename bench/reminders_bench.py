"""Reminder plan and dispatch at scale.

    python bench/reminders_bench.py [--runs 5] [--db URL]

1. Rebuild the plan at start for 10,000 upcoming sessions × 3 offsets (J-7 and J-1 in the group, H-2 in
   private to one registered person each) — what every start of Klub does.
2. Dispatch 1,000 reminders due at the same moment through a recording outbox: claim each one in the
   ledger, render it, queue it, then acknowledge it (ledger marked sent) as an adapter would.
Medians of several runs on a fresh SQLite file (or the given PostgreSQL URL, emptied first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from bot.bootstrap import bootstrap  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from bot.storage.tables import Person, Registration, Session  # noqa: E402
from tests.conftest import paris  # noqa: E402

CONFIG = {
    "offices": [
        {
            "id": "ot-bench",
            "name": "OT Bench",  # the console adds its two groups itself
            "reminders": {"group": ["7d", "1d"], "private": ["2h"], "low_attendance": None},
        }
    ],
    "people": [{"id": "p", "name": "P", "office": "ot-bench", "role": "provider"}],
    "adapters": {"console": {"enabled": True}},
}


def fresh(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        engine = storage.make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def seed(app: object, starts: list[object], now: object) -> None:
    with app.sessions.begin() as db:  # type: ignore[attr-defined]
        person = db.query(Person).filter_by(slug="p").one()
        rows = [
            dict(
                office_id="ot-bench",
                title="Klub",
                kind="klub",
                starts_at=s,
                duration_minutes=120,
                location="",
                video_url="",
                status="scheduled",
                revision=0,
                created_at=now,
                updated_at=now,
            )
            for s in starts
        ]
        db.execute(insert(Session), rows)
        ids = [i for (i,) in db.execute(text("SELECT id FROM sessions WHERE series_id IS NULL ORDER BY id"))]
        db.execute(
            insert(Registration),
            [dict(session_id=i, person_id=person.id, status="yes", created_at=now, updated_at=now) for i in ids],
        )


def one_run(url: str) -> tuple[float, float, int, int]:
    fresh(url)
    config = Config.model_validate(CONFIG)
    clock = ManualClock(paris("2026-09-01 09:00"))
    app = bootstrap(config, clock=clock, database_url=url)
    now = clock.now()
    seed(app, [now + timedelta(days=8, hours=i % 5000) for i in range(10_000)], now)
    t0 = time.perf_counter()
    planned = app.reminders.rebuild(now)
    rebuild = time.perf_counter() - t0
    app.close()

    fresh(url)
    app = bootstrap(config, clock=clock, database_url=url)
    due_start = now + timedelta(days=7)  # J-7 of these sessions is due right now
    seed(app, [due_start + timedelta(seconds=i) for i in range(1_000)], now)
    clock.set(now + timedelta(seconds=1000))
    app.reminders.rebuild(clock.now())
    recorded = []
    t0 = time.perf_counter()
    app.tick()
    for message in app.outbox.drain("console"):
        recorded.append(message)
        app.outbox.ack(message)
    dispatch = time.perf_counter() - t0
    app.close()
    return rebuild, dispatch, planned, len(recorded)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", default=os.environ.get("KLUB_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    for label, url in [("SQLite", None)] + ([("PostgreSQL", args.db)] if args.db else []):
        rebuilds, dispatches = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                r, d, planned, sent = one_run(url or f"sqlite:///{tmp}/bench.db")
            rebuilds.append(r)
            dispatches.append(d)
        print(
            f"{label:<11} plan rebuild: {planned} reminders for 10,000 sessions in "
            f"{statistics.median(rebuilds) * 1000:.0f} ms (median of {args.runs})"
        )
        d = statistics.median(dispatches)
        print(
            f"{label:<11} dispatch: {sent} due reminders claimed, queued and acknowledged in {d * 1000:.0f} ms "
            f"({sent / d:.0f}/s, median of {args.runs})"
        )


if __name__ == "__main__":
    main()
