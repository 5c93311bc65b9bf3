"""`klub diagnostic check`: validate the questionnaire files against the configured tutorial base."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import load
from bot.diagnostic import check
from bot.faq.loader import inspect_base


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("diagnostic", help="le questionnaire du diagnostic numérique")
    commands = parser.add_subparsers(dest="diagnostic_command", metavar="SOUS-COMMANDE")
    commands.required = True
    cmd = commands.add_parser("check", help="vérifier le questionnaire (et ses tutoriels dans la base)")
    cmd.add_argument("files", nargs="*", metavar="FICHIER", help="dans l'ordre (défaut : ceux de la configuration)")
    cmd.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    config = load(args)
    files = args.files or config.diagnostic.files
    report = inspect_base(config.faq.bases)
    known = {e.id for e in report.base.entries} if report.base is not None else None
    problems = check(files, known)
    for line in problems:
        print(line)
    if report.base is None:
        print("(la base de tutoriels ne se charge pas : les tutoriels recommandés n'ont pas été vérifiés)")
    if problems:
        return 1
    print(f"Questionnaire valide : {', '.join(files)}")
    return 0
