"""Dashboard response times with a large question log, through the real Starlette app (no network).

    python bench/web_bench.py [--questions 10000] [--agenda 300] [--requests 30] [--db URL]

A fresh SQLite file (or the given PostgreSQL URL, emptied first) gets the demo config and N questions
spread over two years; an ANT logs in through a real one-time link, then each page is fetched
`--requests` times. Prints the median and p90 per page, in milliseconds. The live agenda is measured with
`--agenda` open questions (and their votes) on the next session; the search folds accents and case.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from bench import pages  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.clock import ManualClock, SystemClock  # noqa: E402
from bot.config import WebConfig, load_config  # noqa: E402
from bot.storage.tables import Person, Question  # noqa: E402
from bot.web import auth, build_app  # noqa: E402

OFFICE = "ot-trois-vallees"
WORDS = [
    "Facebook", "Instagram", "Google", "avis", "fiche", "site", "réservation", "newsletter", "photos", "horaires",
    "QR", "menu",
]  # fmt: skip
THEMES = ["Facebook", "Instagram", "Google", "Avis", "Site web", "Newsletter", None]
STATUSES = ["open"] * 5 + ["answered_faq", "answered_klub", "dismissed"]
SOURCES = ["advance", "faq_miss", "low_confidence", "not_useful"]
PAGES = {
    "vue d'ensemble": "/",
    "journal": "/questions",
    "journal filtré (texte)": "/questions?q=facebook&status=open",
    "export CSV": "/questions/export.csv",
    "séances": "/sessions",
    "recherche sans accents": "/questions?q=reservation",
    "recherche d'un nom": "/questions?q=gite",
    "journal trié par votes": "/questions?sort=votes",
}
LIVE = {"agenda en direct": "/sessions/{s}/live", "agenda : liste rafraîchie": "/sessions/{s}/live/list"}


def seed(app: App, n: int) -> None:
    rng = random.Random(7)
    now = app.clock.now()
    with app.sessions.begin() as db:
        people = [p.id for p in db.scalars(select(Person).where(Person.office_id == OFFICE))]
        for i in range(n):
            when = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            words = rng.sample(WORDS, 4)
            db.add(
                Question(
                    office_id=OFFICE,
                    person_id=rng.choice(people),
                    source=rng.choice(SOURCES),
                    status=rng.choice(STATUSES),
                    text=f"Question {i} : comment gérer {' '.join(words)} ?",
                    theme=rng.choice(THEMES),
                    created_at=when,
                    updated_at=when,
                )
            )


def seed_agenda(app: App, n: int) -> int:
    """`n` open questions on the next session, with a few votes each; returns the session's number."""
    from bot import clubs
    from bot.storage.tables import Vote

    rng = random.Random(11)
    now = app.clock.now()
    with app.sessions.begin() as db:
        session = clubs.next_session(db, OFFICE, now)
        assert session is not None, "la config de démonstration n'a pas de séance à venir"
        people = [p.id for p in db.scalars(select(Person).where(Person.office_id == OFFICE))]
        for i in range(n):
            words = rng.sample(WORDS, 4)
            q = Question(
                office_id=OFFICE, person_id=people[0], session_id=session.id, source="advance", status="open",
                text=f"Pour le Klub {i} : {' '.join(words)} ?", created_at=now, updated_at=now,
            )  # fmt: skip
            db.add(q)
            db.flush()
            for pid in rng.sample(people[1:], min(len(people) - 1, rng.randrange(4))):
                db.add(Vote(question_id=q.id, person_id=pid, created_at=now))
        return session.id


def log_in(client: TestClient, app: App) -> None:
    with app.sessions.begin() as db:
        ant = db.scalars(select(Person).where(Person.slug == "camille-ant")).one()
        url = auth.issue_link(db, ant, app.clock.now(), app.config.web)
    path = "/" + url.split("/", 3)[3]
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "page de connexion sans jeton CSRF"
    assert client.post(path, data={"csrf": found.group(1)}).status_code == 303


def run(url: str, n: int, requests: int, agenda: int) -> dict[str, list[float]]:
    config = load_config(ROOT / "config.example.yml", env={})
    config = config.model_copy(update={"web": WebConfig(enabled=True, base_url="http://testserver")})
    app = bootstrap(config, clock=ManualClock(SystemClock().now()), database_url=url)
    try:
        seed(app, n)
        session_id = seed_agenda(app, agenda)
        client = TestClient(build_app(app, secret=b"bench"), follow_redirects=False)
        log_in(client, app)
        pages = {**PAGES, **{name: path.format(s=session_id) for name, path in LIVE.items()}}
        times: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(requests):
            for name, path in pages.items():
                start = time.perf_counter()
                response = client.get(path)
                times[name].append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (path, response.status_code)
        return times
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--agenda", type=int, default=300, help="open questions on the live agenda")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--db", help="PostgreSQL URL (emptied first); default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="klub-bench-") as tmp:
        url = pages.fresh_url(args.db, tmp)
        times = run(url, args.questions, args.requests, args.agenda)
    where = "PostgreSQL" if args.db else "SQLite"
    print(f"{args.questions} questions (+{args.agenda} à l'agenda), {args.requests} requêtes par page ({where})")
    pages.print_times(times, 26)


if __name__ == "__main__":
    main()
