"""`klub invite create`: a single-use, expiring invitation code for someone on the roster."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from bot import gate, membership
from bot.bootstrap import App, bootstrap
from bot.cli.argfr import bounded_int
from bot.cli.common import CliError, load
from bot.config import Config


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("invite", help="les invitations (codes d'accès aux groupes)")
    isub = parser.add_subparsers(dest="invite_command", metavar="ACTION")
    isub.required = True
    create = isub.add_parser("create", help="créer un code d'invitation à usage unique")
    create.add_argument("--office", required=True, help="identifiant de l'office")
    create.add_argument("--person", required=True, metavar="IDENTIFIANT", help="la personne de l'annuaire")
    days_type = bounded_int(1, gate.MAX_DAYS)
    create.add_argument("--days", type=days_type, default=gate.DEFAULT_DAYS, help="validité en jours (défaut : 7)")
    create.add_argument("--db", help="URL de la base (défaut : celle de la configuration)")
    create.set_defaults(func=create_cmd)


def open_app(args: argparse.Namespace, config: Config, platforms: tuple[str, ...] = ()) -> App:
    return bootstrap(config, database_url=args.db or config.database.url, platforms=platforms)


def check_office(config: Config, office_id: str) -> None:
    if office_id not in {o.id for o in config.offices}:
        known = ", ".join(o.id for o in config.offices)
        raise CliError(f"office « {office_id} » inconnu (offices configurés : {known})")


def create_cmd(args: argparse.Namespace) -> int:
    config = load(args)
    check_office(config, args.office)
    app = open_app(args, config)
    try:
        with app.sessions.begin() as db:
            person = membership.person_by_slug(db, args.person)
            if person is None:
                raise CliError(f"personne « {args.person} » absente de l'annuaire (voir klub person list)")
            if person.office_id != args.office:
                raise CliError(f"« {person.slug} » appartient à l'office {person.office_id}, pas à {args.office}")
            try:
                new = gate.create_invite(
                    db, person=person, now=app.clock.now(), actor_label=gate.CLI_ACTOR, days=args.days
                )
            except gate.GateError as exc:
                raise CliError(_gate_error(exc)) from exc
            name, slug, reactivate = person.name, person.slug, not person.active
        zone = ZoneInfo(config.office(args.office).timezone)
        expires = new.invite.expires_at.astimezone(zone)
    finally:
        app.close()
    print(f"Invitation pour {name} ({slug}), valable jusqu'au {expires:%d/%m/%Y à %H:%M}.")
    if reactivate:
        print("Son accès avait été retiré : utiliser ce code le rétablira.")
    print(f"Code : {gate.format_code(new.code)}   (à envoyer au bot en privé : /start {new.code})")
    username = bot_username(config)
    if username:
        print(f"Lien Telegram : https://t.me/{username}?start={new.code}")
    else:
        print("Lien Telegram : indiquez adapters.telegram.bot_username dans la configuration pour l'obtenir.")
    print("Le code ne sert qu'une fois et n'est pas conservé : seule son empreinte est enregistrée.")
    return 0


def bot_username(config: Config) -> str | None:
    """From the config, else from Telegram itself (getMe) when the bot is configured."""
    tg = config.adapters.telegram
    if tg.bot_username:
        return tg.bot_username.lstrip("@")
    if not tg.enabled:
        return None
    from adapters.telegram_adapter import fetch_username

    return fetch_username(config)


def _gate_error(exc: gate.GateError) -> str:
    from adapters.render import to_plain
    from bot.i18n import t

    return to_plain(t("fr", exc.key, **exc.kwargs))
