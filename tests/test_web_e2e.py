"""The dashboard in a real headless browser (Playwright + Debian's Chromium) against uvicorn on 127.0.0.1.

Screenshots of every page, desktop and phone, land in tests/web_screens/ (not versioned) for a human look.
Without /usr/bin/chromium these tests are skipped, except under CI where they fail: install it with
scripts/ensure-chromium.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.web import make_server

from .test_web import OTHER, SECRET, link_for, question, seed, web_config

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
SCREENS = Path(__file__).parent / "web_screens"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} absent : installez Chromium avec scripts/ensure-chromium"
    if os.environ.get("CI"):
        # Under CI a missing browser is a broken environment, never a silently skipped suite.
        pytest.fail(f"tests navigateur impossibles : {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def served(config: Config, clock: ManualClock, database_url: str, tmp_path: Path) -> Iterator[tuple[App, str]]:
    """The dashboard served by uvicorn in a background thread, on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = bootstrap(web_config(config, base, tmp_path / "faq"), clock=clock, database_url=database_url, migrate=False)
    server = make_server(app, "127.0.0.1", sock.getsockname()[1], secret=SECRET)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert server.ready.wait(timeout=10), "uvicorn n'a pas démarré"
    try:
        yield app, base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.close()


def _page(browser: Browser, viewport: dict[str, int], tmp_path: Path) -> Page:
    context = browser.new_context(viewport=viewport, locale="fr-FR", accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(5000)
    return context.new_page()


def _log_in(page: Page, app: App, who: str) -> None:
    page.goto(link_for(app, who))
    expect(page.get_by_role("heading", name="Connexion au tableau de bord")).to_be_visible()
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("status").first).to_contain_text("Bienvenue")


def _shot(page: Page, name: str) -> None:
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _fits(page: Page) -> bool:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _too_wide(page: Page) -> list[str]:
    """What sticks out on the right, to name it when a page does not fit."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
                 .slice(0, 5).map(el => el.outerHTML.slice(0, 100))"""
        )
    )


def _small_links(page: Page) -> list[str]:
    """Links in the page's content a finger cannot hit: under 32 px high."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('main a')]
                 .filter(a => a.offsetParent !== null && a.getBoundingClientRect().height < 32)
                 .map(a => a.outerHTML.slice(0, 120))"""
        )
    )


def _labelled(page: Page) -> list[str]:
    """Form controls without a label (screen readers would announce them as « edit text »)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.outerHTML)"""
        )
    )


