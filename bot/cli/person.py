"""`klub person add | list | revoke | export | forget`: the office's roster from the command line."""

from __future__ import annotations

import argparse
import re
from typing import Any

from sqlalchemy import select

from bot import audit, gate, membership, privacy
from bot.cli.argfr import non_blank
from bot.cli.common import CliError, load, write_output
from bot.cli.invite import check_office, open_app
from bot.config import SLUG
from bot.handlers.clubs import tell_promoted
from bot.roles import ROLE_NAMES
from bot.storage.tables import Person


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("person", help="l'annuaire : ajouter, lister, retirer")
    psub = parser.add_subparsers(dest="person_command", metavar="ACTION")
    psub.required = True

    add = psub.add_parser("add", help="ajouter une personne à l'annuaire")
    add.add_argument("slug", metavar="IDENTIFIANT", help="minuscules, chiffres, tirets (ex. gite-des-sources)")
    add.add_argument("--office", required=True)
    add.add_argument("--name", required=True, type=non_blank, help="prénom et nom")
    add.add_argument("--role", default="provider", choices=ROLE_NAMES)
    add.add_argument("--business", default="", help="l'établissement")
    add.add_argument("--category", default="", help="hotel, camping, gite, restaurant, activite…")
    add.add_argument("--language", choices=("fr", "en"), default=None)
    add.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    add.set_defaults(func=add_cmd)

    lst = psub.add_parser("list", help="lister l'annuaire d'un office")
    lst.add_argument("--office", required=True)
    lst.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    lst.set_defaults(func=list_cmd)

    revoke = psub.add_parser("revoke", help="retirer l'accès d'une personne (tous les groupes de l'office)")
    revoke.add_argument("slug", metavar="IDENTIFIANT")
    revoke.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    revoke.set_defaults(func=revoke_cmd)

    export = psub.add_parser("export", help="les données d'une personne (RGPD, droit d'accès), en JSON")
    export.add_argument("slug", metavar="IDENTIFIANT")
    export.add_argument("-o", "--output", help="fichier de sortie (défaut : la sortie standard)")
    export.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    export.set_defaults(func=export_cmd)

    forget = psub.add_parser("forget", help="effacer les données d'une personne (RGPD)")
    forget.add_argument("slug", metavar="IDENTIFIANT")
    forget.add_argument("--yes", action="store_true", help="confirmer l'effacement (irréversible)")
    forget.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    forget.set_defaults(func=forget_cmd)


def add_cmd(args: argparse.Namespace) -> int:
    config = load(args)
    check_office(config, args.office)
    if not re.match(SLUG, args.slug):
        raise CliError(f"identifiant « {args.slug} » invalide : minuscules, chiffres et tirets (ex. gite-des-sources)")
    app = open_app(args, config)
    try:
        with app.sessions.begin() as db:
            if membership.person_by_slug(db, args.slug) is not None:
                raise CliError(f"« {args.slug} » existe déjà dans l'annuaire")
            now = app.clock.now()
            db.add(
                Person(
                    slug=args.slug,
                    name=args.name,
                    business=args.business,
                    category=args.category,
                    office_id=args.office,
                    role=args.role,
                    language=args.language,
                    active=True,
                    created_at=now,
                )
            )
            audit.record(
                db,
                now,
                "person.add",
                actor_label=gate.CLI_ACTOR,
                office_id=args.office,
                target=args.slug,
                detail=args.role,
            )
    finally:
        app.close()
    print(f"{args.name} ({args.slug}) ajouté·e à l'annuaire de {args.office}.")
    print(f"Pour l'inviter : klub invite create --office {args.office} --person {args.slug}")
    return 0


def list_cmd(args: argparse.Namespace) -> int:
    config = load(args)
    check_office(config, args.office)
    app = open_app(args, config)
    try:
        with app.sessions() as db:
            people = db.scalars(select(Person).where(Person.office_id == args.office).order_by(Person.slug)).all()
            rows = [
                (
                    p.slug,
                    p.role,
                    "effacé" if p.erased_at else ("actif" if p.active else "retiré"),
                    ", ".join(sorted({i.platform for i in p.identities})) or "—",
                    p.name,
                    p.business,
                )
                for p in people
            ]
    finally:
        app.close()
    print(f"{'identifiant':<24} {'rôle':<9} {'état':<7} {'comptes':<24} nom – établissement")
    for slug, role, state, platforms, name, business in rows:
        print(f"{slug:<24} {role:<9} {state:<7} {platforms:<24} {name} – {business}")
    print(f"{len(rows)} personne(s).")
    return 0


