"""Bad configs, tutorial folders, databases and command-line arguments, played through the real `klub` entry.

Each case must end with exit code 2 and exactly one French line on stderr naming the file, entry or field:
never a traceback, never a hang. The table is the regression list of issue #17.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.cli import main

from .conftest import PG_URL, ROOT


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path], list[str]]  # built from the case's folder
    expect: tuple[str, ...]  # fragments of the one line (file, entry, field, what is wrong)
    setup: Callable[[Path], None] = lambda _folder: None


def _config(folder: Path, change: Callable[[dict], None] | None = None, name: str = "config.yml") -> Path:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["database"]["url"] = f"sqlite:///{folder / 'klub.db'}"
    raw["faq"]["bases"] = [str(ROOT / "faq")]
    if change is not None:
        change(raw)
    path = folder / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _series(**fields: str) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        raw["series"][0].update(fields)

    return change


def _with_config(change: Callable[[dict], None] | None, *rest: str) -> Callable[[Path], list[str]]:
    return lambda folder: ["--config", str(_config(folder, change)), *rest]


def _raw_config(text: str) -> Callable[[Path], list[str]]:
    def argv(folder: Path) -> list[str]:
        path = folder / "config.yml"
        path.write_text(text, encoding="utf-8")
        return ["--config", str(path), "db", "upgrade"]

    return argv


def _faq_folder(files: dict[str, bytes]) -> Callable[[Path], list[str]]:
    def argv(folder: Path) -> list[str]:
        base = folder / "base"
        base.mkdir()
        for name, body in files.items():
            (base / name).write_bytes(body)

        def change(raw: dict) -> None:
            raw["faq"]["bases"] = [str(base)]

        return ["--config", str(_config(folder, change)), "sessions", "list", "--office", "ot-trois-vallees"]

    return argv


def _db(url: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    return lambda folder: ["--config", str(_config(folder)), "db", "upgrade", "--db", url(folder)]


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
OFFICE = ("--office", "ot-trois-vallees")
GOOD_ENTRY = b"theme: T\nentries:\n  - id: a\n    question: Q ?\n    answer: R\n"

CASES = [
    # -- databases -------------------------------------------------------------------------------------
    Case("pg-unreachable", _db(lambda _f: "postgresql+psycopg://klub@127.0.0.1:1/klub"), ("127.0.0.1", "injoignable")),
    Case("url-garbage", _db(lambda _f: "n'importe quoi"), ("n'importe quoi", "non pris en charge")),
    Case("url-sqlite-garbage", _db(lambda _f: "sqlite:/:/\x00"), ("base de données",)),
    Case("mysql-no-driver", _db(lambda _f: "mysql://u:secret@h/x"), ("mysql://u:***@h/x", "non pris en charge")),
    Case("db-missing-folder", _db(lambda f: f"sqlite:///{f}/absent/klub.db"), ("absent", "n'existe pas")),
    Case("db-is-directory", _db(lambda f: f"sqlite:///{f}"), ("dossier",)),
    Case(
        "db-not-a-database",
        _db(lambda f: f"sqlite:///{f / 'notes.txt'}"),
        ("notes.txt", "pas une base SQLite"),
        setup=lambda f: (f / "notes.txt").write_text("bonjour\n" * 100, encoding="utf-8"),
    ),
    Case(
        "db-read-only",
        lambda f: [
            "--config",
            str(_config(f)),
            "person",
            "add",
            "ana-b",
            *OFFICE,
            "--name",
            "Ana B",
            "--db",
            f"sqlite:///file:{f / 'ro.db'}?mode=ro&uri=true",
        ],
        ("lecture seule",),
        setup=lambda f: (
            main(["--config", str(_config(f, name="seed.yml")), "db", "upgrade", "--db", f"sqlite:///{f / 'ro.db'}"])
            and None
        ),
    ),
    Case(
        "config-url-mysql",
        _with_config(lambda r: r["database"].update(url="mysql://h/x"), "db", "upgrade"),
        ("config.yml", "database.url"),
    ),
    # -- config ----------------------------------------------------------------------------------------
    Case(
        "start-month-13",
        _with_config(_series(start="2026-13-01 18:30"), "db", "upgrade"),
        ("config.yml", "series[0].start", "2026-13-01"),
    ),
    Case("start-demain", _with_config(_series(start="demain"), "db", "upgrade"), ("series[0].start", "demain")),
    Case("start-far", _with_config(_series(start="9999-12-31 23:59"), "db", "upgrade"), ("series[0].start", "2100")),
    Case("duration-abc", _with_config(_series(duration="abc"), "db", "upgrade"), ("series[0].duration", "abc")),
    Case(
        "duration-huge",
        _with_config(_series(duration="99999999999h"), "db", "upgrade"),
        ("series[0].duration", "trop longue"),
    ),
    Case(
        "reminder-huge",
        _with_config(lambda r: r["offices"][0]["reminders"].update(group=["99999999999d"]), "db", "upgrade"),
        ("offices[0].reminders.group", "trop longue"),
    ),
    Case(
        "rrule-interval-0",
        _with_config(_series(rrule="FREQ=DAILY;INTERVAL=0"), "sessions", "list", *OFFICE),
        ("config.yml", "series[0]", "INTERVAL=0"),
    ),
    Case(
        "rrule-secondly",
        _with_config(_series(rrule="FREQ=SECONDLY"), "sessions", "list", *OFFICE),
        ("series[0]", "SECONDLY"),
    ),
    Case("config-is-directory", lambda f: ["--config", str(f), "db", "upgrade"], ("dossier", "YAML")),
    Case("config-missing", lambda f: ["--config", str(f / "nope.yml"), "db", "upgrade"], ("nope.yml", "introuvable")),
    Case("alias-bomb", _raw_config(ALIAS_BOMB), ("config.yml", "alias")),
    Case("deep-nesting", _raw_config("a: " + "[" * 100_000 + "]" * 100_000 + "\n"), ("config.yml", "imbrication")),
    Case(
        "duplicate-key",
        _raw_config("offices: []\nlanguage: fr\nlanguage: en\n"),
        ("config.yml", "ligne 3", "« language »", "double"),
    ),
    Case("nul-byte", _raw_config("language: fr\x00\n"), ("config.yml", "NUL")),
    Case("not-a-mapping", _raw_config("- a\n- b\n"), ("config.yml", "section")),
    Case("bad-yaml", _raw_config("offices: [\n"), ("config.yml", "YAML invalide")),
    # -- tutorial folders named by the config --------------------------------------------------------
    Case(
        "faq-missing-folder",
        _with_config(lambda r: r["faq"].update(bases=["/nonexistent/faq"]), "sessions", "list", *OFFICE),
        ("/nonexistent/faq", "introuvable"),
    ),
    Case("faq-nul-bytes", _faq_folder({"a.yml": GOOD_ENTRY + b"\x00\n"}), ("a.yml", "NUL")),
    Case("faq-not-utf8", _faq_folder({"a.yml": b"theme: \xff\n"}), ("a.yml", "UTF-8")),
    Case("faq-alias-bomb", _faq_folder({"a.yml": ALIAS_BOMB.encode()}), ("a.yml", "alias")),
    Case("faq-broken-entry", _faq_folder({"a.yml": b"theme: T\nentries:\n  - id: a\n"}), ("a.yml", "« a »")),
    Case(
        "faq-duplicate-key",
        _faq_folder({"a.yml": GOOD_ENTRY + b"    answer: encore\n"}),
        ("a.yml", "ligne 6", "« answer »"),
    ),
    # -- command-line arguments ----------------------------------------------------------------------
    Case(
        "export-from-year-1",
        _with_config(None, "questions", "export", *OFFICE, "--from", "0001-01-01"),
        ("--from", "0001-01-01", "hors limites"),
    ),
    Case(
        "export-to-year-9999",
        _with_config(None, "questions", "export", *OFFICE, "--to", "9999-12-31"),
        ("--to", "9999-12-31", "hors limites"),
    ),
    Case("export-bad-date", _with_config(None, "questions", "list", *OFFICE, "--to", "31/02/2026"), ("31/02/2026",)),
    Case(
        "export-missing-folder",
        lambda f: [*_with_config(None)(f), "questions", "export", *OFFICE, "-o", str(f / "absent" / "q.csv")],
        ("absent", "n'existe pas"),
    ),
    Case(
        "export-onto-directory",
        lambda f: [*_with_config(None)(f), "questions", "export", *OFFICE, "-o", str(f)],
        ("dossier",),
    ),
    Case("ics-onto-directory", lambda f: [*_with_config(None)(f), "ics", *OFFICE, "-o", str(f)], ("dossier",)),
    Case(
        "person-export-missing-folder",
        lambda f: [*_with_config(None)(f), "person", "export", "camille-ant", "-o", str(f / "absent" / "p.json")],
        ("absent",),
    ),
    Case(
        "script-not-utf8",
        lambda f: [*_with_config(None)(f), "console", "--script", str(f / "s.txt")],
        ("s.txt", "UTF-8"),
        setup=lambda f: (f / "s.txt").write_bytes(b"@clock 2026-11-20 09:00\n\xff\xfe bonjour\n"),
    ),
    Case(
        "draft-huge-number",
        _with_config(None, "faq", "draft", "--from-question", "99999999999999999999"),
        ("--from-question", "99999999999999999999"),
    ),
    Case("draft-superscript", _with_config(None, "faq", "draft", "--from-question", "²"), ("--from-question", "²")),
    Case("web-port", _with_config(None, "web", "--port", "99999"), ("--port", "65535")),
    Case(
        "person-empty-name", _with_config(None, "person", "add", "ana-b", *OFFICE, "--name", "   "), ("--name", "vide")
    ),
    Case(
        "rrule-interval-0-cli",
        _with_config(
            None, "sessions", "create", *OFFICE, "--title", "K", "--time", "18:30", "--rrule", "FREQ=DAILY;INTERVAL=0"
        ),
        ("--rrule", "INTERVAL=0"),
    ),
    Case(
        "session-duration-huge",
        _with_config(
            None,
            "sessions",
            "create",
            *OFFICE,
            "--title",
            "K",
            "--time",
            "18:30",
            "--date",
            "2027-01-07",
            "--duration",
            "99999999999h",
        ),
        ("--duration", "99999999999h"),
    ),
    Case(
        "capacity-huge",
        _with_config(
            None,
            "sessions",
            "create",
            *OFFICE,
            "--title",
            "K",
            "--time",
            "18:30",
            "--capacity",
            "99999999999999999999999",
        ),
        ("--capacity",),
    ),
    Case("invite-days", _with_config(None, "invite", "create", *OFFICE, "--person", "x", "--days", "-1"), ("--days",)),
    Case("cases-directory", lambda f: [*_with_config(None)(f), "faq", "eval", "--cases", str(f)], ("dossier",)),
    Case(
        "cases-not-utf8",
        lambda f: [*_with_config(None)(f), "faq", "eval", "--cases", str(f / "c.yml")],
        ("c.yml", "UTF-8"),
        setup=lambda f: (f / "c.yml").write_bytes(b"cases: \xff\n"),
    ),
    Case(
        "batch-not-utf8",
        lambda f: [*_with_config(None)(f), "faq", "ask", "--base", str(ROOT / "faq"), "--batch", str(f / "q.txt")],
        ("q.txt", "UTF-8"),
        setup=lambda f: (f / "q.txt").write_bytes(b"bonjour \xff\n"),
    ),
    Case("unknown-command", _with_config(None, "frobnicate"), ("frobnicate", "invalide")),
    Case("missing-argument", _with_config(None, "questions", "export"), ("obligatoires", "--office")),
    Case("bad-choice", _with_config(None, "questions", "export", *OFFICE, "--format", "pdf"), ("pdf", "choix")),
    Case("unknown-option", _with_config(None, "db", "upgrade", "--vite"), ("inconnus", "--vite")),
    Case("unknown-office", _with_config(None, "ics", "--office", "ot-nulle-part"), ("ot-nulle-part", "inconnu")),
]


def _play(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse leaves through SystemExit, as a script would
        return int(exc.code or 0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_french_line_and_exit_2(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    case.setup(tmp_path)
    argv = case.argv(tmp_path)
    capsys.readouterr()
    code = _play(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    if len(lines) != 1:
        # A script refused mid-way reports on stdout, beside the lines it played.
        lines = [line for line in out.splitlines() if line.startswith("!!")]
    assert len(lines) == 1, (out, err)
    line = lines[0]
    assert line.startswith(("klub", "!!")), line
    for fragment in case.expect:
        assert fragment in line, (fragment, line)
    assert "secret" not in line  # passwords in URLs are hidden


def test_script_line_too_far_in_time_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text("@clock 2026-11-20 09:00\n@advance 99999999999d\n", encoding="utf-8")
    code = _play(["--config", str(_config(tmp_path)), "console", "--script", str(script)])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    assert [line for line in out.splitlines() if line.startswith("!!")] == [
        f"!! {script}, ligne 2 : durée trop longue « 99999999999d » (au plus 366 jours)"
    ]


def test_help_is_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert _play(["questions", "export", "-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("utilisation : klub questions export")
    assert "afficher cette aide et quitter" in out and "options:" in out
    assert "usage:" not in out and "show this help" not in out


@pytest.mark.skipif(bool(PG_URL), reason="the subprocess cases use their own SQLite files")
@pytest.mark.parametrize("name", ["pg-unreachable", "alias-bomb", "deep-nesting", "unknown-command"])
def test_the_installed_command_prints_no_traceback(name: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == name)
    case.setup(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot", *case.argv(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_klub_ics_exports_a_session_stored_at_the_end_of_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, update

    from bot.storage.tables import Session

    config = _config(tmp_path)
    assert _play(["--config", str(config), "sessions", "list", "--office", "ot-trois-vallees"]) == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'klub.db'}")
    with engine.begin() as conn:  # as an older version, or another tool, may have left it
        conn.execute(update(Session).values(starts_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC), duration_minutes=600))
    engine.dispose()
    out_file = tmp_path / "klub.ics"
    capsys.readouterr()
    assert _play(["--config", str(config), "ics", "--office", "ot-trois-vallees", "-o", str(out_file)]) == 0
    text = out_file.read_text(encoding="utf-8")
    assert "DTSTART:99991231T230000Z" in text and "DTEND:99991231T235959Z" in text
    assert _play(["--config", str(config), "sessions", "list", "--office", "ot-trois-vallees"]) == 0
