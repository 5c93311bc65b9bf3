"""`klub questions list|export|gaps`: the office's question log from the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from typing import Any

from bot import audit, clubs, drafts, questions
from bot.bootstrap import App, bootstrap
from bot.cli.common import CliError, check_output, load, write_output
from bot.clock import SystemClock
from bot.faq.normalize import default_normalizer
from bot.questions import LogFilter
from bot.timefmt import MAX_YEAR, MIN_YEAR, TimeInputError, in_range, localize, parse_date


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("questions", help="le journal des questions de l'office")
    qsub = p.add_subparsers(dest="questions_command", metavar="ACTION")
    qsub.required = True
    for name, func, help_ in (
        ("list", list_questions, "afficher le journal"),
        ("export", export, "exporter le journal (CSV pour Excel, ou XLSX)"),
        ("gaps", gaps, "les sujets les plus demandés sans tutoriel"),
    ):
        q = qsub.add_parser(name, help=help_)
        q.add_argument("--office", required=True, help="identifiant de l'office")
        q.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
        q.add_argument("--from", dest="start", help="depuis cette date (AAAA-MM-JJ, incluse)")
        q.add_argument("--to", dest="end", help="jusqu'à cette date (AAAA-MM-JJ, incluse)")
        q.add_argument("--status", action="append", choices=questions.STATUSES, help="statut (répétable)")
        q.add_argument("--source", action="append", choices=questions.SOURCES, help="source (répétable)")
        if name == "export":
            q.add_argument("--format", choices=("csv", "xlsx"), default="csv")
            q.add_argument("-o", "--output", help="fichier de sortie (défaut : questions-OFFICE.csv|xlsx)")
        q.set_defaults(func=func)


def _open(args: argparse.Namespace) -> tuple[App, LogFilter]:
    config = load(args)
    if args.office not in {o.id for o in config.offices}:
        raise CliError(f"office « {args.office} » inconnu (offices : {', '.join(o.id for o in config.offices)})")
    app = bootstrap(config, clock=SystemClock(), database_url=args.db or config.database.url, platforms=())
    try:
        for option, text in (("--from", args.start), ("--to", args.end)):
            if text and not in_range(parse_date(text)):
                app.close()
                raise CliError(f"{option} : date hors limites « {text} » (années {MIN_YEAR} à {MAX_YEAR})")
        with app.sessions() as db:
            zone = clubs.zone_of(db, args.office)
        start = localize(datetime.combine(parse_date(args.start), datetime.min.time()), zone) if args.start else None
        end = (
            localize(datetime.combine(parse_date(args.end), datetime.min.time()), zone) + timedelta(days=1)
            if args.end
            else None
        )
    except TimeInputError as exc:
        app.close()
        raise CliError(f"date invalide « {exc.kwargs.get('text', '')} » (attendu AAAA-MM-JJ)") from exc
    if start and end and end <= start:
        app.close()
        raise CliError("--to doit être après --from")
    flt = LogFilter(
        office_ids=(args.office,),
        start=start,
        end=end,
        statuses=tuple(args.status or ()),
        sources=tuple(args.source or ()),
    )
    return app, flt


def list_questions(args: argparse.Namespace) -> int:
    app, flt = _open(args)
    try:
        with app.sessions() as db:
            table = questions.rows(db, questions.search(db, flt))
    finally:
        app.close()
    if not table:
        print("Aucune question pour ces critères.")
        return 0
    for row in table:
        number, date, _, person, business, _, text, source, status, _session, votes, note, entry, score = row
        who = f"{person} ({business})" if business else person
        extra = f" · tutoriel {entry} {score}" if entry else ""
        print(f"n°{number} {date} · {who} · {source} · {status} · 👍 {votes}{extra}")
        print(f"    {text}")
        if note:
            print(f"    → {note}")
    print(f"{len(table)} question(s).")
    return 0


def export(args: argparse.Namespace) -> int:
    target = args.output or f"questions-{args.office}.{args.format}"
    if target != "-":
        check_output(target)
    app, flt = _open(args)
    try:
        with app.sessions.begin() as db:
            table = questions.rows(db, questions.search(db, flt))
            data = questions.to_csv(table) if args.format == "csv" else questions.to_xlsx(table)
            audit.record(
                db,
                app.clock.now(),
                "questions.export",
                actor_label="ligne de commande",
                office_id=args.office,
                detail=f"{len(table)} questions, {args.format}",
            )
    finally:
        app.close()
    if target == "-":
        sys.stdout.buffer.write(data)
        return 0
    path = write_output(target, data)
    print(f"{len(table)} question(s) exportée(s) dans {path}.")
    return 0


def gaps(args: argparse.Namespace) -> int:
    app, flt = _open(args)
    try:
        with app.sessions() as db:
            found = drafts.gaps(db, default_normalizer(), flt)
            if not found:
                print("Aucune question sans réponse sur cette période.")
                return 0
            print("Sujets les plus demandés sans tutoriel :")
            for topic, count, examples in found:
                print(f"  « {topic} » : {count} question(s)")
                for q in examples:
                    print(f"      n°{q.id} {q.text[:100]}")
            print("Pour en faire un tutoriel : klub faq draft --from-question N")
    finally:
        app.close()
    return 0
