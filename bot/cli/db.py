"""`klub db upgrade`: create or upgrade the database schema."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import load
from bot.storage import db as storage
from bot.storage.db import redact


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("db", help="la base de données")
    dbsub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    up = dbsub.add_parser("upgrade", help="créer ou mettre à jour le schéma")
    up.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    up.set_defaults(func=upgrade)


def upgrade(args: argparse.Namespace) -> int:
    config = load(args)  # validate the file even when --db overrides its URL
    url = args.db or config.database.url
    what = storage.upgrade(url)
    revision = storage.current_revision(url)
    word = "créée" if what == "created" else "à jour"
    print(f"Base de données {word} ({redact(url)}, révision {revision}).")
    return 0
