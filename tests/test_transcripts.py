"""Whole features, shown as conversations: every tests/transcripts/*.txt must print its .out file.

Set KLUB_UPDATE_TRANSCRIPTS=1 to rewrite the .out files after an intended change (then read the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.console_adapter import play_script
from bot.config import Config

HERE = Path(__file__).parent / "transcripts"
SCRIPTS = sorted(HERE.glob("*.txt"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_transcript(script: Path, config: Config, database_url: str) -> None:
    lines: list[str] = []
    code = play_script(config, database_url, script.read_text(encoding="utf-8"), lines.append)
    output = "\n".join(lines) + "\n"
    expected_path = script.with_suffix(".out")
    if os.environ.get("KLUB_UPDATE_TRANSCRIPTS"):
        expected_path.write_text(output, encoding="utf-8")
    assert code == 0, output
    assert output == expected_path.read_text(encoding="utf-8")


def test_bad_transcript_line_is_reported_with_its_number(config: Config, database_url: str) -> None:
    lines: list[str] = []
    code = play_script(config, database_url, "@clock 2026-11-20 09:00\nblabla sans format\n", lines.append)
    assert code == 1
    assert lines[-1].startswith("!! ligne 2 : ligne incomprise")


def test_clock_cannot_go_back(config: Config, database_url: str) -> None:
    lines: list[str] = []
    code = play_script(config, database_url, "@clock 2026-11-20 09:00\n@clock 2026-11-01 09:00\n", lines.append)
    assert code == 1 and "arrière" in lines[-1]
