"""Configuration: the example loads; each broken file gives one clear line naming file, field and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, parse_duration

from .conftest import ROOT

MINIMAL = """
offices:
  - id: ot-test
    name: OT Test
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(body, encoding="utf-8")
    return path


def test_example_config_loads_with_demo_office() -> None:
    config = load_config(ROOT / "config.example.yml", env={})
    assert config.language == "fr"
    assert config.database.url == "sqlite:///klub.db"
    assert config.offices[0].id == "ot-trois-vallees"
    assert {p.role for p in config.people} >= {"provider", "staff", "ant"}
    assert config.series[0].rrule.startswith("FREQ=MONTHLY")


def test_minimal_config_has_sensible_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert config.offices[0].timezone == "Europe/Paris"
    assert config.offices[0].reminders.group == ["7d", "1d"]
    assert config.adapters.console.enabled and not config.adapters.telegram.enabled


def test_env_expansion_for_secrets_and_defaults(tmp_path: Path) -> None:
    body = MINIMAL + "database:\n  url: ${KLUB_DB}\nweb:\n  base_url: ${KLUB_WEB:-http://localhost:9000}\n"
    config = load_config(write(tmp_path, body), env={"KLUB_DB": "sqlite:///x.db"})
    assert config.database.url == "sqlite:///x.db"
    assert config.web.base_url == "http://localhost:9000"


BROKEN = [
    ("offices: [", "YAML invalide"),
    ("- just\n- a list\n", "attendu une section"),
    ("language: fr\n", "offices : champ obligatoire manquant"),
    ("offices: []\n", "offices : la liste ne doit pas être vide"),
    (MINIMAL.replace("ot-test", "OT Test!"), "offices[0].id : attendu un identifiant"),
    (MINIMAL + "    timezone: Europe/Pariss\n", "offices[0].timezone : fuseau horaire inconnu « Europe/Pariss »"),
    (MINIMAL + "language: de\n", "language : valeur non autorisée (attendu : 'fr' ou 'en')"),
    (MINIMAL + "colour: blue\n", "colour : champ inconnu"),
    (MINIMAL + "people:\n  - {id: b, name: B, office: ot-nulle-part}\n", "people[0].office : office « ot-nulle-part »"),
    (MINIMAL + "people:\n  - {id: b, name: B, office: ot-test, role: chef}\n", "people[0].role : rôle inconnu"),
    (MINIMAL + "database:\n  url: mysql://x\n", "database.url : attendu une URL sqlite"),
    (MINIMAL + "database:\n  url: ${NOPE}\n", "database.url : la variable d'environnement NOPE n'est pas définie"),
    (MINIMAL + "    reminders: {group: [7 semaines]}\n", "offices[0].reminders.group : durée invalide « 7 semaines »"),
    (MINIMAL + "web: {port: 99999}\n", "web.port : attendu une valeur inférieure ou égale à 65535"),
    (MINIMAL + "adapters: {telegram: {enabled: peut-être}}\n", "adapters.telegram.enabled : attendu true ou false"),
    (MINIMAL + "adapters: {reconnect: {first: 5, max: 1}}\n", "adapters.reconnect.max doit être au moins"),
    (MINIMAL + "    groups:\n      - {platform: telegram, chat_id: 1, kind: clients}\n", "offices[0].groups[0].kind"),
    (MINIMAL + "  - id: ot-test\n    name: Doublon\n", "offices : identifiant « ot-test » en double"),
    (MINIMAL + "people:\n  - {id: b, name: ' ', office: ot-test}\n", "people[0].name : nom vide"),
    (MINIMAL + "people:\n  - {id: b, name: \"\\u200b\\u202e\", office: ot-test}\n", "people[0].name : nom vide"),
    (MINIMAL.replace("name: OT Test", "name: '  '"), "offices[0].name : nom vide"),
]


@pytest.mark.parametrize(("body", "expected"), BROKEN)
def test_broken_config_names_file_field_and_expectation(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "Traceback" not in message and "pydantic" not in message


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fichier introuvable"):
        load_config(tmp_path / "absent.yml", env={})


def test_cli_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    timezone: Mars/Olympus\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "db", "upgrade", "--db", f"sqlite:///{tmp_path}/x.db"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "fuseau horaire inconnu « Mars/Olympus »" in lines[0]


def test_durations() -> None:
    assert parse_duration("7j").days == 7
    assert parse_duration("2h").total_seconds() == 7200
    assert parse_duration("30min").total_seconds() == 1800
    with pytest.raises(ValueError):
        parse_duration("bientôt")


def test_config_is_immutable() -> None:
    config = Config.model_validate({"offices": [{"id": "a", "name": "A"}]})
    with pytest.raises(ValueError):
        config.language = "en"  # type: ignore[misc]
