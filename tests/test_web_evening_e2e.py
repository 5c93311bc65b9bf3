"""The Klub evening and the review in a real browser: the live agenda while the chat asks, accent-free search,
merge from a suggestion, and a tutorial written in the form then answered in chat by the running bot."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from bot.bootstrap import App

from .helpers import plain, say
from .test_web import question, seed
from .test_web_e2e import DESKTOP, PHONE, _fits, _log_in, _page, _shot, browser, served  # noqa: F401


def _ask(app: App, who: str, text: str) -> int:
    found = re.search(r"n°(\d+)", plain(say(app, who, f"/question {text}", chat="prestataires")))
    assert found
    return int(found.group(1))


def test_live_agenda_shows_a_question_asked_while_the_page_is_open(
    browser: Browser, served: tuple[App, str], tmp_path: Path
) -> None:
    app, base = served
    ids = seed(app)
    first = _ask(app, "gite-du-moulin", "Comment ajouter un bouton réserver sur Facebook ?")
    page = _page(browser, DESKTOP, tmp_path)
    _log_in(page, app, "camille-ant")
    page.goto(f"{base}/sessions/{ids['next_session']}")
    page.get_by_role("link", name="Agenda en direct").click()
    expect(page.locator(f"#lq-{first}")).to_be_visible()
    # Asked in the chat, through the core, while the page polls: it appears without a reload.
    late = _ask(app, "camping-les-pins", "Faut-il un site internet quand on a déjà Airbnb ?")
    expect(page.locator(f"#lq-{late}")).to_contain_text("Airbnb", timeout=15000)
    # A vote from the chat moves it on top.
    say(app, "canoe-aventure", f"/voter {late}", chat="prestataires")
    expect(page.locator(".live-q").first).to_have_attribute("data-question", str(late), timeout=15000)
    _shot(page, "bureau-21-agenda-question-arrivee")
    current = page.locator(".live-q.current")
    current.get_by_label("Note (facultative)").fill("Oui : une page simple suffit, Airbnb ne remplace pas un site.")
    current.get_by_role("button", name="Répondue").click()
    expect(page.get_by_role("status").first).to_contain_text("répondue au Klub")
    expect(page.locator(f"#lq-{late}")).to_have_count(0)
    assert question(app, late).status == "answered_klub"
    page.get_by_role("link", name=re.compile("Compte rendu")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compte rendu")
    page.get_by_role("link", name=re.compile("← Klub numérique")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Klub numérique")
    page.context.close()


def test_search_without_accents_and_merge_from_a_suggestion(
    browser: Browser, served: tuple[App, str], tmp_path: Path
) -> None:
    app, _ = served
    ids = seed(app)
    page = _page(browser, PHONE, tmp_path)
    _log_in(page, app, "camille-ant")
    page.get_by_role("navigation").get_by_role("link", name="Questions").click()
    page.get_by_label("Texte").fill("repondre")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_role("link", name="Comment répondre à un avis négatif sur Google ?")).to_be_visible()
    assert "q=repondre" in page.url  # bookmarkable
    page.get_by_label("Texte").fill("GITE")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_role("link", name="Comment renommer ma page Facebook ?")).to_be_visible()
    assert _fits(page)
    page.get_by_label("Texte").fill("lea moreau")  # the asker's name, typed without its accent
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_role("link", name="Changer le nom de ma page Facebook").click()
    page.get_by_role("button", name=f"Fusionner dans n°{ids['facebook']}").click()
    expect(page.get_by_role("status").first).to_contain_text("Questions fusionnées")
    assert question(app, ids["facebook2"]).merged_into_id == ids["facebook"]
    page.goto(page.url.split("/questions")[0] + f"/questions/{ids['facebook2']}")
    page.get_by_role("link", name=f"fusionnée dans n°{ids['facebook']}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Question n°{ids['facebook']}")
    assert _fits(page)
    page.context.close()


def test_a_tutorial_written_in_the_form_is_answered_in_chat(
    browser: Browser, served: tuple[App, str], tmp_path: Path
) -> None:
    app, base = served
    ids = seed(app)
    page = _page(browser, DESKTOP, tmp_path)
    _log_in(page, app, "camille-ant")
    page.goto(f"{base}/questions/{ids['newsletter']}")
    page.get_by_role("link", name="Écrire le tutoriel (formulaire)").click()
    page.get_by_label("Question (telle qu'un prestataire la pose)").fill(
        "Quel outil gratuit pour une lettre d'information ?"
    )
    page.get_by_label("Autres façons de la poser").fill("Logiciel d'emailing gratuit")
    page.get_by_label("Étapes de la réponse").fill("Créez un compte Brevo.\nImportez vos contacts.\nEnvoyez la lettre.")
    page.get_by_label("Liens d'aide").fill("Aide Brevo | https://help.brevo.com/")
    page.get_by_label("Étiquettes").fill("newsletter, emailing")
    page.get_by_label("Thème", exact=True).fill("Newsletter")
    page.get_by_role("button", name="Aperçu").click()
    expect(page.locator(".chat-preview")).to_contain_text("Créez un compte Brevo.")
    _shot(page, "bureau-22-tutoriel-apercu")
    page.get_by_role("button", name="Enregistrer dans la base").click()
    expect(page.get_by_role("status").first).to_contain_text("le bot l'utilise dès maintenant")
    answer = plain(say(app, "gite-du-moulin", "Quel logiciel d'emailing gratuit pour ma lettre d'information ?"))
    assert "Brevo" in answer, answer
    page.context.close()


def test_a_coordinator_on_a_phone_never_scrolls_sideways(
    browser: Browser, served: tuple[App, str], tmp_path: Path
) -> None:
    from bot.storage.tables import Person
    from bot.web import auth

    app, base = served
    ids = seed(app)
    with app.sessions.begin() as db:
        coordinator = Person(
            slug="coord-pays", name="Inès Fabre", office_id="ot-trois-vallees", role="admin", created_at=app.clock.now()
        )
        db.add(coordinator)
        db.flush()
        link = auth.issue_link(db, coordinator, app.clock.now(), app.config.web)
    with app.sessions.begin() as db:  # a long word, as pasted from a browser bar, in a question
        q = question(app, ids["insta"])
        db.merge(q).text = "Lien " + "https://exemple.fr/" + "tres-long-chemin-" * 12 + " à raccourcir ?"
    for label, viewport in (("bureau", DESKTOP), ("telephone", PHONE)):
        page = _page(browser, viewport, tmp_path)
        page.goto(link)
        page.get_by_role("button", name="Se connecter").click()
        for name, path in (
            ("23-coordination-vue", "/"),
            ("24-coordination-journal", "/questions"),
            ("25-coordination-seances", "/sessions"),
            ("26-question-mot-long", f"/questions/{ids['insta']}"),
        ):
            page.goto(base + path)
            assert _fits(page), f"{label} {path} : la page déborde de l'écran"
            if path == "/":  # the office picker is there, inside the screen
                expect(page.locator("#office-pick")).to_be_visible()
            _shot(page, f"{label}-{name}")
        page.context.close()
        with app.sessions.begin() as db:
            link = auth.issue_link(db, db.merge(coordinator), app.clock.now(), app.config.web)
