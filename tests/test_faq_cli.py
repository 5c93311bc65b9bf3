"""`klub faq check | ask | eval`, run through bot.cli.main as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

FIXTURES = Path(__file__).parent / "faq_fixtures"
BASE = str(FIXTURES / "base")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- check ---------------------------------------------------------------------------------------------


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "check", BASE)
    assert code == 0
    assert out.strip().endswith("OK : 10 tutoriels, 2 thèmes")


def test_check_layers_several_folders(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "check", BASE, str(FIXTURES / "office"))
    assert code == 0
    assert "OK : 11 tutoriels, 3 thèmes" in out


def test_check_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text(
        "theme: A\nentries:\n  - id: a\n    question: Q ?\n    links: [{title: T, url: 'www.a.fr'}]\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "faq", "check", str(tmp_path))
    assert code == 1
    assert "a.yml, entrée « a », champ « answer »" in out
    assert "a.yml, entrée « a », champ « links[0].url »" in out
    assert "2 problèmes à corriger" in out


def test_check_shows_warnings_but_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text(
        "theme: A\nentries:\n  - id: a\n    question: Q ?\n    answer: R.\n    tag: [oups]\n", encoding="utf-8"
    )
    code, out, _ = run(capsys, "faq", "check", str(tmp_path))
    assert code == 0
    assert "attention :" in out and "« tag »" in out
    assert "OK : 1 tutoriels, 1 thème" in out


def test_check_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "faq", "check", str(tmp_path / "absent"))
    assert code == 2
    assert err.startswith("klub : ") and "introuvable" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_check_defaults_to_faq_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faq").mkdir()
    body = "theme: A\nentries:\n  - id: a\n    question: Q ?\n    answer: R.\n"
    (tmp_path / "faq" / "a.yml").write_text(body, encoding="utf-8")
    code, out, _ = run(capsys, "faq", "check")
    assert code == 0 and "OK : 1 tutoriels" in out


# -- ask -----------------------------------------------------------------------------------------------


def test_ask_explains_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "creer une page fb pour mon gite")
    assert code == 0
    assert "Décision : réponse avec facebook-creer-page" in out
    assert "Meilleur tutoriel : facebook-creer-page" in out
    assert "Suivants :" in out
    assert "facebook (connu)" in out


def test_ask_explains_an_abstention(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "créer un compte tiktok")
    assert code == 0
    assert "Décision : abstention" in out
    assert "tiktok (inconnu de la base)" in out


def test_ask_greeting_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "bonjour 🙂")
    assert code == 0
    assert "Décision : pas une question (une salutation) : réponse aimable, sans tutoriel" in out


def test_ask_close_call(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "changer la photo de ma page facebook")
    assert code == 0
    assert "Vouliez-vous dire" in out
    assert "facebook-photo-profil" in out and "facebook-photo-couverture" in out


def test_ask_json_single(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "--json", "wifi pour les clients")
    assert code == 0
    data = json.loads(out)
    assert data["question"] == "wifi pour les clients"
    assert data["match"] == "wifi-invites"


def test_ask_explains_small_talk_english_and_the_sentences_kept(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "faq", "ask", "--base", BASE, "merci beaucoup !")
    assert "pas une question (un remerciement)" in out
    _, out, _ = run(capsys, "faq", "ask", "--base", BASE, "how do I create a facebook page?")
    assert "Langue : anglais" in out and "facebook-creer-page" in out
    _, out, _ = run(capsys, "faq", "ask", "--base", BASE, "Bonjour ! On a un gîte. Comment créer une page facebook ?")
    assert "Phrases retenues : Comment créer une page facebook ?" in out


def test_ask_batch_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    questions = [
        "wifi pour les clients",
        "bonjour",
        "",
        "instagarm compte pro stp",
        "comment déclarer mes impôts",
        "« guillemets » et \"doubles\" 🙂",
    ]
    batch = tmp_path / "questions.txt"
    batch.write_text("\n".join(questions) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "--batch", str(batch), "--json")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(questions)
    rows = [json.loads(line) for line in lines]
    assert [r["question"] for r in rows] == questions
    assert set(rows[0]) == {"question", "match", "score", "candidates"}
    assert rows[0]["match"] == "wifi-invites"
    assert rows[1] == {"question": "bonjour", "match": None, "score": 0.0, "candidates": []}  # small talk
    assert rows[2] == {"question": "", "match": None, "score": 0.0, "candidates": []}
    assert rows[3]["match"] == "instagram-compte-pro"
    assert rows[4]["match"] is None
    for row in rows:
        assert isinstance(row["score"], float)
        assert all(isinstance(c[0], str) and isinstance(c[1], float) for c in row["candidates"])
        assert len(row["candidates"]) <= 5
        if row["candidates"]:
            assert row["score"] == row["candidates"][0][1]


def test_ask_batch_with_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "q.txt"
    batch.write_text("wifi pour les clients\n", encoding="utf-8")
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "--batch", str(batch), "--json", "--threshold", "1")
    assert code == 0
    assert json.loads(out)["match"] is None


def test_ask_batch_plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "q.txt"
    batch.write_text("wifi pour les clients\nbonjour\n", encoding="utf-8")
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "--batch", str(batch))
    assert code == 0
    first, second = out.splitlines()
    assert first.startswith("wifi-invites\t")
    assert second.startswith("—\t")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["faq", "ask", "--base", BASE], "indiquez une question"),
        (["faq", "ask", "--base", BASE, "--batch", "absent.txt"], "absent.txt"),
        (["faq", "ask", "--base", "dossier-absent", "question"], "dossier-absent"),
        (["faq", "ask", "--base", BASE, "--threshold", "3", "question"], "seuil"),
    ],
)
def test_ask_user_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("klub : ") and needle in err
    assert len(err.strip().splitlines()) == 1


def test_ask_on_a_broken_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text("theme: A\nentries:\n  - id: a\n", encoding="utf-8")
    code, _, err = run(capsys, "faq", "ask", "--base", str(tmp_path), "question")
    assert code == 2
    assert "base de tutoriels invalide" in err and "a.yml" in err
    assert len(err.strip().splitlines()) == 1


def test_ask_layered_bases(capsys: pytest.CaptureFixture[str]) -> None:
    office = str(FIXTURES / "office")
    question = "envoyer mes photos à l'office"
    code, out, _ = run(capsys, "faq", "ask", "--base", BASE, "--base", office, "--json", question)
    assert code == 0
    assert json.loads(out)["match"] == "office-photos-partage"


# -- eval ----------------------------------------------------------------------------------------------


def test_eval_prints_the_three_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text(
        "cases:\n"
        "  - {q: 'wifi pour les clients', expect: wifi-invites}\n"
        "  - {q: 'faire un qrcode pour le menu', expect: qr-code-menu}\n"
        "  - {q: 'faire un qrcode pour le menu', expect: site-creer}\n"
        "  - {q: 'bonjour', expect: null}\n"
        "  - {q: 'envoyer une newsletter', expect: null}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "faq", "eval", "--base", BASE, "--cases", str(cases), "--errors")
    assert code == 0
    assert "Top-1 dans la base : 0,667 (2/3)" in out
    assert "Rejet hors base : 0,500 (1/2)" in out
    assert "Exactitude globale : 0,600 (3/5)" in out
    assert out.count("manqué") == 2


def test_eval_threshold_changes_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {q: 'partager le wifi avec des clients ?', expect: wifi-invites}\n", encoding="utf-8")
    code, out, _ = run(capsys, "faq", "eval", "--base", BASE, "--cases", str(cases), "--threshold", "1")
    assert code == 0
    assert "Top-1 dans la base : 1,000 (1/1)" in out  # top-1 ignores abstention
    assert "Exactitude globale : 0,000 (0/1)" in out


def test_eval_warns_about_unknown_expected_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {q: 'wifi', expect: pas-dans-la-base}\n", encoding="utf-8")
    code, _, err = run(capsys, "faq", "eval", "--base", BASE, "--cases", str(cases))
    assert code == 0
    assert "pas-dans-la-base" in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "introuvable"),
        ("cases: 3\n", "attendu"),
        ("cases:\n  - {expect: a}\n", "cas n° 1"),
        ("cases: [\n", "YAML"),
    ],
)
def test_eval_bad_cases_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    cases = tmp_path / "cases.yml"
    if content is not None:
        cases.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "faq", "eval", "--base", BASE, "--cases", str(cases))
    assert code == 2
    assert err.startswith("klub : ") and needle in err
    assert len(err.strip().splitlines()) == 1
