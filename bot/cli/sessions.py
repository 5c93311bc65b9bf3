"""`klub ics` and `klub sessions …`: the Klub calendar from the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from bot import audit, clubs, ics
from bot.bootstrap import bootstrap
from bot.cli.argfr import bounded_int, duration, non_blank
from bot.cli.common import CliError, check_output, load, write_output
from bot.clock import SystemClock
from bot.clubs import ClubError, SessionSpec
from bot.i18n import t
from bot.timefmt import TimeInputError, fmt_when, parse_date, parse_local, parse_time


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ics", help="exporter les séances au format iCalendar")
    p.add_argument("--office", required=True, help="identifiant de l'office")
    p.add_argument("-o", "--output", help="fichier de sortie (défaut : la sortie standard)")
    p.set_defaults(func=export_ics)

    s: argparse.ArgumentParser = sub.add_parser("sessions", help="les séances (Klub, ateliers, conférences)")
    ssub = s.add_subparsers(dest="sessions_command", metavar="ACTION")
    ssub.required = True
    ls = ssub.add_parser("list", help="les séances à venir")
    ls.add_argument("--office", required=True)
    ls.set_defaults(func=list_sessions)
    cr = ssub.add_parser("create", help="programmer une séance ou une série")
    cr.add_argument("--office", required=True)
    cr.add_argument("--title", required=True, type=non_blank)
    cr.add_argument("--kind", default="klub", choices=clubs.KINDS)
    cr.add_argument("--date", help="séance unique : AAAA-MM-JJ")
    cr.add_argument("--time", required=True, help="heure locale, 18:30")
    cr.add_argument("--rrule", help="série : règle RFC 5545, ex. FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4")
    cr.add_argument("--start", help="série : première date possible, AAAA-MM-JJ (défaut : aujourd'hui)")
    cr.add_argument("--duration", default="2h", type=duration, help="durée : 2h, 90min…")
    cr.add_argument("--location", default="")
    cr.add_argument("--video-url", default="")
    cr.add_argument("--capacity", type=bounded_int(1, clubs.MAX_CAPACITY))
    cr.add_argument("--min-attendance", type=bounded_int(0, clubs.MAX_CAPACITY))
    cr.add_argument("--audience", choices=clubs.AUDIENCES, default="prestataires", help="le groupe concerné")
    cr.set_defaults(func=create)


def _app(args: argparse.Namespace) -> Any:
    config = load(args)
    if args.office not in {o.id for o in config.offices}:
        raise CliError(f"office « {args.office} » inconnu (offices : {', '.join(o.id for o in config.offices)})")
    return bootstrap(config, clock=SystemClock(), platforms=())


def export_ics(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output)
    app = _app(args)
    try:
        with app.sessions() as db:
            data = ics.build(db, args.office, app.clock.now())
    finally:
        app.close()
    if args.output:
        write_output(args.output, data)
        print(f"Calendrier écrit dans {args.output}.")
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def list_sessions(args: argparse.Namespace) -> int:
    app = _app(args)
    try:
        with app.sessions() as db:
            zone = clubs.zone_of(db, args.office)
            rows = clubs.upcoming(db, args.office, app.clock.now(), limit=50, audiences=clubs.AUDIENCES)
            if not rows:
                print("Aucune séance à venir.")
            for s in rows:
                yes = clubs.count(db, s.id, "yes")
                cap = f"/{s.capacity}" if s.capacity else ""
                status = {"scheduled": "", "moved": " (déplacée)", "cancelled": f" (annulée : {s.cancel_reason})"}
                print(f"n°{s.id:<4} {fmt_when(s.starts_at, zone)}  {s.title}  {yes}{cap} inscrits{status[s.status]}")
    finally:
        app.close()
    return 0


def create(args: argparse.Namespace) -> int:
    app = _app(args)
    try:
        with app.sessions.begin() as db:
            now = app.clock.now()
            try:
                spec = SessionSpec(
                    title=args.title,
                    kind=args.kind,
                    duration_minutes=int(args.duration.total_seconds() // 60),
                    location=args.location,
                    video_url=args.video_url,
                    capacity=args.capacity,
                    min_attendance=args.min_attendance,
                    audience=args.audience,
                )
                zone = clubs.zone_of(db, args.office)
                if args.date:
                    row = clubs.create_one_off(db, args.office, spec, parse_local(args.date, args.time, zone), now)
                    print(f"Séance n°{row.id} programmée : {fmt_when(row.starts_at, zone)}.")
                elif args.rrule:
                    first = parse_date(args.start) if args.start else now.astimezone(zone).date()
                    series = clubs.create_series(
                        db, args.office, spec, args.rrule, datetime.combine(first, parse_time(args.time)), now
                    )
                    count = len(
                        [
                            s
                            for s in clubs.upcoming(db, args.office, now, 100, audiences=clubs.AUDIENCES)
                            if s.series_id == series.id
                        ]
                    )
                    print(f"Série n°{series.id} créée : {count} séance(s) à venir.")
                else:
                    raise CliError("précisez --date (séance unique) ou --rrule (série)")
            except (ClubError, TimeInputError) as exc:
                option = {"klub.bad_rrule": "--rrule : ", "klub.no_occurrence": "--rrule : "}.get(exc.key, "")
                raise CliError(option + t(app.config.language, exc.key, **exc.kwargs)) from exc
            except ValueError as exc:
                raise CliError(str(exc)) from exc
            audit.record(db, now, "session.create", actor_label="ligne de commande", office_id=args.office)
    finally:
        app.close()
    return 0
