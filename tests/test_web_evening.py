"""The Klub evening and the office's review over HTTP: live agenda, compte rendu, search, duplicates, tutorials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config, FaqConfig
from bot.membership import person_by_slug
from bot.search import fold
from bot.storage.tables import AuditLog, Question, Vote

from .conftest import ROOT
from .helpers import plain, say
from .test_web import TestClient, client, count, log_in, new_client, question, seed, wapp, web_config  # noqa: F401


def _ask(app: App, who: str, text: str) -> int:
    replies = plain(say(app, who, f"/question {text}", chat="prestataires"))
    found = re.search(r"n°(\d+)", replies)
    assert found, replies
    return int(found.group(1))


def _vote(app: App, who: str, number: int) -> None:
    assert "vote" in plain(say(app, who, f"/voter {number}", chat="prestataires")).lower()


@pytest.fixture
def evening(config: Config, clock: ManualClock, database_url: str, tmp_path: Path) -> Iterator[App]:
    """The real tutorial base plus the office's own (empty) layer, as `faq.bases: [faq, faq-office]`."""
    cfg = web_config(config, "http://testserver", tmp_path / "faq")
    cfg = cfg.model_copy(update={"faq": FaqConfig(bases=[str(ROOT / "faq"), str(tmp_path / "faq-office")])})
    (tmp_path / "faq-office").mkdir()
    application = bootstrap(cfg, clock=clock, database_url=database_url, migrate=False)
    yield application
    application.close()


def test_fold_ignores_accents_case_and_ligatures() -> None:
    assert fold("Gîte  du MOULIN") == "gite du moulin"
    assert fold("Répondre à un Œil") == "repondre a un oeil"
    assert fold("l’avis") == "l'avis"


