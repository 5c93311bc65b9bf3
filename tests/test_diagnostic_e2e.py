"""The diagnostic's observatory in a real browser, desktop and phone: figures, sorting, a category, a profile,
the Excel export read back. Screenshots land in tests/web_screens/ like the other dashboard pages."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook

from bot.bootstrap import App

from .helpers import say
from .test_web_e2e import DESKTOP, PHONE, Browser, _fits, _labelled, _log_in, _page, _shot, browser, expect, served

__all__ = ["browser", "served"]  # the fixtures, shared with the other browser tests


def _diagnose(app: App, who: str, pick: int) -> None:
    say(app, who, "/diagnostic")
    for question in app.questionnaire.questions:
        choice = question.answers[min(pick, len(question.answers) - 1)]
        say(app, who, f"/diag {question.id} {choice.id}")


def test_the_observatory_desktop_and_phone(browser: Browser, served: tuple[App, str], tmp_path: Path) -> None:
    app, _base = served
    _diagnose(app, "gite-du-moulin", 0)
    _diagnose(app, "camping-les-pins", 2)
    _diagnose(app, "hotel-du-lac", 1)
    for label, viewport in (("bureau", DESKTOP), ("telephone", PHONE)):
        page = _page(browser, viewport, tmp_path)
        _log_in(page, app, "julien-accueil")
        page.get_by_role("link", name="Diagnostic").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Diagnostic numérique")
        expect(page.locator(".figure").first).to_contain_text("3 / 5")
        expect(page.get_by_text("sont réservables en ligne")).to_be_visible()
        assert _fits(page), f"{label} observatoire : la page déborde"
        assert not _labelled(page), _labelled(page)
        _shot(page, f"{label}-20-diagnostic")
        # Sorting by an axis puts the weakest first; a category narrows the table.
        page.get_by_label("Trier").select_option("ereputation")
        page.get_by_role("button", name="Afficher").last.click()
        expect(page.locator("tbody tr").first).to_contain_text("Thomas")
        page.get_by_label("Catégorie").select_option("gite")
        page.get_by_role("button", name="Afficher").last.click()
        expect(page.locator("tbody tr")).to_have_count(1)
        _shot(page, f"{label}-21-diagnostic-gites")
        page.get_by_role("link", name="Marie Dupont").click()
        expect(page.get_by_role("heading", name="Dernier profil")).to_be_visible()
        assert _fits(page), f"{label} profil : la page déborde"
        _shot(page, f"{label}-22-diagnostic-profil")
        if label == "bureau":
            page.go_back()
            with page.expect_download() as download:
                page.get_by_role("link", name="Excel").click()
            data = Path(download.value.path()).read_bytes()
            sheet = load_workbook(io.BytesIO(data)).active
            assert sheet is not None and sheet.max_row == 2  # the header and the one gîte
        page.context.close()