def test_log_in_filter_change_a_status_and_download_the_exports(
    browser: Browser, served: tuple[App, str], tmp_path: Path
) -> None:
    app, _ = served
    ids = seed(app)
    page = _page(browser, DESKTOP, tmp_path)
    _log_in(page, app, "camille-ant")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Camille !")

    page.get_by_role("navigation").get_by_role("link", name="Questions").click()
    page.get_by_label("Statut").select_option(label="Ouverte")
    page.get_by_label("Texte").fill("facebook")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_role("status").first).to_have_text("2 questions")
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(2)

    page.get_by_role("link", name="Comment renommer ma page Facebook ?").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Question n°{ids['facebook']}")
    page.get_by_label("Statut").select_option("answered_klub")
    page.get_by_label("Note de réponse").fill("Paramètres de la page › Nom : la demande passe en revue chez Meta.")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").first).to_contain_text("C'est enregistré")
    expect(page.locator("h1 .badge")).to_have_text("Répondue au Klub")
    q = question(app, ids["facebook"])
    assert q.status == "answered_klub" and q.answer_note and q.answer_note.startswith("Paramètres de la page")

    page.goto(page.url.split("/questions")[0] + "/questions?q=facebook")
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger (CSV)").click()
    download = info.value
    assert download.suggested_filename == "questions-ot-trois-vallees-2026-11-20.csv"
    table = list(csv.reader(io.StringIO(Path(download.path()).read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert table[0][:3] == ["n°", "date", "office"] and len(table) == 3
    statuses = {row[0]: row[8] for row in table[1:]}
    assert statuses == {str(ids["facebook"]): "répondue au Klub", str(ids["facebook2"]): "ouverte"}
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger (Excel)").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert sheet is not None and [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        ids["facebook"],
        ids["facebook2"],
    ]
    page.context.close()


def test_every_page_desktop_and_phone(browser: Browser, served: tuple[App, str], tmp_path: Path) -> None:
    """Screenshots for a human look, plus what a machine can check: no sideways scroll, every field labelled."""
    app, base = served
    ids = seed(app)
    with app.sessions.begin() as db:
        from bot.storage.tables import Registration

        for reg in db.query(Registration).filter(Registration.session_id == ids["past_session"]).limit(3):
            reg.attended = True
    for label, viewport in (("bureau", DESKTOP), ("telephone", PHONE)):
        page = _page(browser, viewport, tmp_path)
        page.goto(f"{base}/questions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion nécessaire")
        _shot(page, f"{label}-00-connexion-necessaire")
        page.goto(link_for(app, "camille-ant"))
        _shot(page, f"{label}-01-lien-de-connexion")
        page.get_by_role("button", name="Se connecter").click()
        pages = [
            ("02-vue-d-ensemble", "/"),
            ("03-journal", "/questions"),
            ("04-journal-filtre", "/questions?status=open&from=2026-10-01"),
            ("05-question", f"/questions/{ids['insta']}"),
            ("06-question-close", f"/questions/{ids['avis']}"),
            ("07-seances", "/sessions"),
            ("08-seance-passee", f"/sessions/{ids['past_session']}"),
            ("09-seance-a-venir", f"/sessions/{ids['next_session']}"),
            ("10-autre-office", f"/questions/{ids['other']}"),
            ("11-introuvable", "/nulle-part"),
            ("16-agenda-en-direct", f"/sessions/{ids['next_session']}/live"),
            ("17-compte-rendu", f"/sessions/{ids['past_session']}/report"),
            ("18-tutoriel-formulaire", f"/questions/{ids['newsletter']}/tutorial"),
            ("19-tutoriels", "/tutorials"),
            ("20-recherche-votes", "/questions?q=gite&sort=votes"),
        ]
        for name, path in pages:
            response = page.goto(base + path)
            assert response is not None and response.status in (200, 403, 404), path
            assert _fits(page), f"{label} {path} : la page déborde de l'écran {_too_wide(page)}"
            assert not _labelled(page), f"{label} {path} : champs sans étiquette {_labelled(page)}"
            if viewport is PHONE:
                assert not _small_links(page), f"{path} : liens de moins de 32 px {_small_links(page)}"
            _shot(page, f"{label}-{name}")
        page.goto(f"{base}/questions/{ids['newsletter']}")
        page.get_by_role("button", name="Créer un tutoriel").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Brouillon de tutoriel")
        expect(page.get_by_label("Le brouillon, à copier ou à compléter :")).to_contain_text("theme: Newsletter")
        expect(page.get_by_text("(dossier faq/drafts)")).to_be_visible()
        assert _fits(page), f"{label} brouillon : la page déborde de l'écran"
        _shot(page, f"{label}-12-brouillon")
        page.goto(f"{base}/sessions")
        if label == "bureau":  # created once; the phone pass shows the existing link
            page.get_by_role("button", name="Créer le lien d'abonnement").click()
        expect(page.get_by_label("Lien d'abonnement (iCalendar)")).to_have_value(f"{base}/ics/{_ics_token(app)}.ics")
        expect(page.get_by_role("button", name="Copier le lien")).to_be_visible()
        webcal = f"webcal://{base.split('://', 1)[1]}/ics/{_ics_token(app)}.ics"
        expect(page.get_by_role("link", name=re.compile("agenda de cet appareil"))).to_have_attribute("href", webcal)
        _shot(page, f"{label}-13-calendrier")
        page.get_by_role("button", name="Se déconnecter", exact=True).click()
        expect(page.get_by_role("status").first).to_contain_text("déconnecté")
        _shot(page, f"{label}-14-deconnexion")
        page.goto(f"{base}/questions?office={OTHER}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion nécessaire")
        page.context.close()


def _ics_token(app: App) -> str | None:
    from bot.storage.tables import Office

    with app.sessions() as db:
        office = db.get(Office, "ot-trois-vallees")
        return office.ics_token if office else None


def test_expired_link_and_attendance_in_the_browser(
    browser: Browser, served: tuple[App, str], tmp_path: Path, clock: ManualClock
) -> None:
    from datetime import timedelta

    app, base = served
    ids = seed(app)
    page = _page(browser, PHONE, tmp_path)
    stale = link_for(app, "camille-ant")
    clock.advance(timedelta(minutes=20))
    page.goto(stale)
    expect(page.get_by_role("heading", level=1)).to_have_text("Lien de connexion expiré")
    _shot(page, "telephone-15-lien-expire")
    _log_in(page, app, "camille-ant")
    page.goto(f"{base}/sessions/{ids['past_session']}")
    page.get_by_label("Marie Dupont").check()
    page.get_by_label("Léa Moreau").check()
    page.get_by_role("button", name="Enregistrer les présences").click()
    expect(page.get_by_role("status").first).to_contain_text("présences sont enregistrées")
    expect(page.get_by_label("Marie Dupont")).to_be_checked()
    expect(page.get_by_label("Thomas Bernard")).not_to_be_checked()
    page.get_by_role("button", name="Tout cocher").click()  # ticks the rest, then the form is saved as usual
    for name in ("Marie Dupont", "Thomas Bernard", "Léa Moreau", "Karim Haddad"):
        expect(page.get_by_label(name)).to_be_checked()
    page.get_by_role("button", name="Enregistrer les présences").click()
    expect(page.get_by_label("Thomas Bernard")).to_be_checked()
    page.context.close()
