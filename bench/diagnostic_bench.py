"""The diagnostic's observatory pages with a territory's worth of answers, through the real Starlette app.

    python bench/diagnostic_bench.py [--providers 2000] [--requests 15] [--db URL]

A fresh SQLite file (or the given PostgreSQL URL, emptied first) gets the demo config, N providers spread
over the territory's two offices and three yearly campaigns of completed diagnostics (random answers,
each run scored by the real code). A coordinator logs in through a real one-time link; each page is
fetched `--requests` times. Prints the median and p90 per page, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from bench import pages  # noqa: E402
from bench.web_bench import log_in  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.clock import ManualClock, SystemClock  # noqa: E402
from bot.config import WebConfig, load_config  # noqa: E402
from bot.diagnostic import campaign_of, scoring  # noqa: E402
from bot.storage.tables import DiagnosticAnswer, DiagnosticRun, Office, Person  # noqa: E402
from bot.web import build_app  # noqa: E402

CATEGORIES = ["gite", "camping", "hotel", "restaurant", "activite", "chambre-hotes"]


def seed(app: App, n: int) -> None:
    """Bulk rows, scored by the real scoring code (the action plans are left out: no page lists them all)."""
    rng = random.Random(11)
    now = app.clock.now()
    q = app.questionnaire
    this_year = now.year
    with app.sessions.begin() as db:
        # The ANT acts as the territory's coordinator: the pages then cover both offices side by side.
        db.scalars(select(Person).where(Person.slug == "camille-ant")).one().role = "admin"
        offices = [o.id for o in db.scalars(select(Office).order_by(Office.id))]
        people = [
            {
                "slug": f"bench-{i}",
                "name": f"Prestataire {i}",
                "business": f"Établissement {i}",
                "category": rng.choice(CATEGORIES),
                "office_id": offices[i % len(offices)],
                "role": "provider",
                "active": True,
                "created_at": now,
            }
            for i in range(n)
        ]
        db.execute(insert(Person), people)
        ids = dict(db.execute(select(Person.slug, Person.id).where(Person.slug.like("bench-%"))).all())
        run_rows, answer_sets = [], []
        for p in people:
            for year in (this_year - 2, this_year - 1, this_year):
                if rng.random() < 0.25:
                    continue  # not everybody answers every year
                when = now.replace(year=year) - timedelta(days=rng.randrange(60))
                answers = {question.id: rng.choice(question.answers).id for question in q.questions}
                run_rows.append(
                    {
                        "person_id": ids[p["slug"]],
                        "office_id": p["office_id"],
                        "campaign": year,
                        "started_at": when,
                        "updated_at": when,
                        "completed_at": when,
                        "scores": json.dumps(scoring.scores(q, answers)),
                    }
                )
                answer_sets.append((when, answers))
        db.execute(insert(DiagnosticRun), run_rows)
        run_ids = list(db.scalars(select(DiagnosticRun.id).order_by(DiagnosticRun.id)))
        db.execute(
            insert(DiagnosticAnswer),
            [
                {"run_id": rid, "question_id": qid, "answer_id": aid, "at": when}
                for rid, (when, answers) in zip(run_ids, answer_sets, strict=True)
                for qid, aid in answers.items()
            ],
        )


def run(url: str, n: int, requests: int) -> dict[str, list[float]]:
    config = load_config(ROOT / "config.example.yml", env={})
    config = config.model_copy(update={"web": WebConfig(enabled=True, base_url="http://testserver")})
    app = bootstrap(config, clock=ManualClock(SystemClock().now()), database_url=url)
    try:
        start = time.perf_counter()
        seed(app, n)
        print(f"  (données : {time.perf_counter() - start:.1f} s)")
        with app.sessions() as db:
            first = db.scalars(select(Person).where(Person.slug == "bench-0")).one()
        zone_year = campaign_of(app.clock.now(), ZoneInfo("Europe/Paris"))
        pages = {
            "observatoire (territoire)": "/diagnostic",
            "observatoire trié par axe": "/diagnostic?sort=ereputation",
            "observatoire, une catégorie": "/diagnostic?category=gite",
            f"campagne {zone_year - 1}": f"/diagnostic?campaign={zone_year - 1}",
            "profil d'un prestataire": f"/diagnostic/people/{first.id}",
            "export XLSX": "/diagnostic/export.xlsx",
        }
        client = TestClient(build_app(app, secret=b"bench-diagnostic-secret-32-bytes!"), follow_redirects=False)
        log_in(client, app)
        times: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(requests):
            for name, path in pages.items():
                t0 = time.perf_counter()
                response = client.get(path)
                times[name].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return times
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--db", help="PostgreSQL URL (emptied first); default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="klub-bench-") as tmp:
        url = pages.fresh_url(args.db, tmp)
        print(f"{args.providers} prestataires, 3 campagnes ({'PostgreSQL' if args.db else 'SQLite'})")
        times = run(url, args.providers, args.requests)
    pages.print_times(times, 30)


if __name__ == "__main__":
    main()
