"""The office dashboard over HTTP: login links, sessions, CSRF, tenancy, the question log, exports, the ICS feed."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from bot import clubs, questions
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.clubs import SessionSpec
from bot.config import Config, FaqConfig, WebConfig
from bot.membership import person_by_slug
from bot.questions import LogFilter
from bot.storage.tables import AuditLog, LoginToken, Office, Person, Question, Registration
from bot.web import auth, build_app

from .conftest import paris

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package and warns once, at import, when it finds httpx instead.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient
from .helpers import OFFICE, plain, say

OTHER = "ot-haut-plateau"
SECRET = b"secret-de-test"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# -- fixtures and helpers (also used by the browser tests) ----------------------------------------------


def web_config(config: Config, base_url: str, faq_dir: Path) -> Config:
    """The example config with the dashboard on, and a throw-away tutorial folder for drafts.

    The folder holds one unrelated tutorial: a base must load for Klub to start, and this one answers none
    of the questions the tests ask."""
    faq_dir.mkdir(parents=True, exist_ok=True)
    (faq_dir / "essai.yml").write_text(
        "theme: Essai\nentries:\n  - id: essai-tracteur\n    question: Comment réparer un tracteur à vapeur ?\n"
        "    answer: Demandez au musée.\n",
        encoding="utf-8",
    )
    return config.model_copy(
        update={
            "web": WebConfig(enabled=True, base_url=base_url),
            "faq": FaqConfig(bases=[str(faq_dir)]),
        }
    )


@pytest.fixture
def wapp(config: Config, clock: ManualClock, database_url: str, tmp_path: Path) -> Iterator[App]:
    application = bootstrap(
        web_config(config, "http://testserver", tmp_path / "faq"), clock=clock, database_url=database_url, migrate=False
    )
    yield application
    application.close()


@pytest.fixture
def client(wapp: App) -> TestClient:
    return TestClient(build_app(wapp, secret=SECRET), follow_redirects=False)


def new_client(wapp: App) -> TestClient:
    return TestClient(build_app(wapp, secret=SECRET), follow_redirects=False)


def link_for(app: App, who: str) -> str:
    text = plain(say(app, who, "/tableau"))
    found = re.search(r"(https?://\S+/login/[A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def log_in(client: TestClient, app: App, who: str) -> str:
    """Through the real flow: the link, the confirmation page, the POST. Returns the session's CSRF token."""
    path = link_for(app, who).split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")
    assert page.status_code == 200, page.text
    done = client.post(f"/{path}", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303, done.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def seed(app: App) -> dict[str, int]:
    """A realistic office: questions over several months, a past Klub with registrations, an upcoming one."""
    ids: dict[str, int] = {}
    with app.sessions.begin() as db:

        def who(slug: str) -> Person:
            person = person_by_slug(db, slug)
            assert person is not None
            return person

        marie, thomas, karim, lea, paul = (
            who(s)
            for s in (
                "gite-du-moulin",
                "camping-les-pins",
                "auberge-de-la-source",
                "canoe-aventure",
                "ferme-du-plateau",
            )
        )
        camille = who("camille-ant")
        start = paris("2026-11-05 18:30")
        past = clubs.create_one_off(
            db,
            OFFICE,
            SessionSpec(title="Klub numérique", capacity=12, min_attendance=4, location="Salle du conseil"),
            start,
            start - timedelta(days=40),
        )
        for person in (marie, thomas, karim, lea):
            clubs.register(db, past, person, start - timedelta(days=3))
        ids["past_session"] = past.id

        def ask(key: str, person: Person, text: str, source: str, when: str, theme: str | None = None) -> Question:
            q = questions.create(db, person.office_id, person, text, source, paris(when), theme=theme)
            ids[key] = q.id
            return q

        q = ask("avis", marie, "Comment répondre à un avis négatif sur Google ?", "advance", "2026-10-12 10:00", "Avis")
        questions.set_status(
            db, q, "answered_klub", start + timedelta(hours=1), camille, note="Remercier, rester factuel."
        )
        ask(
            "insta",
            thomas,
            "Programmer des publications Instagram à l'avance ?",
            "advance",
            "2026-10-20 14:10",
            "Instagram",
        )
        q = ask("fiche", karim, "Changer les horaires de ma fiche Google", "faq_miss", "2026-09-03 09:30", "Google")
        questions.set_status(db, q, "answered_base", paris("2026-09-03 09:31"), None)
        ask("qr", lea, "Créer un QR code pour mon menu", "low_confidence", "2026-08-14 16:00", "Outils")
        q = ask("spam", karim, "Vendez-vous des abonnements ?", "faq_miss", "2026-07-02 11:00")
        questions.set_status(db, q, "dismissed", paris("2026-07-03 08:00"), camille, reason="hors sujet")
        ask("facebook", marie, "Comment renommer ma page Facebook ?", "advance", "2026-11-12 08:45", "Facebook")
        ask("facebook2", lea, "Changer le nom de ma page Facebook", "advance", "2026-11-15 19:05", "Facebook")
        ask(
            "newsletter",
            thomas,
            "Quel outil gratuit pour une newsletter ?",
            "not_useful",
            "2026-11-18 17:20",
            "Newsletter",
        )
        ask("other", paul, "Question confidentielle du Haut-Plateau", "advance", "2026-11-10 10:00", "Avis")
        upcoming = clubs.next_session(db, OFFICE, app.clock.now())
        assert upcoming is not None
        ids["next_session"] = upcoming.id
        for person in (marie, thomas, lea):
            clubs.register(db, upcoming, person, app.clock.now())
        other = clubs.create_one_off(
            db, OTHER, SessionSpec(title="Atelier du plateau"), paris("2026-12-08 14:00"), paris("2026-11-20 09:00")
        )
        ids["other_session"] = other.id
    return ids


def count(app: App, model: type, *where: object) -> int:
    with app.sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def question(app: App, number: int) -> Question:
    with app.sessions() as db:
        q = db.get(Question, number)
        assert q is not None
        return q


# -- /tableau in chat ------------------------------------------------------------------------------------


def test_tableau_sends_a_one_time_link_in_private_to_staff_only(wapp: App) -> None:
    url = link_for(wapp, "julien-accueil")
    assert url.startswith("http://testserver/login/")
    token = url.rsplit("/", 1)[1]
    with wapp.sessions() as db:
        row = db.scalar(select(LoginToken))
        assert row is not None
        assert row.token_hash == auth.hash_token(token) and token not in row.token_hash  # only the hash is kept
        assert row.expires_at - row.created_at == timedelta(minutes=15)
    assert "est réservée au rôle" in plain(say(wapp, "gite-du-moulin", "/tableau"))
    assert "en message privé" in plain(say(wapp, "camille-ant", "/tableau", chat="equipe"))
    assert "/login/" in plain(say(wapp, "camille-ant", "/dashboard"))  # English alias


def test_tableau_when_the_dashboard_is_disabled(config: Config, clock: ManualClock, database_url: str) -> None:
    off = config.model_copy(update={"web": WebConfig(enabled=False)})
    application = bootstrap(off, clock=clock, database_url=database_url, migrate=False)
    try:
        text = plain(say(application, "camille-ant", "/tableau"))
        assert "n'est pas activé" in text and "/login/" not in text
    finally:
        application.close()


# -- login -----------------------------------------------------------------------------------------------


def test_login_through_the_link_sets_a_signed_http_only_cookie(wapp: App, client: TestClient) -> None:
    url = link_for(wapp, "camille-ant")
    path = "/" + url.split("/", 3)[3]
    assert client.get("/").status_code == 401
    page = client.get(path)
    assert page.status_code == 200 and "Se connecter" in page.text
    assert client.get(path).status_code == 200  # a link preview does not use the link up
    done = client.post(path, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/?ok=welcome"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    home = client.get(done.headers["location"])
    assert "Bonjour Camille" in home.text and "Bienvenue" in home.text
    assert count(wapp, AuditLog, AuditLog.action == "web.login") == 1
    forged = dict(client.cookies)
    value = forged[auth.COOKIE]
    client.cookies.set(auth.COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/").status_code == 401  # a tampered cookie is no session


def test_https_base_url_gives_a_secure_cookie(
    config: Config, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    app = bootstrap(
        web_config(config, "https://klub.example.fr", tmp_path), clock=clock, database_url=database_url, migrate=False
    )
    try:
        response = TestClient(build_app(app, secret=SECRET)).get("/login")
        assert "Secure" in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]
        assert "https://klub.example.fr/login/" in plain(say(app, "camille-ant", "/tableau"))
    finally:
        app.close()


def test_expired_link_is_refused_and_opens_nothing(wapp: App, client: TestClient, clock: ManualClock) -> None:
    path = "/" + link_for(wapp, "camille-ant").split("/", 3)[3]
    page = client.get(path)
    clock.advance(timedelta(minutes=16))
    expired = client.get(path)
    assert expired.status_code == 410 and "expiré" in expired.text and "/tableau" in expired.text
    refused = client.post(path, data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 410 and "Rien n'a été modifié" in refused.text
    assert client.get("/").status_code == 401


def test_reused_link_is_refused(wapp: App, client: TestClient) -> None:
    path = "/" + link_for(wapp, "camille-ant").split("/", 3)[3]
    page = client.get(path)
    assert client.post(path, data={"csrf": csrf_of(page.text)}).status_code == 303
    other = new_client(wapp)
    again = other.get(path)
    assert again.status_code == 410 and "déjà servi" in again.text
    assert other.get("/").status_code == 401


def test_a_new_link_replaces_the_previous_one(wapp: App, client: TestClient) -> None:
    first = "/" + link_for(wapp, "camille-ant").split("/", 3)[3]
    link_for(wapp, "camille-ant")
    page = client.get(first)
    assert page.status_code == 404 and "inconnu" in page.text
    assert client.get("/login/pas-un-vrai-jeton-du-tout-123").status_code == 404


def test_revoked_person_loses_the_session_and_sessions_expire(
    wapp: App, client: TestClient, clock: ManualClock
) -> None:
    log_in(client, wapp, "camille-ant")
    clock.advance(timedelta(hours=11))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(hours=2))
    assert client.get("/").status_code == 401  # twelve hours, then a new link
    log_in(client, wapp, "camille-ant")
    with wapp.sessions.begin() as db:
        person = person_by_slug(db, "camille-ant")
        assert person is not None
        person.active = False
    assert client.get("/questions").status_code == 401


def test_logout(wapp: App, client: TestClient) -> None:
    csrf = log_in(client, wapp, "julien-accueil")
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login?ok=logout"
    assert "déconnecté" in client.get(out.headers["location"]).text
    assert client.get("/questions").status_code == 401


# -- CSRF, roles, tenancy ----------------------------------------------------------------------------------


def test_forged_csrf_token_is_refused_and_changes_nothing(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    log_in(client, wapp, "camille-ant")
    other = new_client(wapp)
    someone_elses = log_in(other, wapp, "julien-accueil")
    before = count(wapp, AuditLog)
    for data in (
        {"status": "answered_klub", "note": "piraté", "csrf": "forgé"},
        {"status": "answered_klub", "note": "piraté"},
        {"status": "answered_klub", "note": "piraté", "csrf": someone_elses},
    ):
        refused = client.post(f"/questions/{ids['insta']}/status", data=data)
        assert (
            refused.status_code == 403
            and "Formulaire refusé" in refused.text
            and "Rien n'a été modifié" in refused.text
        )
    q = question(wapp, ids["insta"])
    assert q.status == "open" and q.answer_note is None
    assert count(wapp, AuditLog) == before


def test_another_offices_ids_in_urls_are_refused(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    theirs = ids["other"]
    for url in (
        f"/questions/{theirs}",
        f"/sessions/{ids['other_session']}",
        f"/questions?office={OTHER}",
        f"/sessions?office={OTHER}",
    ):
        page = client.get(url)
        assert page.status_code == 403 and "autre office" in page.text, url
        assert "Question confidentielle" not in page.text
    for url, data in (
        (f"/questions/{theirs}/status", {"status": "answered_klub", "note": "x"}),
        (f"/questions/{theirs}/dismiss", {"reason": "x"}),
        (f"/questions/{theirs}/merge", {"target": str(ids["insta"])}),
        (f"/questions/{ids['insta']}/merge", {"target": str(theirs)}),
        (f"/questions/{theirs}/draft", {}),
        (f"/sessions/{ids['other_session']}/attendance", {}),
        (f"/offices/{OTHER}/calendar", {}),
    ):
        page = client.post(url, data={**data, "csrf": csrf})
        assert page.status_code == 403 and "autre office" in page.text, url
    assert question(wapp, theirs).status == "open" and question(wapp, ids["insta"]).status == "open"
    with wapp.sessions() as db:
        office = db.get(Office, OTHER)
        assert office is not None and office.ics_token is None
    listing = client.get("/questions")
    assert "Question confidentielle" not in listing.text and "Programmer des publications" in listing.text
    export = client.get("/questions/export.csv")
    assert b"Question confidentielle" not in export.content


def test_territory_coordinator_sees_every_office_of_the_territory(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    with wapp.sessions.begin() as db:
        coordinator = Person(
            slug="coord-pays", name="Inès Fabre", office_id=OFFICE, role="admin", created_at=wapp.clock.now()
        )
        db.add(coordinator)
        db.flush()
        url = auth.issue_link(db, coordinator, wapp.clock.now(), wapp.config.web)
    path = "/" + url.split("/", 3)[3]
    client.post(path, data={"csrf": csrf_of(client.get(path).text)})
    everything = client.get("/questions")
    assert "Question confidentielle" in everything.text and "Programmer des publications" in everything.text
    assert "Office de tourisme du Haut-Plateau" in everything.text  # the office column appears
    only_theirs = client.get(f"/questions?office={OTHER}")
    assert "Question confidentielle" in only_theirs.text and "Programmer des publications" not in only_theirs.text
    assert client.get(f"/sessions/{ids['other_session']}").status_code == 200
    assert client.get("/?office=ot-inconnu").status_code == 403


def test_staff_reads_but_only_the_ant_changes(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "julien-accueil")
    page = client.get(f"/questions/{ids['insta']}")
    assert page.status_code == 200 and "en lecture" in page.text and "/status" not in page.text
    refused = client.post(f"/questions/{ids['insta']}/status", data={"status": "answered_klub", "csrf": csrf})
    assert refused.status_code == 403 and "animateur numérique" in refused.text
    assert question(wapp, ids["insta"]).status == "open"


# -- the question log ---------------------------------------------------------------------------------------


def _numbers(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<a href="/questions/(\d+)">n°', html)}


def test_filters(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    log_in(client, wapp, "julien-accueil")
    mine = {k: v for k, v in ids.items() if k not in ("other", "past_session", "next_session", "other_session")}
    assert _numbers(client.get("/questions").text) == set(mine.values())
    assert _numbers(client.get("/questions?status=open").text) == {
        mine[k] for k in ("insta", "qr", "facebook", "facebook2", "newsletter")
    }
    assert _numbers(client.get("/questions?source=faq_miss").text) == {mine["fiche"], mine["spam"]}
    assert _numbers(client.get("/questions?theme=Facebook").text) == {mine["facebook"], mine["facebook2"]}
    assert _numbers(client.get("/questions?q=FACEBOOK").text) == {mine["facebook"], mine["facebook2"]}
    assert _numbers(client.get("/questions?from=2026-10-01&to=2026-10-31").text) == {mine["avis"], mine["insta"]}
    assert _numbers(client.get(f"/questions?session={ids['past_session']}").text) == {
        mine[k] for k in ("avis", "insta", "fiche", "qr", "spam")
    }
    bad = client.get("/questions?from=2026-13-45&status=inventé&session=99999")
    assert bad.status_code == 400  # refused filters: said on the page, which still shows
    assert "2026-13-45" in bad.text and "non reconnue" in bad.text and "inventé" in bad.text
    assert _numbers(bad.text) == set(mine.values())  # bad values are ignored, not guessed
    escaped = client.get("/questions?q=<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in escaped.text and "&lt;script&gt;" in escaped.text


def test_a_long_log_is_paged_and_the_pages_keep_the_filters(wapp: App, client: TestClient) -> None:
    now = wapp.clock.now()
    with wapp.sessions.begin() as db:
        marie = person_by_slug(db, "gite-du-moulin")
        assert marie is not None
        for i in range(250):
            when = now - timedelta(hours=i + 1)
            text = f"Question {i} sur {'Facebook' if i % 2 else 'Google'}"
            db.add(Question(office_id=OFFICE, person_id=marie.id, source="advance", text=text,
                            created_at=when, updated_at=when))  # fmt: skip
    log_in(client, wapp, "julien-accueil")
    first = client.get("/questions?q=facebook")
    assert "125 questions — de la 1e à la 100e" in first.text and "Page 1 sur 2" in first.text
    assert len(_numbers(first.text)) == 100 and "Plus récentes" not in first.text
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None and older.group(1) == "/questions?q=facebook&amp;page=2"
    second = client.get("/questions?q=facebook&page=2")
    assert len(_numbers(second.text)) == 25 and not _numbers(second.text) & _numbers(first.text)
    assert "Question 249 sur Facebook" in second.text and "Plus anciennes" not in second.text
    for wrong in ("0", "-1", "abc", "99999999999"):  # an odd page number shows the first page
        assert _numbers(client.get(f"/questions?q=facebook&page={wrong}").text) == _numbers(first.text)
    assert _numbers(client.get("/questions?q=facebook&page=7").text) == _numbers(second.text)  # past the end
    # Without a text filter the database pages: the same pages, newest first.
    pages = [client.get(f"/questions?page={n}").text for n in (1, 2, 3)]
    assert [len(_numbers(p)) for p in pages] == [100, 100, 50] and "Page 3 sur 3" in pages[2]
    assert "Question 0 sur Google" in pages[0] and "Question 249 sur Facebook" in pages[2]
    assert set().union(*map(_numbers, pages)) == _numbers(client.get("/questions?q=sur").text) | _numbers(
        client.get("/questions?q=sur&page=2").text
    ) | _numbers(client.get("/questions?q=sur&page=3").text)
    assert _numbers(client.get("/questions?page=9").text) == _numbers(pages[2])


def test_status_note_dismiss_and_merge_go_through_the_log_and_the_audit(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    done = client.post(
        f"/questions/{ids['insta']}/status",
        data={"status": "answered_klub", "note": "Meta Business Suite.", "csrf": csrf},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/questions/{ids['insta']}?ok=status"
    q = question(wapp, ids["insta"])
    assert q.status == "answered_klub" and q.answer_note == "Meta Business Suite."
    page = client.get(done.headers["location"])
    assert "C'est enregistré" in page.text and "Meta Business Suite." in page.text and "Répondue au Klub" in page.text

    assert client.post(f"/questions/{ids['qr']}/status", data={"status": "merged", "csrf": csrf}).status_code == 400
    missing = client.post(f"/questions/{ids['qr']}/dismiss", data={"reason": " ", "csrf": csrf})
    assert missing.status_code == 400 and "Raison manquante" in missing.text
    assert question(wapp, ids["qr"]).status == "open"
    assert (
        client.post(f"/questions/{ids['qr']}/dismiss", data={"reason": "déjà traité", "csrf": csrf}).status_code == 303
    )
    assert question(wapp, ids["qr"]).dismiss_reason == "déjà traité"

    merged = client.post(f"/questions/{ids['facebook2']}/merge", data={"target": str(ids["facebook"]), "csrf": csrf})
    assert merged.status_code == 303 and merged.headers["location"] == f"/questions/{ids['facebook']}?ok=merged"
    assert question(wapp, ids["facebook2"]).merged_into_id == ids["facebook"]
    with wapp.sessions() as db:
        assert questions.votes(db, ids["facebook"]) == 1  # Léa now supports Marie's question
    again = client.post(f"/questions/{ids['facebook2']}/status", data={"status": "open", "csrf": csrf})
    assert again.status_code == 409 and "Question close" in again.text
    itself = client.post(f"/questions/{ids['facebook']}/merge", data={"target": str(ids["facebook"]), "csrf": csrf})
    assert itself.status_code == 409
    with wapp.sessions() as db:
        actions = list(db.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions.count("questions.status") == 1 and "questions.dismiss" in actions and "questions.merge" in actions


def test_exports_are_the_cli_exports(wapp: App, client: TestClient) -> None:
    seed(wapp)
    log_in(client, wapp, "julien-accueil")
    with wapp.sessions() as db:
        expected = questions.to_csv(questions.rows(db, questions.search(db, LogFilter(office_ids=(OFFICE,)))))
    got = client.get("/questions/export.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == 'attachment; filename="questions-ot-trois-vallees-2026-11-20.csv"'
    assert got.content == expected
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(questions.COLUMNS) and len(rows) == 9
    only_open = client.get("/questions/export.xlsx?status=open")
    sheet = load_workbook(io.BytesIO(only_open.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == questions.COLUMNS and len(values) == 6 and {v[8] for v in values[1:]} == {"ouverte"}
    assert count(wapp, AuditLog, AuditLog.action == "questions.export") == 2


def test_create_a_tutorial_draft_from_a_question(wapp: App, client: TestClient, tmp_path: Path) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    made = client.post(f"/questions/{ids['newsletter']}/draft", data={"csrf": csrf})
    assert made.status_code == 303
    page = client.get(made.headers["location"])
    assert page.status_code == 200 and "Brouillon de tutoriel" in page.text
    assert "question: Quel outil gratuit pour une newsletter ?" in page.text and "theme: Newsletter" in page.text
    files = list((tmp_path / "faq" / "drafts").glob("*.yml"))
    assert len(files) == 1 and files[0].name in made.headers["location"]
    wrong = client.get(made.headers["location"].replace(f"/questions/{ids['newsletter']}/", f"/questions/{ids['qr']}/"))
    assert wrong.status_code == 404  # a draft is shown from its own question only
    assert client.get(f"/questions/{ids['qr']}/drafts/..%2F..%2Fconfig.yml").status_code == 404


# -- sessions, attendance, the calendar ----------------------------------------------------------------------


def test_sessions_registrations_attendance_and_agenda(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    listing = client.get("/sessions")
    assert listing.status_code == 200 and "À venir" in listing.text and "Passées" in listing.text
    assert "4 / 12" in listing.text and "à cocher" in listing.text
    past = client.get(f"/sessions/{ids['past_session']}")
    assert "Marie Dupont" in past.text and "Cochez les personnes présentes" in past.text
    assert "Programmer des publications Instagram" in past.text  # the agenda: open questions of the session
    with wapp.sessions() as db:
        regs = {db.get(Person, r.person_id).slug: r.id for r in clubs.registrations(db, ids["past_session"], "yes")}  # type: ignore[union-attr]
        intruder = clubs.registrations(db, ids["next_session"], "yes")[0].id
    ticked = [str(regs["gite-du-moulin"]), str(regs["camping-les-pins"])]
    forged = client.post(
        f"/sessions/{ids['past_session']}/attendance", data={"attended": [*ticked, str(intruder)], "csrf": csrf}
    )
    assert forged.status_code == 400
    assert count(wapp, Registration, Registration.attended.is_not(None)) == 0
    done = client.post(f"/sessions/{ids['past_session']}/attendance", data={"attended": ticked, "csrf": csrf})
    assert done.status_code == 303
    with wapp.sessions() as db:
        marks = {r.id: r.attended for r in clubs.registrations(db, ids["past_session"], "yes")}
    assert marks == {
        regs["gite-du-moulin"]: True,
        regs["camping-les-pins"]: True,
        regs["auberge-de-la-source"]: False,
        regs["canoe-aventure"]: False,
    }
    early = client.post(f"/sessions/{ids['next_session']}/attendance", data={"csrf": csrf})
    assert early.status_code == 409
    upcoming = client.get(f"/sessions/{ids['next_session']}")
    assert "Les présences se cochent ici une fois la séance commencée" in upcoming.text


def test_ics_feed_with_an_unguessable_office_token(wapp: App, client: TestClient) -> None:
    seed(wapp)
    assert client.get("/ics/nimporte-quoi-mais-assez-long.ics").status_code == 404
    csrf = log_in(client, wapp, "camille-ant")
    assert "Créer le lien d'abonnement" in client.get("/sessions").text
    assert client.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf}).status_code == 303
    with wapp.sessions() as db:
        office = db.get(Office, OFFICE)
        assert office is not None and office.ics_token and len(office.ics_token) >= 32
        token = office.ics_token
    page = client.get("/sessions")
    assert f"http://testserver/ics/{token}.ics" in page.text
    feed = new_client(wapp).get(f"/ics/{token}.ics")  # public: no login, no cookie
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert feed.text.startswith("BEGIN:VCALENDAR") and "SUMMARY:Klub numérique" in feed.text
    assert "set-cookie" not in feed.headers
    assert f'href="webcal://testserver/ics/{token}.ics"' in page.text and "Copier le lien" in page.text
    unconfirmed = client.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf})
    assert unconfirmed.status_code == 400 and "Confirmation nécessaire" in unconfirmed.text
    assert new_client(wapp).get(f"/ics/{token}.ics").status_code == 200  # not confirmed: nothing changed
    client.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf, "confirm": "yes"})
    assert new_client(wapp).get(f"/ics/{token}.ics").status_code == 404  # renewed: the old link is dead
    assert count(wapp, AuditLog, AuditLog.action == "calendar.link") == 2


# -- pages, charts, errors -------------------------------------------------------------------------------------


def test_overview_charts_are_accessible_svg(wapp: App, client: TestClient) -> None:
    seed(wapp)
    log_in(client, wapp, "julien-accueil")
    home = client.get("/")
    assert home.status_code == 200
    assert home.text.count('<svg class="chart"') == 4 and home.text.count('role="img"') == 4
    assert '<title id="c-months-t">Questions par mois</title>' in home.text
    assert "nov. 26 : 3" in home.text and "déc. 25 : 0" in home.text  # the figures, with their year, in the description
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in home.text
    assert "Répondues au Klub" in home.text and "Inscrits" in home.text


def test_error_pages_are_french_and_headers_are_strict(wapp: App, client: TestClient) -> None:
    anonymous = client.get("/questions")
    assert anonymous.status_code == 401 and "Connexion nécessaire" in anonymous.text and "/tableau" in anonymous.text
    log_in(client, wapp, "julien-accueil")
    missing = client.get("/nulle-part")
    assert missing.status_code == 404 and "Page introuvable" in missing.text
    assert client.get("/questions/987654").status_code == 404
    assert client.get("/questions/99999999999999999999999").status_code == 404
    page = client.get("/questions")
    assert (
        page.headers["referrer-policy"] == "no-referrer"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/static/style.css").status_code == 200


def test_english_speakers_get_english_pages(wapp: App, client: TestClient) -> None:
    with wapp.sessions.begin() as db:
        person = person_by_slug(db, "camille-ant")
        assert person is not None
        person.language = "en"
    log_in(client, wapp, "camille-ant")
    assert "Question log" in client.get("/questions").text


def test_cli_registers_klub_web() -> None:
    from bot.cli import build_parser
    from bot.cli.web import run_web

    args = build_parser().parse_args(["web", "--port", "8099"])
    assert args.func is run_web and args.port == 8099


def test_the_audit_names_the_link_requests(wapp: App) -> None:
    link_for(wapp, "camille-ant")
    assert count(wapp, AuditLog, AuditLog.action == "web.link") == 1


def test_a_session_changed_in_chat_shows_its_new_place_and_seats(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    log_in(client, wapp, "camille-ant")
    number = ids["next_session"]
    changed = say(wapp, "camille-ant", f'/modifier-seance {number} places=20 lieu="Mairie, salle 3"', chat="equipe")
    assert "modifiée" in plain(changed)
    page = client.get(f"/sessions/{number}")
    assert page.status_code == 200
    assert "Mairie, salle 3" in page.text and "/ 20" in page.text
