"""Planning and changing sessions as the ANT types them: /klub (a session or a series), /modifier-seance."""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta

from bot import audit, clubs, inputs
from bot.clubs import ClubError, SessionSpec
from bot.commands import Command, Option
from bot.core import Ctx
from bot.handlers.clubs import _changed, _fail, _target, describe, tell_promoted
from bot.i18n import Safe
from bot.inputs import InputError
from bot.klubs import changes
from bot.klubs.recurrence import french_rrule, season_end, with_until
from bot.messages import Reply
from bot.roles import Role
from bot.timefmt import TimeInputError, fmt_day, localize, parse_date, parse_local, parse_time


def _options(args: str) -> dict[str, str]:
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ClubError("klub.bad_quotes") from exc
    out: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ClubError("klub.bad_option", text=word)
        out[key.strip().lower()] = value.strip()
    return out


def _int(opts: dict[str, str], key: str) -> int | None:
    if key not in opts:
        return None
    return inputs.parse_number(opts[key], low=0, high=clubs.MAX_CAPACITY, what=key)


def _text(opts: dict[str, str], key: str, limit: int, default: str = "") -> str:
    if key not in opts:
        return default
    return inputs.clean_text(opts[key], max_length=limit, what=key)


def klub_create(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None and ctx.person is not None
    if not args.strip():
        from bot.handlers import klub_guide

        return klub_guide.start(ctx)  # no arguments: the guided dialogue, step by step
    try:
        opts = _options(args)
        known = {
            "titre",
            "type",
            "date",
            "heure",
            "quand",
            "mois",
            "debut",
            "duree",
            "lieu",
            "lien",
            "places",
            "min",
            "rrule",
            "pour",
            "fin",
        }
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ClubError("klub.unknown_option", text=unknown[0])
        if "titre" not in opts:
            raise ClubError("klub.missing_title")
        duration = inputs.parse_duration(opts.get("duree", "2h"), low=timedelta(minutes=15), high=timedelta(hours=12))
        spec = SessionSpec(
            title=_text(opts, "titre", 200),
            kind=opts.get("type", "klub"),
            duration_minutes=int(duration.total_seconds() // 60),
            location=_text(opts, "lieu", 300),
            video_url=_text(opts, "lien", 500),
            capacity=_int(opts, "places"),
            min_attendance=_int(opts, "min"),
            audience=opts.get("pour", "prestataires"),
        )
        zone = clubs.zone_of(ctx.db, ctx.office.id)
        if "heure" not in opts:
            raise ClubError("klub.missing_time")
        if "date" in opts:
            starts = parse_local(opts["date"], opts["heure"], zone)
            session = clubs.create_one_off(ctx.db, ctx.office.id, spec, starts, ctx.now)
            audit.record(
                ctx.db,
                ctx.now,
                "session.create",
                actor=ctx.person,
                office_id=ctx.office.id,
                target=f"session:{session.id}",
            )
            _changed(ctx)
            card = Reply(Safe(ctx.t("klub.created_one") + "\n" + describe(ctx.app, ctx.db, session, ctx.lang)))
            return _staff_card(ctx, spec, card)
        if "quand" not in opts and "rrule" not in opts:
            raise ClubError("klub.missing_when")
        rule = opts["rrule"] if "rrule" in opts else french_rrule(opts["quand"], opts.get("mois"))
        first_day = parse_date(opts["debut"]) if "debut" in opts else ctx.now.astimezone(zone).date()
        if "fin" in opts:
            rule = with_until(rule, parse_date(opts["fin"]))
        elif "mois" in opts and "rrule" not in opts:
            rule = with_until(rule, season_end(opts["mois"], first_day))
        start_local = datetime.combine(first_day, parse_time(opts["heure"]))
        series = clubs.create_series(ctx.db, ctx.office.id, spec, rule, start_local, ctx.now)
    except (ClubError, TimeInputError, InputError) as exc:
        return _fail(ctx, exc)
    audit.record(
        ctx.db,
        ctx.now,
        "series.create",
        actor=ctx.person,
        office_id=ctx.office.id,
        target=f"series:{series.id}",
        detail=series.rrule,
    )
    _changed(ctx)
    upcoming = [
        s
        for s in clubs.upcoming(ctx.db, ctx.office.id, ctx.now, limit=50, audiences=clubs.AUDIENCES)
        if s.series_id == series.id
    ]
    rule, _, until = series.rrule.partition(";UNTIL=")
    zone = clubs.zone_of(ctx.db, ctx.office.id)
    ends = ""
    if until:
        last = localize(datetime.strptime(until[:8], "%Y%m%d"), zone)
        ends = " " + ctx.t("klub.series_until", day=fmt_day(last, zone, ctx.lang))
    lines = [ctx.t("klub.created_series", count=len(upcoming), rrule=rule, until=Safe(ends))]
    twins = clubs.skipped_duplicates(ctx.db, series, ctx.now)
    if twins:
        numbers = ", ".join(f"n°{s.id}" for s in twins)
        lines.append(ctx.t("klub.duplicates_skipped", count=len(twins), numbers=numbers))
    lines += [describe(ctx.app, ctx.db, s, ctx.lang, details=False) for s in upcoming[:3]]
    return _staff_card(ctx, spec, Reply(Safe("\n\n".join(lines))))


def _staff_card(ctx: Ctx, spec: SessionSpec, card: Reply) -> list[Reply]:
    """A staff-only session created from the providers' group is described in private only."""
    if spec.audience == "equipe" and ctx.providers_chat:
        return [Reply(ctx.t("core.answered_private")), Reply(card.text, private=True)]
    return [card]


def modifier_seance(ctx: Ctx, args: str) -> list[Reply]:
    """`/modifier-seance N places=… lieu=… lien=…`: capacity, place or link of a planned session."""
    number, _, rest = args.strip().partition(" ")
    if not number or not rest.strip():
        return ctx.say("klub.edit_usage")
    session = _target(ctx, number)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    try:
        opts = _options(rest)
        unknown = sorted(set(opts) - {"places", "lieu", "lien"})
        if unknown:
            raise ClubError("klub.edit_unknown_option", text=unknown[0])
        wanted = opts.get("places", "")
        change = changes.Edit(
            capacity=_int(opts, "places") if wanted not in ("", "illimite", "illimité", "unlimited") else None,
            clear_capacity="places" in opts and wanted in ("illimite", "illimité", "unlimited"),
            location=_text(opts, "lieu", 300) if "lieu" in opts else None,
            video_url=_text(opts, "lien", 500) if "lien" in opts else None,
        )
        promoted = changes.edit(ctx.db, session, change, ctx.now)
    except (ClubError, InputError) as exc:
        return _fail(ctx, exc)
    _changed(ctx)
    for person in promoted:
        tell_promoted(ctx.app, ctx.db, session, person)
    audit.record(
        ctx.db,
        ctx.now,
        "session.edit",
        actor=ctx.person,
        office_id=session.office_id,
        target=f"session:{session.id}",
        detail=" ".join(f"{k}={v}" for k, v in sorted(opts.items())),
    )
    lines = [ctx.t("klub.edited", number=session.id), describe(ctx.app, ctx.db, session, ctx.lang)]
    if promoted:
        lines.append(ctx.t("klub.edit_promoted", names=", ".join(p.name for p in promoted)))
    return [Reply(Safe("\n".join(lines)))]


COMMANDS = [
    Command(
        "klub",
        ("new",),
        Role.ANT,
        "any",
        klub_create,
        usage="titre=… heure=… (date=… | quand=…)",
        options=(Option("reglages", "settings", required=True),),
        personal=True,
    ),
    Command(
        "modifier-seance",
        ("edit-session",),
        Role.ANT,
        "any",
        modifier_seance,
        usage="n° places=… lieu=… lien=…",
        options=(Option("seance", "session", "session", required=True), Option("reglages", "settings", required=True)),
        personal=True,
    ),
]
