"""The `klub` command. Each sub-module adds its own sub-commands through `register(subparsers)`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.cli import console as console_cli
from bot.cli import db as db_cli
from bot.cli import diagnostic as diagnostic_cli
from bot.cli import faq as faq_cli
from bot.cli import invite as invite_cli
from bot.cli import person as person_cli
from bot.cli import questions as questions_cli
from bot.cli import run as run_cli
from bot.cli import sessions as sessions_cli
from bot.cli import web as web_cli
from bot.cli.common import CliError
from bot.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="klub", description="Klub : l'assistant des offices de tourisme.")
    parser.add_argument(
        "--config", default=None, help="fichier de configuration (défaut : config.yml, sinon config.example.yml)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")
    sub.required = True
    for module in (
        db_cli,
        run_cli,
        console_cli,
        faq_cli,
        sessions_cli,
        questions_cli,
        invite_cli,
        person_cli,
        web_cli,
        diagnostic_cli,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (CliError, ConfigError) as exc:
        print(f"klub : {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `klub … | head`: the reader left early, which is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code
