"""How long the slowest hostile line takes through Core.handle (the « 0 lines over 1 s » figure).

    python bench/hostile_bench.py [--runs 3] [--top 10]

Plays tests/hostile_corpus.py as the ANT of the demo office in a chat where each command is allowed
(so the arguments reach the parsers), on a fresh SQLite file, then as a provider in the providers'
group. Each line's time is the median over the runs; reported: lines, median, the slowest lines, and
how many lines took more than 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datetime import datetime  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.storage import db as storage  # noqa: E402
from tests.hostile_corpus import corpus  # noqa: E402
from tests.test_hostile import first_combo  # noqa: E402
from tests.world import World, digest, say  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    config = load_config(ROOT / "config.example.yml", env={})
    lines = corpus()
    times: dict[tuple[str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        storage.upgrade(url)
        world = World(config, url, datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Europe/Paris")))
        seeded = digest(world.app)
        for _ in range(args.runs):
            for line in lines:
                for who, chat in (first_combo(line), ("camping-les-pins", "A-prestataires")):
                    start = time.perf_counter()
                    say(world.app, who, line, chat)
                    times.setdefault((who, chat, line), []).append(time.perf_counter() - start)
                    world.app.outbox.drain("console")
                    if digest(world.app) != seeded:
                        world.reset()
        world.close()
    medians = sorted(((statistics.median(v), k) for k, v in times.items()), reverse=True)
    print(f"{len(lines)} lignes, {len(medians)} cas, {args.runs} passe(s)")
    print(f"médiane : {statistics.median(m for m, _ in medians) * 1000:.1f} ms")
    print(f"au-delà de 1 s : {sum(1 for m, _ in medians if m > 1.0)}")
    print("les plus lentes :")
    for m, (who, chat, line) in medians[: args.top]:
        print(f"  {m * 1000:8.1f} ms  {who} [{chat}] {line[:70]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
