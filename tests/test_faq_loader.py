"""Loading and validating the tutorial base: every error names the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq.loader import Base, Entry, FaqError, Link, check_base, inspect_base, load_base

FIXTURES = Path(__file__).parent / "faq_fixtures"
REPO = Path(__file__).resolve().parent.parent
REAL_FAQ = REPO / "faq"

GOOD_ENTRY = """\
  - id: {id}
    question: Comment faire ceci ?
    answer: Comme cela.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_for(tmp_path: Path, body: str, name: str = "x.yml") -> list[str]:
    write(tmp_path, name, body)
    return check_base([tmp_path])


# -- a good base ---------------------------------------------------------------------------------------


def test_fixture_base_loads_with_every_field() -> None:
    base = load_base([FIXTURES / "base"])
    assert isinstance(base, Base)
    assert len(base.entries) == 10
    entry = base.get("facebook-creer-page")
    assert isinstance(entry, Entry)
    assert entry.theme == "Réseaux sociaux"
    assert entry.alternatives == ("Passer d'un profil personnel à une page professionnelle Facebook",)
    assert entry.links == (Link(title="Aide Facebook", url="https://www.facebook.com/help/"),)
    assert entry.tags == ("facebook", "page", "creation")
    assert entry.source.endswith("reseaux.yml")
    assert base.get("nope") is None
    assert base.themes == ("Outils", "Réseaux sociaux")


def test_optional_fields_default_to_empty() -> None:
    entry = load_base([FIXTURES / "base"]).get("facebook-photo-profil")
    assert entry is not None
    assert entry.alternatives == ()
    assert entry.links == ()


def test_drafts_subfolder_is_not_loaded() -> None:
    base = load_base([FIXTURES / "base"])
    assert base.get("brouillon-pas-fini") is None


def test_known_extra_fields_are_accepted_silently() -> None:
    report = inspect_base([FIXTURES / "base"])
    assert report.errors == []
    assert report.warnings == []


def test_yaml_extension_is_loaded_too(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "theme: A\nentries:\n" + GOOD_ENTRY.format(id="un"))
    write(tmp_path, "notes.txt", "pas du YAML")
    assert [e.id for e in load_base([tmp_path]).entries] == ["un"]


def test_check_base_is_empty_for_a_good_base() -> None:
    assert check_base([FIXTURES / "base"]) == []


# -- layering ------------------------------------------------------------------------------------------


def test_office_overrides_territory_entry_with_the_same_id() -> None:
    base = load_base([FIXTURES / "base", FIXTURES / "office"])
    wifi = base.get("wifi-invites")
    assert wifi is not None
    assert wifi.answer.startswith("Version de l'office")
    assert wifi.source.endswith("surcharge.yml")
    assert wifi.theme == "Outils de l'office"
    assert base.get("office-photos-partage") is not None
    assert len(base.entries) == 11  # 10 + 1 new, the override replaces
    assert [e.id for e in base.entries].count("wifi-invites") == 1


def test_layer_order_matters() -> None:
    base = load_base([FIXTURES / "office", FIXTURES / "base"])
    wifi = base.get("wifi-invites")
    assert wifi is not None and wifi.source.endswith("outils.yml")


def test_duplicate_id_within_one_folder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "theme: A\nentries:\n" + GOOD_ENTRY.format(id="meme-id"))
    write(tmp_path, "b.yml", "theme: B\nentries:\n" + GOOD_ENTRY.format(id="meme-id"))
    problems = check_base([tmp_path])
    assert len(problems) == 1
    assert "b.yml" in problems[0] and "« meme-id »" in problems[0] and "champ « id »" in problems[0]
    assert "a.yml" in problems[0]


# -- errors name the file, the entry and the field ----------------------------------------------------


