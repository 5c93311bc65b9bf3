"""Spreadsheet files for French Excel: CSV (UTF-8 with BOM, `;`) and XLSX, safe to open.

Any text cell that a spreadsheet would read as a formula (= + - @, a tab or a carriage return first,
after optional spaces) is prefixed with a quote and written as text, as OWASP advises against CSV
injection: a provider's answer or a business name never becomes a live formula in the office's files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: object) -> object:
    """Numbers stay numbers; text that would start a formula is quoted."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.lstrip(" ").startswith(_FORMULA_START) else value


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([neutral(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutral(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheet: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet[:31]  # Excel's limit for a sheet name
    ws.append([neutral(h) for h in header])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        # openpyxl makes a formula only of text starting with "=": neutral() has quoted every such cell.
        ws.append([neutral(v) for v in row])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
