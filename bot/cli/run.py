"""`klub run`: Klub in production — Telegram, Discord, the dashboard and the reminders, in one process."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from typing import Any

from bot.cli.common import check_web_secret, load


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("run", help="lancer Klub (adaptateurs activés, rappels, web)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--platform",
        action="append",
        choices=("telegram", "discord", "console"),
        default=[],
        help="ne servir que cette plateforme (répétable) ; les autres plateformes configurées sont servies par"
        " d'autres instances sur la même base, qui délivrent les lignes écrites ici pour elles",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if config.web.enabled:
        check_web_secret(config)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s : %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.storage import db as storage

    storage.upgrade(config.database.url)
    # The composition root lives with the adapters, so that bot/ never imports a platform library.
    runner = importlib.import_module("adapters.runner")
    code: int = asyncio.run(runner.run(config, args.platform))
    return code
