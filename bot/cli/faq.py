"""`klub faq …` sub-commands (placeholder replaced by the FAQ engine work)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("faq", help="la base de tutoriels")
    parser.set_defaults(func=lambda args: 0)