def test_live_agenda_by_votes_answer_postpone_dismiss_merge(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    session_id = ids["next_session"]
    first = _ask(wapp, "gite-du-moulin", "Comment ajouter un bouton réserver sur Facebook ?")
    second = _ask(wapp, "camping-les-pins", "Faut-il un site internet quand on a Airbnb ?")
    third = _ask(wapp, "canoe-aventure", "Quel appareil photo pour des vidéos de canoë ?")
    _vote(wapp, "gite-du-moulin", second)
    _vote(wapp, "canoe-aventure", second)
    csrf = log_in(client, wapp, "camille-ant")
    page = client.get(f"/sessions/{session_id}/live")
    assert page.status_code == 200 and 'src="/static/live.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    body = client.get(f"/sessions/{session_id}/live/list")
    assert body.status_code == 200 and "<html" not in body.text and body.headers["cache-control"] == "no-store"
    order = [int(n) for n in re.findall(r'data-question="(\d+)"', body.text)]
    assert order[0] == second and set(order) >= {first, second, third}  # most voted first
    assert "2 votes" in body.text and "1 vote" not in body.text and "(s)" not in body.text
    # A question asked in the chat while the page is open is in the next poll.
    late = _ask(wapp, "auberge-de-la-source", "Comment publier une offre de dernière minute ?")
    assert f'data-question="{late}"' in client.get(f"/sessions/{session_id}/live/list").text
    # « Question suivante »: the next one by votes becomes the one under discussion.
    nxt = re.search(r'href="(/sessions/\d+/live\?current=(\d+))"', body.text)
    assert nxt is not None and int(nxt.group(2)) == order[1]
    assert f'id="lq-{order[1]}" data-question="{order[1]}"' in client.get(nxt.group(1)).text
    done = client.post(
        f"/sessions/{session_id}/live/{second}/answer", data={"csrf": csrf, "note": "Oui, même une page suffit."}
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/sessions/{session_id}/live")
    assert question(wapp, second).status == "answered_klub"
    assert question(wapp, second).answer_note == "Oui, même une page suffit."
    later = re.search(rf'<select id="to-{first}" name="to"><option value="(\d+)"', body.text)
    assert later is not None
    client.post(f"/sessions/{session_id}/live/{first}/postpone", data={"csrf": csrf, "to": later.group(1)})
    assert question(wapp, first).session_id == int(later.group(1)) != session_id
    client.post(f"/sessions/{session_id}/live/{third}/dismiss", data={"csrf": csrf, "note": ""})
    assert question(wapp, third).status == "dismissed" and question(wapp, third).dismiss_reason
    merged = client.post(f"/sessions/{session_id}/live/{late}/merge", data={"csrf": csrf, "into": str(ids["insta"])})
    assert merged.status_code == 303 and question(wapp, late).merged_into_id == ids["insta"]
    # Closed now: a second click changes nothing.
    assert client.post(f"/sessions/{session_id}/live/{late}/answer", data={"csrf": csrf}).status_code == 409
    assert count(wapp, AuditLog, AuditLog.action.like("questions.live.%")) == 4


def test_live_agenda_refuses_staff_other_offices_and_bad_choices(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    number = _ask(wapp, "gite-du-moulin", "Comment ajouter un bouton réserver sur Facebook ?")
    csrf = log_in(client, wapp, "julien-accueil")  # staff: sees, does not decide
    assert client.get(f"/sessions/{ids['next_session']}/live").status_code == 200
    assert client.post(f"/sessions/{ids['next_session']}/live/{number}/answer", data={"csrf": csrf}).status_code == 403
    ant = new_client(wapp)
    csrf = log_in(ant, wapp, "camille-ant")
    assert ant.get(f"/sessions/{ids['other_session']}/live").status_code == 403
    bad = ant.post(f"/sessions/{ids['next_session']}/live/{number}/postpone", data={"csrf": csrf, "to": "nope"})
    assert bad.status_code == 400 and "Séance invalide" in bad.text
    past = ant.post(
        f"/sessions/{ids['next_session']}/live/{number}/postpone", data={"csrf": csrf, "to": str(ids["past_session"])}
    )
    assert past.status_code == 409
    wrong = ant.post(f"/sessions/{ids['past_session']}/live/{number}/answer", data={"csrf": csrf})
    assert wrong.status_code == 404  # not a question of that session
    assert question(wapp, number).status == "open" and question(wapp, number).session_id == ids["next_session"]


def test_compte_rendu_preview_then_publish_through_the_outbox(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    wapp.outbox.drain("console")
    preview = client.get(f"/sessions/{ids['past_session']}/report")
    assert preview.status_code == 200 and "Compte rendu" in preview.text
    assert (
        "Comment répondre à un avis négatif sur Google ?" in preview.text
        and "Remercier, rester factuel." in preview.text
    )
    assert "1 question répondue sera publiée" in preview.text
    assert wapp.outbox.pending("console") == 0  # a preview sends nothing
    done = client.post(f"/sessions/{ids['past_session']}/report", data={"csrf": csrf})
    assert done.status_code == 303
    sent = wapp.outbox.drain("console")
    assert len(sent) == 1 and "Remercier, rester factuel." in sent[0].reply.text
    assert sent[0].chat.chat_id.endswith("prestataires")
    assert count(wapp, AuditLog, AuditLog.action == "questions.report") == 1
    early = client.post(f"/sessions/{ids['next_session']}/report", data={"csrf": csrf})
    assert early.status_code == 409 and wapp.outbox.pending("console") == 0


def test_search_ignores_accents_and_case_and_covers_people_businesses_and_notes(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    log_in(client, wapp, "julien-accueil")

    def found(query: str) -> set[int]:
        page = client.get(f"/questions?q={query}")
        assert page.status_code == 200
        return {int(n) for n in re.findall(r'href="/questions/(\d+)"', page.text)}

    assert ids["avis"] in found("repondre") and ids["avis"] in found("RÉPONDRE")
    assert found("gite") >= {ids["avis"], ids["facebook"]}  # Marie Dupont, Gîte du Moulin
    assert ids["insta"] in found("thomas") and ids["facebook"] not in found("thomas")
    assert ids["avis"] in found("factuel")  # the answer note
    assert ids["spam"] in found("hors sujet")  # the dismissal reason
    assert ids["other"] not in found("confidentielle")  # another office's question stays out of reach
    with wapp.sessions.begin() as db:
        q = db.get(Question, ids["facebook2"])
        assert q is not None
        q.anonymous = True
    assert ids["facebook2"] not in found("moreau")  # an anonymous asker's name is not searchable


def test_sort_by_votes_bulk_actions_and_one_click_answered(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    with wapp.sessions.begin() as db:
        for slug in ("gite-du-moulin", "camping-les-pins"):
            person = person_by_slug(db, slug)
            assert person is not None
            db.add(Vote(question_id=ids["qr"], person_id=person.id, created_at=wapp.clock.now()))
    csrf = log_in(client, wapp, "camille-ant")
    by_votes = client.get("/questions?sort=votes")
    rows = [int(n) for n in re.findall(r'<a href="/questions/(\d+)">n°', by_votes.text)]
    assert rows[0] == ids["qr"]
    assert 'value="votes" selected' in by_votes.text  # kept in the URL and in the form
    by_text = [
        int(n) for n in re.findall(r'<a href="/questions/(\d+)">n°', client.get("/questions?q=page&sort=old").text)
    ]
    assert by_text == [ids["facebook"], ids["facebook2"]]
    back = "/questions?status=open"
    one = client.post(f"/questions/{ids['insta']}/answered", data={"csrf": csrf, "back": back})
    assert one.status_code == 303 and one.headers["location"].startswith(back)
    assert question(wapp, ids["insta"]).status == "answered_klub"
    evil = client.post(f"/questions/{ids['qr']}/answered", data={"csrf": csrf, "back": "//evil.example/"})
    assert evil.headers["location"].startswith("/questions?")
    picked = [str(ids["facebook"]), str(ids["facebook2"])]
    bulk = client.post("/questions/bulk", data={"csrf": csrf, "action": "answered_base", "ids": picked, "back": back})
    assert bulk.status_code == 303
    assert {question(wapp, int(n)).status for n in picked} == {"answered_base"}
    refused = client.post(
        "/questions/bulk",
        data={"csrf": csrf, "action": "dismissed", "ids": [str(ids["newsletter"]), str(ids["other"])]},
    )
    assert refused.status_code == 403 and question(wapp, ids["newsletter"]).status == "open"  # all or nothing
    assert client.post("/questions/bulk", data={"csrf": csrf, "action": "explode", "ids": picked}).status_code == 400


def test_duplicates_are_suggested_merged_in_one_click_and_linked_in_the_history(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    page = client.get(f"/questions/{ids['facebook2']}")
    assert "Questions semblables" in page.text
    assert f'<input type="hidden" name="target" value="{ids["facebook"]}">' in page.text
    done = client.post(f"/questions/{ids['facebook2']}/merge", data={"csrf": csrf, "target": str(ids["facebook"])})
    assert done.status_code == 303 and question(wapp, ids["facebook2"]).merged_into_id == ids["facebook"]
    history = client.get(f"/questions/{ids['facebook2']}").text
    assert f'<a href="/questions/{ids["facebook"]}">fusionnée dans n°{ids["facebook"]}</a>' in history
    target = client.get(f"/questions/{ids['facebook']}").text
    assert f'<a href="/questions/{ids["facebook2"]}">a reçu la n°{ids["facebook2"]}</a>' in target


def test_note_clearing_dismissed_preselect_and_back_link_to_the_session(wapp: App, client: TestClient) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    client.post(f"/questions/{ids['avis']}/status", data={"csrf": csrf, "status": "answered_klub", "note": ""})
    assert question(wapp, ids["avis"]).answer_note is None
    page = client.get(f"/questions/{ids['spam']}").text
    assert '<option value="dismissed" selected>' in page and '<option value="open" selected>' not in page
    client.post(f"/questions/{ids['spam']}/status", data={"csrf": csrf, "status": "dismissed", "note": "vu"})
    assert question(wapp, ids["spam"]).status == "dismissed"
    assert (
        client.post(f"/questions/{ids['insta']}/status", data={"csrf": csrf, "status": "dismissed"}).status_code == 400
    )
    from_session = client.get(f"/questions/{ids['insta']}?from=session").text
    assert f'<a href="/sessions/{question(wapp, ids["insta"]).session_id}">← Klub numérique' in from_session
    sessions = client.get("/sessions").text
    assert f'<a href="/sessions/{ids["past_session"]}">Klub numérique</a>' in sessions


def test_tutorial_form_checks_previews_saves_once_and_the_bot_answers_with_it(evening: App, tmp_path: Path) -> None:
    ids = seed(evening)
    client = new_client(evening)
    csrf = log_in(client, evening, "camille-ant")
    number = ids["newsletter"]
    form = client.get(f"/questions/{number}/tutorial")
    assert form.status_code == 200 and 'value="Quel outil gratuit pour une newsletter ?"' in form.text
    fields = {
        "csrf": csrf,
        "question": "Quel outil gratuit pour envoyer une lettre d'information ?",
        "alternatives": "Envoyer une newsletter gratuitement\nLogiciel d'emailing gratuit",
        "steps": "1. Créez un compte sur Brevo (offre gratuite).\n2. Importez vos contacts.\n3. Composez la lettre.",
        "links": "Aide Brevo | https://help.brevo.com/",
        "tags": "newsletter, emailing",
        "theme": "Newsletter",
        "id": "newsletter-outil-gratuit",
    }
    bad = client.post(f"/questions/{number}/tutorial", data={**fields, "links": "Aide sans adresse", "do": "save"})
    assert bad.status_code == 400 and "Ligne de lien sans adresse" in bad.text
    clash = client.post(f"/questions/{number}/tutorial", data={**fields, "id": evening.faq.base.entries[0].id})
    assert clash.status_code == 400 and "déjà celui d&#39;un autre tutoriel" in clash.text
    preview = client.post(f"/questions/{number}/tutorial", data={**fields, "do": "preview"})
    assert preview.status_code == 200 and "<b>Quel outil gratuit pour envoyer une lettre d&#39;information ?</b>" in (
        preview.text.replace("'", "&#39;")
    )
    layer = tmp_path / "faq-office"
    assert not list(layer.glob("*.yml"))  # a preview writes nothing
    for _ in range(2):  # « Enregistrer » twice: one file
        saved = client.post(f"/questions/{number}/tutorial", data={**fields, "do": "save"})
        assert saved.status_code == 303
    files = list(layer.glob("*.yml"))
    assert [f.name for f in files] == ["newsletter-outil-gratuit.yml"]
    # The running bot answers with it, no restart.
    answer = plain(say(evening, "gite-du-moulin", "Quel logiciel d'emailing gratuit pour ma lettre d'information ?"))
    assert "Brevo" in answer, answer
    with evening.sessions() as db:
        rows = list(db.scalars(select(AuditLog).where(AuditLog.action == "faq.tutorial").order_by(AuditLog.id)))
    assert [r.detail.split(" :")[0] for r in rows] == ["créé", "modifié"] and "Camille" in rows[0].actor
    again = client.get(f"/questions/{number}/tutorial").text
    assert "Ce tutoriel existe déjà" in again and "Créez un compte sur Brevo" in again and "Historique" in again
    listing = client.get("/tutorials").text
    assert "newsletter-outil-gratuit.yml" in listing


def test_create_a_draft_twice_gives_one_file(wapp: App, client: TestClient, tmp_path: Path) -> None:
    ids = seed(wapp)
    csrf = log_in(client, wapp, "camille-ant")
    first = client.post(f"/questions/{ids['qr']}/draft", data={"csrf": csrf})
    second = client.post(f"/questions/{ids['qr']}/draft", data={"csrf": csrf})
    assert first.headers["location"] == second.headers["location"]
    assert len(list((tmp_path / "faq" / "drafts").glob("*.yml"))) == 1
    assert "n°" in client.get("/tutorials").text


def test_charts_count_chat_answers_and_compare_offices_for_a_coordinator(evening: App) -> None:
    from bot.storage.tables import Person
    from bot.web import auth

    from .test_web import csrf_of

    seed(evening)
    client = new_client(evening)
    log_in(client, evening, "camille-ant")
    before = client.get("/").text
    assert "Questions par office" not in before  # one office: nothing to compare
    answered = plain(say(evening, "gite-du-moulin", "Comment renommer ma page Facebook ?"))
    assert "Utile ?" in answered or "utile" in answered.lower(), answered  # the base answered in chat
    after = client.get("/").text
    base = re.search(r"Répondues par la base de tutoriels : (\d+)", after)
    assert base is not None and int(base.group(1)) == 2  # one question row + one chat answer
    with evening.sessions.begin() as db:
        coordinator = Person(
            slug="coord-pays",
            name="Inès Fabre",
            office_id="ot-trois-vallees",
            role="admin",
            created_at=evening.clock.now(),
        )
        db.add(coordinator)
        db.flush()
        url = auth.issue_link(db, coordinator, evening.clock.now(), evening.config.web)
    coord = new_client(evening)
    path = "/" + url.split("/", 3)[3]
    coord.post(path, data={"csrf": csrf_of(coord.get(path).text)})
    home = coord.get("/").text
    assert '<title id="c-offices-t">Questions par office</title>' in home
    assert "Office de tourisme des Trois Vallées : 8" in home and "Haut-Plateau : 1" in home


def test_a_long_agenda_keeps_buttons_for_the_first_questions_and_a_link_for_the_others(
    wapp: App, client: TestClient
) -> None:
    from bot.web.live import FULL

    ids = seed(wapp)
    asked = [
        _ask(wapp, "gite-du-moulin", f"Question numéro {i} pour le Klub sur le thème {i} ?") for i in range(FULL + 3)
    ]
    log_in(client, wapp, "camille-ant")
    body = client.get(f"/sessions/{ids['next_session']}/live/list").text
    forms = re.findall(r'action="/sessions/\d+/live/(\d+)/answer"', body)
    assert len(forms) == FULL and body.count("En parler maintenant") == len(asked) + 3 - FULL  # + the seed's 3
    last = asked[-1]
    assert str(last) not in forms
    on_top = client.get(f"/sessions/{ids['next_session']}/live/list?current={last}").text
    assert re.findall(r'data-question="(\d+)"', on_top)[0] == str(last)
    assert f'action="/sessions/{ids["next_session"]}/live/{last}/answer"' in on_top
