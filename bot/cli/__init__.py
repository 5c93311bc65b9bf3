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
from bot.cli.argfr import FrenchArgumentParser
from bot.cli.common import CliError, config_path
from bot.config import ConfigError
from bot.faq.loader import FaqError
from bot.storage.db import StorageError


def build_parser() -> argparse.ArgumentParser:
    parser = FrenchArgumentParser(prog="klub", description="Klub : l'assistant des offices de tourisme.")
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
    except CliError as exc:
        return _fail(str(exc))
    except ConfigError as exc:
        # Errors found after loading (a series the domain refuses) do not know the file: name it.
        text, path = str(exc), str(config_path(args))
        return _fail(text if text.startswith(path) else f"{path} : {text}")
    except StorageError as exc:
        return _fail(str(exc))
    except FaqError as exc:
        more = len(exc.problems) - 1
        return _fail(exc.problems[0] + (f" (et {more} autre(s) problème(s) : klub faq check)" if more > 0 else ""))
    except BrokenPipeError:
        # `klub … | head`: the reader left early, which is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return code


def _fail(message: str) -> int:
    print(f"klub : {message}", file=sys.stderr)
    return 2