def test_duplicate_id_in_one_file(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n" + GOOD_ENTRY.format(id="double") + GOOD_ENTRY.format(id="double")
    [problem] = problems_for(tmp_path, body)
    assert problem.startswith(f"{tmp_path / 'x.yml'}, entrée « double », champ « id » :")
    assert "double" in problem


def test_missing_answer(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: sans-reponse\n    question: Et alors ?\n"
    [problem] = problems_for(tmp_path, body)
    assert "x.yml" in problem and "« sans-reponse »" in problem and "champ « answer »" in problem
    assert "manquant" in problem


def test_malformed_link(tmp_path: Path) -> None:
    body = (
        "theme: A\nentries:\n  - id: lien\n    question: Q ?\n    answer: R.\n"
        "    links:\n      - {title: Ok, url: 'https://exemple.fr/'}\n      - {title: Pas web, url: 'www.exemple.fr'}\n"
    )
    [problem] = problems_for(tmp_path, body)
    assert "x.yml" in problem and "« lien »" in problem and "champ « links[1].url »" in problem
    assert "http" in problem


@pytest.mark.parametrize("url", ["ftp://exemple.fr/a", "javascript:alert(1)", "https://", "https://exemple fr"])
def test_links_must_be_http_urls(tmp_path: Path, url: str) -> None:
    entry = "  - id: l\n    question: Q ?\n    answer: R.\n"
    body = f"theme: A\nentries:\n{entry}    links: [{{title: T, url: '{url}'}}]\n"
    [problem] = problems_for(tmp_path, body)
    assert "links[0].url" in problem


def test_link_without_title(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: l\n    question: Q ?\n    answer: R.\n    links: [{url: 'https://a.fr'}]\n"
    [problem] = problems_for(tmp_path, body)
    assert "champ « links[0].title »" in problem


@pytest.mark.parametrize(
    ("field_yaml", "field_name"),
    [
        ("    tags: facebook\n", "tags"),
        ("    alternatives: Une seule alternative\n", "alternatives"),
        ("    tags: [facebook, 12]\n", "tags[1]"),
        ("    links: https://exemple.fr\n", "links"),
    ],
)
def test_wrong_type(tmp_path: Path, field_yaml: str, field_name: str) -> None:
    body = "theme: A\nentries:\n  - id: typage\n    question: Q ?\n    answer: R.\n" + field_yaml
    [problem] = problems_for(tmp_path, body)
    assert "« typage »" in problem and f"champ « {field_name} »" in problem and "attendu" in problem


def test_yes_no_answer_is_reported_as_a_boolean(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: booleen\n    question: Q ?\n    answer: yes\n"
    [problem] = problems_for(tmp_path, body)
    assert "champ « answer »" in problem and "guillemets" in problem


def test_number_id(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: 2024\n    question: Q ?\n    answer: R.\n"
    [problem] = problems_for(tmp_path, body)
    assert "entrée n° 1" in problem and "champ « id »" in problem


def test_empty_question(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: vide\n    question: '   '\n    answer: R.\n"
    [problem] = problems_for(tmp_path, body)
    assert "« vide »" in problem and "champ « question »" in problem and "vide" in problem


def test_missing_theme_and_entries(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, "description: rien\n")
    assert any("champ « theme »" in p for p in problems)
    assert any("champ « entries »" in p for p in problems)


def test_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    [problem] = problems_for(tmp_path, "theme: A\nentries:\n  - juste du texte\n")
    assert "entrée n° 1" in problem


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    [problem] = problems_for(tmp_path, "theme: A\nentries:\n  - id: a\n    question: [pas fermé\n    answer: R\n")
    assert "x.yml" in problem and "ligne" in problem and "YAML" in problem


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    body = "theme: A\nentries:\n  - id: a\n    question: Q ?\n    answer: R.\n    answer: S.\n"
    [problem] = problems_for(tmp_path, body)
    assert "x.yml" in problem and "ligne 6" in problem and "« answer »" in problem


def test_empty_file(tmp_path: Path) -> None:
    [problem] = problems_for(tmp_path, "")
    assert "x.yml" in problem and "vide" in problem


def test_unknown_field_is_a_warning_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, "x.yml", "theme: A\nentries:\n" + GOOD_ENTRY.format(id="a") + "    alternative: [oups]\n")
    report = inspect_base([tmp_path])
    assert report.errors == []
    assert report.base is not None
    [warning] = report.warnings
    assert "« a »" in warning and "champ « alternative »" in warning and "alternatives" in warning


def test_related_to_unknown_id_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "x.yml", "theme: A\nentries:\n" + GOOD_ENTRY.format(id="a") + "    related: [inconnu]\n")
    report = inspect_base([tmp_path])
    assert report.errors == []
    assert any("inconnu" in w and "related" in w for w in report.warnings)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "theme: A\nentries:\n  - id: a\n    question: Q ?\n")
    write(tmp_path, "b.yml", "theme: B\nentries:\n  - id: b\n    answer: R.\n    links: [{title: T, url: x}]\n")
    with pytest.raises(FaqError) as caught:
        load_base([tmp_path])
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert caught.value.problems == lines
    assert any("a.yml" in line and "answer" in line for line in lines)
    assert any("b.yml" in line and "question" in line for line in lines)
    assert any("b.yml" in line and "links[0].url" in line for line in lines)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FaqError, match="introuvable"):
        load_base([tmp_path / "absent"])


def test_folder_without_tutorials(tmp_path: Path) -> None:
    with pytest.raises(FaqError, match="aucun tutoriel"):
        load_base([tmp_path])


def test_an_empty_office_layer_is_fine(tmp_path: Path) -> None:
    base = load_base([FIXTURES / "base", tmp_path])
    assert len(base.entries) == 10


# -- the real base ----------------------------------------------------------------------------------------


def real_files() -> list[Path]:
    return sorted(p for p in REAL_FAQ.glob("*.y*ml") if p.suffix in (".yml", ".yaml"))


def test_real_faq_base_is_valid() -> None:
    """Every shipped tutorial file loads cleanly (like Red-DiscordBot's trivia lists)."""
    if not real_files():
        return  # nothing shipped yet: nothing to check
    assert check_base([REAL_FAQ]) == []
    base = load_base([REAL_FAQ])
    assert len({e.id for e in base.entries}) == len(base.entries)


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_each_real_faq_file_is_valid_alone(path: Path) -> None:
    report = inspect_base([path])
    assert report.errors == []
    assert report.base is not None and len(report.base.entries) > 0
