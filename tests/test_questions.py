"""Questions and the log: stored before acknowledged, votes, merges, exports read back, drafts, GDPR."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import select

from bot import drafts, privacy, questions
from bot.bootstrap import App
from bot.questions import LogFilter
from bot.storage.tables import AuditLog, Person, Question, Registration, Vote

from .helpers import plain, say

OFFICE = "ot-trois-vallees"


def count(app: App) -> int:
    with app.sessions() as db:
        return db.query(Question).count()


def test_question_is_stored_before_it_is_acknowledged(app: App) -> None:
    replies = say(app, "gite-du-moulin", "/question Comment mettre ma carte des vins sur Google ?")
    assert "Question n°1 enregistrée pour « Klub numérique » du jeudi 3 décembre 2026" in plain(replies)
    with app.sessions() as db:
        q = db.get(Question, 1)
        assert q is not None and q.source == "advance" and q.status == "open" and q.session_id == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/question", "Usage : /question"),
        ("/question    ", "Usage : /question"),
        ("/question anonyme", "Usage"),
        ("/question " + "x" * 1001, "Votre question fait 1001 caractères : 1000 au plus"),
    ],
)
def test_bad_questions_are_refused_and_change_nothing(app: App, text: str, expected: str) -> None:
    assert expected in plain(say(app, "gite-du-moulin", text))
    assert count(app) == 0


def test_question_at_the_limit_is_accepted(app: App) -> None:
    assert "enregistrée" in plain(say(app, "gite-du-moulin", "/question " + "mot " * 250))
    assert count(app) == 1


def test_voting_rules(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la loi sur les meublés de tourisme ?")
    assert "propre question" in plain(say(app, "gite-du-moulin", "/voter 1"))
    assert "1 soutien" in plain(say(app, "camping-les-pins", "/voter 1"))
    assert "déjà voté" in plain(say(app, "camping-les-pins", "/voter 1"))
    assert "Je ne trouve pas de question n°7" in plain(say(app, "camping-les-pins", "/voter 7"))
    assert "Je ne trouve pas de question n°1" in plain(say(app, "ferme-du-plateau", "/voter 1"))
    assert "numéro de la question" in plain(say(app, "camping-les-pins", "/voter douze"))
    with app.sessions() as db:
        assert db.query(Vote).count() == 1


def test_only_the_asker_edits_or_withdraws(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la loi sur les meublés ?")
    assert "n'est pas la vôtre" in plain(say(app, "camping-les-pins", "/modifier 1 autre texte"))
    assert "n'est pas la vôtre" in plain(say(app, "camping-les-pins", "/supprimer 1"))
    assert "modifiée" in plain(say(app, "gite-du-moulin", "/modifier 1 Et la taxe de séjour ?"))
    assert "retirée" in plain(say(app, "gite-du-moulin", "/supprimer 1"))
    assert "déjà close" in plain(say(app, "gite-du-moulin", "/supprimer 1"))
    with app.sessions() as db:
        q = db.get(Question, 1)
        assert q is not None and q.text == "Et la taxe de séjour ?" and q.status == "withdrawn"


def test_similar_question_becomes_a_vote_and_merges(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour sur mon site ?")
    offered = plain(say(app, "camping-les-pins", "/question Comment parler de la taxe de séjour sur mon site web ?"))
    assert "Voter pour la question n°1 ?" in offered
    say(app, "camping-les-pins", "/voter 1")
    with app.sessions() as db:
        dup = db.get(Question, 2)
        assert dup is not None and dup.status == "merged" and dup.merged_into_id == 1
        assert questions.votes(db, 1) == 1


def test_ant_merge_moves_supporters(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment installer le wifi pour les clients ?")
    say(app, "camping-les-pins", "/question Peut-on parler des box et des bornes ?")
    say(app, "canoe-aventure", "/voter 2")
    assert "fusionnée dans la n°1 (2 soutien(s))" in plain(say(app, "camille-ant", "/fusionner 2 1", chat="equipe"))
    assert "elle-même" in plain(say(app, "camille-ant", "/fusionner 1 1", chat="equipe"))


def test_agenda_orders_by_votes_and_hides_anonymous_askers_from_the_group(app: App) -> None:
    say(app, "gite-du-moulin", "/question anonyme Que faire d'un avis injurieux sur Tripadvisor ?")
    say(app, "camping-les-pins", "/question Comment parler de la taxe de séjour ?")
    say(app, "canoe-aventure", "/voter 2")
    ant = plain(say(app, "camille-ant", "/agenda"))
    assert ant.index("n°2") < ant.index("n°1")
    assert "Marie Dupont (Gîte du Moulin), anonyme pour le groupe" in ant
    # Anonymous askers are named in private only, not even in the staff group.
    assert "Marie" not in plain(say(app, "camille-ant", "/agenda", chat="equipe"))
    group = plain(say(app, "canoe-aventure", "/questions", chat="prestataires"))
    assert "Marie" not in group and "anonyme" in group


def test_faq_miss_is_logged_for_the_ant_but_not_shown_to_the_group(app: App) -> None:
    reply = plain(say(app, "gite-du-moulin", "Quelle est la meilleure recette de tarte tatin ?"))
    assert "Je n'ai pas de tutoriel là-dessus" in reply and "n°1" in reply
    assert any("Question sans tutoriel (n°1)" in m.reply.text for m in app.outbox.drain("console"))
    assert "tarte" not in plain(say(app, "canoe-aventure", "/questions", chat="prestataires"))
    assert "tarte" not in plain(say(app, "camille-ant", "/agenda", chat="equipe"))
    assert "tarte" in plain(say(app, "camille-ant", "/agenda"))


def test_ant_actions_need_the_role_and_stay_in_the_office(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour ?")
    for command in ("/repondu 1 ok", "/ecarter 1 non", "/fusionner 1 1", "/compte-rendu", "/reporter 1 4"):
        assert "réservée" in plain(say(app, "camping-les-pins", command))
    assert "Je ne trouve pas de question n°1" in plain(
        say(app, "nadia-ant", "/repondu 1 ok", chat="equipe", office="ot-haut-plateau")
    )
    assert "reportée" in plain(say(app, "camille-ant", "/reporter 1 4", chat="equipe"))
    assert "Usage" in plain(say(app, "camille-ant", "/repondu 1", chat="equipe"))


def test_staff_sees_the_agenda_but_cannot_answer(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour ?")
    assert "taxe de séjour" in plain(say(app, "julien-accueil", "/agenda", chat="equipe"))
    assert "réservée" in plain(say(app, "julien-accueil", "/repondu 1 ok", chat="equipe"))
    assert "réservée" in plain(say(app, "gite-du-moulin", "/agenda"))


def _seed(app: App) -> None:
    say(app, "gite-du-moulin", '/question anonyme Que faire d\'un avis injurieux ; "vraiment" ?')
    say(app, "camping-les-pins", "/question Comment parler de la taxe de séjour ?")
    say(app, "canoe-aventure", "/voter 2")
    say(app, "camille-ant", "/repondu 2 Voir la fiche de l'office", chat="equipe")
    say(app, "ferme-du-plateau", "/question Une question d'un autre office ?")


def test_csv_export_opens_in_french_excel(app: App) -> None:
    _seed(app)
    with app.sessions() as db:
        data = questions.to_csv(questions.rows(db, questions.search(db, LogFilter(office_ids=(OFFICE,)))))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["n°", "date", "office", "personne"]
    assert len(rows) == 3  # the other office's question is not there
    first, second = rows[1], rows[2]
    assert first[3] == "anonyme" and first[4] == "" and first[6] == 'Que faire d\'un avis injurieux ; "vraiment" ?'
    assert second[3] == "Thomas Bernard" and second[8] == "répondue au Klub" and second[10] == "1"
    assert second[11] == "Voir la fiche de l'office"


def test_xlsx_export_reads_back(app: App) -> None:
    _seed(app)
    with app.sessions() as db:
        data = questions.to_xlsx(questions.rows(db, questions.search(db, LogFilter(office_ids=(OFFICE,)))))
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    assert values[0][6] == "question" and values[2][0] == 2 and values[2][10] == 1
    assert values[1][3] == "anonyme"


def test_log_filters(app: App) -> None:
    _seed(app)
    with app.sessions() as db:
        answered = questions.search(db, LogFilter(office_ids=(OFFICE,), statuses=("answered_klub",)))
        assert [q.id for q in answered] == [2]
        assert [q.id for q in questions.search(db, LogFilter(office_ids=(OFFICE,), text="TAXE"))] == [2]


def test_cli_export_and_list(app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    _seed(app)
    config = tmp_path / "config.yml"
    body = Path("config.example.yml").read_text(encoding="utf-8")
    body = body.replace("${KLUB_DATABASE_URL:-sqlite:///klub.db}", str(app.engine.url.render_as_string(False)))
    body = body.replace("bases: [faq, faq-", f"bases: [{Path('faq').resolve()}, {Path('.').resolve()}/faq-")
    config.write_text(body, encoding="utf-8")
    out = tmp_path / "q.csv"
    assert main(["--config", str(config), "questions", "export", "--office", OFFICE, "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["--config", str(config), "questions", "list", "--office", OFFICE, "--status", "open"]) == 0
    assert "1 question(s)." in capsys.readouterr().out
    assert main(["--config", str(config), "questions", "list", "--office", "ot-inconnu"]) == 2
    assert main(["--config", str(config), "questions", "list", "--office", OFFICE, "--from", "2026-13-01"]) == 2
    with app.sessions() as db:
        assert db.query(AuditLog).filter_by(action="questions.export").count() == 1


def test_draft_from_a_question(app: App, tmp_path: Path) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour sur mon site ?")
    say(app, "camping-les-pins", "/question Comment afficher la taxe de séjour sur mon site internet ?")
    with app.sessions() as db:
        path = drafts.draft(db, app.faq, 1, tmp_path / "drafts", app.clock.now())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = data["entries"][0]
    assert entry["question"] == "Comment parler de la taxe de séjour sur mon site ?"
    assert entry["alternatives"] == ["Comment afficher la taxe de séjour sur mon site internet ?"]
    assert entry["id"] == "parler-taxe-sejour-site"
    with app.sessions() as db, pytest.raises(LookupError):
        drafts.draft(db, app.faq, 99, tmp_path, app.clock.now())


def test_gdpr_export_and_forget(app: App) -> None:
    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour ?")
    say(app, "gite-du-moulin", "/inscrire")
    with app.sessions.begin() as db:
        person = db.query(Person).filter_by(slug="gite-du-moulin").one()
        data = json.loads(privacy.export_json(db, person))
        assert data["personne"]["nom"] == "Marie Dupont"
        assert data["questions"][0]["texte"] == "Comment parler de la taxe de séjour ?"
        assert data["inscriptions"][0]["statut"] == "yes"
        assert privacy.forget(db, person, app.clock.now(), "test") == 1
    with app.sessions() as db:
        person = db.query(Person).filter_by(slug="gite-du-moulin").one()
        assert person.name == "(effacé)" and person.erased_at is not None and not person.identities
        q = db.get(Question, 1)
        assert q is not None and q.person_id is None and q.anonymous
        assert db.query(Registration).count() == 0
    assert "réservé aux prestataires" in plain(say(app, "gite-du-moulin", "/prochain"))


def _config_for(app: App, tmp_path: Path) -> Path:
    config = tmp_path / "config.yml"
    body = Path("config.example.yml").read_text(encoding="utf-8")
    body = body.replace("${KLUB_DATABASE_URL:-sqlite:///klub.db}", str(app.engine.url.render_as_string(False)))
    body = body.replace("bases: [faq, faq-", f"bases: [{Path('faq').resolve()}, {Path('.').resolve()}/faq-")
    config.write_text(body, encoding="utf-8")
    return config


def test_cli_draft_export_and_forget(app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    say(app, "gite-du-moulin", "/question Comment parler de la taxe de séjour sur mon site ?")
    config = _config_for(app, tmp_path)
    drafts_dir = tmp_path / "drafts"
    assert main(["--config", str(config), "faq", "draft", "--from-question", "1", "--dir", str(drafts_dir)]) == 0
    (draft_file,) = drafts_dir.glob("*.yml")
    assert "answer: |" in draft_file.read_text(encoding="utf-8")
    assert main(["--config", str(config), "faq", "draft", "--from-question", "42", "--dir", str(drafts_dir)]) == 2
    capsys.readouterr()
    assert main(["--config", str(config), "person", "export", "gite-du-moulin"]) == 0
    assert json.loads(capsys.readouterr().out)["personne"]["nom"] == "Marie Dupont"
    assert main(["--config", str(config), "person", "forget", "gite-du-moulin"]) == 2  # needs --yes
    assert main(["--config", str(config), "person", "forget", "gite-du-moulin", "--yes"]) == 0
    assert main(["--config", str(config), "person", "export", "gite-du-moulin"]) == 2
    with app.sessions() as db:
        q = db.get(Question, 1)
        assert q is not None and q.person_id is None
        assert db.query(AuditLog).filter_by(action="person.erase").count() == 1


def test_a_hesitation_logs_no_proposed_tutorial(app: App) -> None:
    # « Vouliez-vous dire… » offers titles, shows no tutorial: the log must not say one was proposed.
    replies = say(app, "gite-du-moulin", "mon wifi")
    assert "Vouliez-vous dire" in plain(replies)
    # A near-duplicate shown instead of the tutorial: not proposed either.
    say(app, "camping-les-pins", "/question Comment répondre aux avis négatifs sur Google ?")
    say(app, "canoe-aventure", "/question Comment répondre aux avis négatifs sur Google ?")
    with app.sessions() as db:
        rows = {q.person_id: q for q in db.scalars(select(Question))}
        by_slug = {p.slug: p.id for p in db.scalars(select(Person))}
        hesitated = rows[by_slug["gite-du-moulin"]]
        assert hesitated.source == "low_confidence" and hesitated.matched_entry is None
        assert hesitated.match_score is not None  # how close the base came is kept
        first, duplicate = rows[by_slug["camping-les-pins"]], rows[by_slug["canoe-aventure"]]
        assert first.matched_entry is not None  # the tutorial was shown under the first one
        assert duplicate.matched_entry is None  # the vote offer was shown instead


GAP_QUESTIONS = [
    "Comment déclarer la taxe de séjour en ligne ?",
    "La taxe de séjour pour les gîtes, qui la collecte ?",
    "Faut-il afficher la taxe de séjour à l'accueil ?",
    "Comment imprimer des étiquettes pour mes confitures ?",
    "Quel logiciel pour imprimer des étiquettes de vin ?",
    "Peut-on louer un vélo électrique à l'office ?",
]


def _gap_topics(app: App) -> list[tuple[str, int, list[int]]]:
    from bot.faq.normalize import default_normalizer

    with app.sessions() as db:
        found = drafts.gaps(db, default_normalizer(), LogFilter(office_ids=(OFFICE,)))
        return [(topic, n, [q.id for q in examples]) for topic, n, examples in found]


def test_gaps_group_each_unanswered_question_into_one_stable_topic(app: App) -> None:
    with app.sessions.begin() as db:
        person = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        for text in GAP_QUESTIONS:
            questions.create(db, OFFICE, person, text, "faq_miss", app.clock.now())
    topics = _gap_topics(app)
    assert topics == _gap_topics(app)
    names = [t for t, _, _ in topics]
    assert [(n, ids) for _, n, ids in topics] == [(3, [1, 2, 3]), (2, [4, 5])]
    # As typed (the office reads them), accents and all; ties go to the alphabet of the stems.
    assert names == ["séjour", "étiquettes"]
    # The lone question about bikes is no « topic »; answered or dismissed ones are no gap.
    with app.sessions.begin() as db:
        questions.set_status(db, db.get(Question, 4), "dismissed", app.clock.now(), None, reason="hors sujet")
    assert [(n, ids) for _, n, ids in _gap_topics(app)] == [(3, [1, 2, 3])]


def test_gaps_are_the_same_whatever_the_hash_seed(app: App, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    with app.sessions.begin() as db:
        person = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        for text in GAP_QUESTIONS:
            questions.create(db, OFFICE, person, text, "faq_miss", app.clock.now())
    url = app.engine.url.render_as_string(False)
    runs = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "bot", "--config", "config.example.yml", "questions", "gaps"]
        done = subprocess.run(
            [*cmd, "--office", OFFICE, "--db", url], capture_output=True, text=True, env=env, check=True
        )
        runs.append(done.stdout)
    assert runs[0] == runs[1] == runs[2]
    assert "3 question(s)" in runs[0] and "2 question(s)" in runs[0]


def test_a_question_goes_to_the_next_klub_unless_a_session_is_named(app: App) -> None:
    from bot.storage.tables import Session

    say(app, "camille-ant", '/klub titre="Atelier Canva" type=atelier date=2026-11-26 heure=14h', chat="equipe")
    with app.sessions() as db:
        workshop = db.scalars(select(Session).where(Session.kind == "atelier")).one().id
    assert "« Klub numérique »" in plain(say(app, "gite-du-moulin", "/question Comment créer un visuel ?"))
    assert "« Atelier Canva »" in plain(say(app, "gite-du-moulin", f"/question {workshop} Quel format pour un post ?"))
    assert "« Atelier Canva »" in plain(say(app, "gite-du-moulin", f"/question anonyme n°{workshop} Et une story ?"))
    # A question that starts with a number which is no session to come is a question.
    told = plain(say(app, "gite-du-moulin", "/question 300 avis en un mois : comment répondre à tous ?"))
    assert "« Klub numérique »" in told
    with app.sessions() as db:
        assert (
            db.scalars(select(Question).order_by(Question.id.desc())).first().text
            == "300 avis en un mois : comment répondre à tous ?"
        )  # type: ignore[union-attr]
    assert "Je ne trouve pas de séance n°99" in plain(say(app, "gite-du-moulin", "/question n°99 Une question"))
