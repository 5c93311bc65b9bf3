"""What the dashboard benches share: a fresh database to fill, and page timings printed alike."""

from __future__ import annotations

import statistics

from sqlalchemy import text

from bot.storage import db as storage
from bot.storage.tables import Base


def fresh_url(db: str | None, tmp: str) -> str:
    """The PostgreSQL URL given (emptied first: the bench fills it from nothing), else a new SQLite file."""
    if not db:
        return f"sqlite:///{tmp}/bench.db"
    engine = storage.make_engine(db)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return db


def print_times(times: dict[str, list[float]], width: int = 28) -> None:
    for name, samples in times.items():
        samples = sorted(samples)
        p90 = samples[int(0.9 * (len(samples) - 1))]
        print(f"  {name:<{width}} médiane {statistics.median(samples):7.1f} ms   p90 {p90:7.1f} ms")