def revoke_cmd(args: argparse.Namespace) -> int:
    config = load(args)
    platforms = _removal_platforms(config)
    app = open_app(args, config, platforms)
    try:
        with app.sessions.begin() as db:
            person = _known(db, args.slug)
            result = gate.revoke(
                db, person=person, now=app.clock.now(), platforms=app.reach, actor_label=gate.CLI_ACTOR
            )
            for session, promoted in result.promoted:
                tell_promoted(app, db, session, promoted)
            name = person.name
        word = "retiré" if result.was_active else "déjà retiré (retraits redemandés)"
        print(f"Accès de {name} ({args.slug}) {word}.")
        if result.promoted:
            print(f"{len(result.promoted)} place(s) rendue(s) à la liste d'attente (prévenu(s) en privé).")
        if not result.removals and not result.promoted:
            print("Aucun groupe à quitter sur les plateformes configurées.")
            return 0
        for action in result.removals:
            app.outbox.put(action.to_out())
        return _execute(app)
    finally:
        app.close()


def _execute(app: Any) -> int:
    import importlib

    done = failed = 0
    for platform in sorted(app.platforms):
        # Imported only when configured: the command line runs without the platform libraries' start-up cost.
        deliver = importlib.import_module(f"adapters.{platform}_adapter").deliver_pending
        ok, ko = deliver(app)
        done, failed = done + ok, failed + ko
    print(f"Retraits effectués : {done} groupe(s).")
    if failed:
        print(f"Retraits impossibles : {failed} (droits du bot dans le groupe ?). Retirez la personne à la main.")
        return 1
    return 0


def export_cmd(args: argparse.Namespace) -> int:
    config = load(args)
    app = open_app(args, config, ())
    try:
        with app.sessions.begin() as db:
            person = _known(db, args.slug)
            data = privacy.export_json(db, person)
            audit.record(db, app.clock.now(), "person.export", actor_label=gate.CLI_ACTOR,
                         office_id=person.office_id, target=f"person:{person.id}")  # fmt: skip
    finally:
        app.close()
    if args.output:
        write_output(args.output, (data + "\n").encode("utf-8"))
        print(f"Données de {args.slug} écrites dans {args.output}.")
    else:
        print(data)
    return 0


def forget_cmd(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CliError("l'effacement est irréversible : relancez avec --yes pour confirmer")
    config = load(args)
    platforms = _removal_platforms(config)
    app = open_app(args, config, platforms)
    try:
        with app.sessions.begin() as db:
            person = _known(db, args.slug)
            # Out of the groups first (needs the platform accounts), then the personal data goes.
            result = gate.revoke(db, person=person, now=app.clock.now(), platforms=app.reach,
                                 actor_label=gate.CLI_ACTOR)  # fmt: skip
            for session, promoted in result.promoted:
                tell_promoted(app, db, session, promoted)
            kept = privacy.forget(db, person, app.clock.now(), gate.CLI_ACTOR)
        print(f"Données de {args.slug} effacées ; {kept} question(s) conservée(s) sans nom.")
        for action in result.removals:
            app.outbox.put(action.to_out())
        return _execute(app) if result.removals else 0
    finally:
        app.close()


def _known(db: Any, slug: str) -> Person:
    person = membership.person_by_slug(db, slug)
    if person is None or person.erased_at is not None:
        raise CliError(f"personne « {slug} » absente de l'annuaire (voir klub person list)")
    return person


def _removal_platforms(config: Any) -> tuple[str, ...]:
    # Removals are carried out here and now on each configured platform: this process is not the bot.
    return tuple(p for p in ("telegram", "discord") if getattr(config.adapters, p).enabled)
