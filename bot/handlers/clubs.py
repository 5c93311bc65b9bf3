"""Chat commands for Klub sessions: /prochain, /klubs, /inscrire, /desinscrire, and the ANT's actions."""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session as Db

from bot import audit, clubs, notify
from bot.clubs import ClubError, SessionSpec
from bot.commands import Command, Option
from bot.config import parse_duration
from bot.core import Ctx
from bot.i18n import Safe, esc, t
from bot.messages import Button, Reply
from bot.roles import Role
from bot.storage.tables import Person, Session
from bot.timefmt import TimeInputError, fmt_delay, fmt_when, parse_date, parse_local, parse_time

if TYPE_CHECKING:
    from bot.bootstrap import App


def _fail(ctx: Ctx, exc: ClubError | TimeInputError) -> list[Reply]:
    return ctx.say(exc.key, **exc.kwargs)


def _changed(ctx: Ctx) -> None:
    # After the commit: a plan rebuilt before it would still see the old sessions.
    ctx.app.core.after_commit(ctx.app.reminders.invalidate)


# -- views --------------------------------------------------------------------------------------------


def describe(app: App, db: Db, session: Session, lang: str, *, details: bool = True) -> Safe:
    """The card of a session: title, when, where, places."""
    zone = clubs.zone_of(db, session.office_id)
    lines = [
        t(lang, "klub.card_title", number=session.id, title=session.title, kind=t(lang, f"klub.kind_{session.kind}"))
    ]
    lines.append(t(lang, "klub.card_when", when=fmt_when(session.starts_at, zone, lang)))
    if session.status == "cancelled":
        lines.append(t(lang, "klub.card_cancelled", reason=session.cancel_reason or "—"))
        return Safe("\n".join(lines))
    if session.audience == "equipe":
        lines.append(t(lang, "klub.card_staff_only"))
    if session.location:
        lines.append(t(lang, "klub.card_where", where=session.location))
    if session.video_url:
        lines.append(t(lang, "klub.card_video", url=session.video_url))
    if details:
        yes, waiting = clubs.count(db, session.id, "yes"), clubs.count(db, session.id, "waitlist")
        if session.capacity is None:
            lines.append(t(lang, "klub.card_registered", yes=yes))
        else:
            left = max(0, session.capacity - yes)
            key = "klub.card_places" if left else "klub.card_full"
            lines.append(t(lang, key, yes=yes, left=left, capacity=session.capacity, waiting=waiting))
    return Safe("\n".join(lines))


def register_buttons(lang: str, session: Session) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(t(lang, "klub.button_register"), f"/inscrire {session.id}"),
            Button(t(lang, "klub.button_unregister"), f"/desinscrire {session.id}"),
        ),
    )


def reminder_reply(app: App, db: Db, session: Session, kind: str, offset: timedelta, person: Person | None) -> Reply:
    lang = (person.language if person else None) or app.config.language
    card = describe(app, db, session, lang)
    delay = fmt_delay(offset, lang)
    if kind == "private":
        return Reply(Safe(t(lang, "klub.reminder_private", delay=delay) + "\n" + card))
    if kind == "alert":
        yes = clubs.count(db, session.id, "yes")
        text = t(lang, "klub.alert_low", yes=yes, minimum=session.min_attendance or 0, number=session.id)
        buttons = ((Button(t(lang, "klub.button_announce"), f"/annoncer {session.id}"),),)
        return Reply(Safe(text + "\n" + card), buttons=buttons)
    return Reply(
        Safe(t(lang, "klub.reminder_group", delay=delay) + "\n" + card), buttons=register_buttons(lang, session)
    )


# -- provider commands --------------------------------------------------------------------------------


def _agenda_lines(ctx: Ctx, session: Session) -> list[str]:
    preview = getattr(ctx.app, "agenda_preview", None)
    return preview(ctx, session) if preview is not None else []


def prochain(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    session = clubs.next_session(ctx.db, ctx.office.id, ctx.now, _audiences(ctx))
    if session is None:
        return ctx.say("klub.none_planned")
    lines: list[str] = [describe(ctx.app, ctx.db, session, ctx.lang)]
    if ctx.person is not None:
        reg = clubs.registration_of(ctx.db, session.id, ctx.person.id)
        if reg is not None and reg.status == "yes":
            lines.append(ctx.t("klub.you_are_registered"))
        elif reg is not None and reg.status == "waitlist":
            pos = clubs.waitlist_position(ctx.db, session.id, ctx.person.id)
            lines.append(ctx.t("klub.you_are_waiting", position=pos))
    lines.extend(_agenda_lines(ctx, session))
    return [Reply(Safe("\n".join(lines)), buttons=register_buttons(ctx.lang, session))]


def klubs_list(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    sessions = clubs.upcoming(ctx.db, ctx.office.id, ctx.now, limit=8, audiences=_audiences(ctx))
    if not sessions:
        return ctx.say("klub.none_planned")
    parts = [ctx.t("klub.list_title")]
    parts += [describe(ctx.app, ctx.db, s, ctx.lang) for s in sessions]
    return [Reply(Safe("\n\n".join(parts)))]


def _audiences(ctx: Ctx) -> tuple[str, ...]:
    return clubs.audiences_for(ctx.role >= Role.STAFF)


def _target(ctx: Ctx, args: str) -> Session | ClubError:
    """`N` or nothing (= the next session) -> the session, within the caller's office only."""
    assert ctx.office is not None
    word = args.strip().split(" ", 1)[0].lstrip("n°#") if args.strip() else ""
    if not word:
        session = clubs.next_session(ctx.db, ctx.office.id, ctx.now, _audiences(ctx))
        return session if session is not None else ClubError("klub.none_planned")
    if not word.isdigit():
        return ClubError("klub.bad_number", text=word)
    found = clubs.find(ctx.db, ctx.office.id, int(word), _audiences(ctx))
    return found if found is not None else ClubError("klub.unknown", number=word)


def inscrire(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    assert ctx.person is not None
    try:
        status, position = clubs.register(ctx.db, session, ctx.person, ctx.now)
    except ClubError as exc:
        return _fail(ctx, exc)
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    when = fmt_when(session.starts_at, zone, ctx.lang)
    if status == "waitlist":
        return ctx.say("klub.waitlisted", title=session.title, when=when, position=position)
    return ctx.say("klub.registered", title=session.title, when=when, number=session.id)


def desinscrire(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    assert ctx.person is not None
    try:
        previous, promoted = clubs.unregister(ctx.db, session, ctx.person, ctx.now)
    except ClubError as exc:
        return _fail(ctx, exc)
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    if promoted is not None:
        lang = promoted.language or ctx.app.config.language
        text = t(lang, "klub.promoted", title=session.title, when=fmt_when(session.starts_at, zone, lang))
        notify.to_person(ctx.app, promoted, Reply(text))
    key = "klub.unregistered" if previous == "yes" else "klub.left_waitlist"
    return ctx.say(key, title=session.title, when=fmt_when(session.starts_at, zone, ctx.lang))


# -- ANT commands -------------------------------------------------------------------------------------


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
    try:
        return int(opts[key])
    except ValueError as exc:
        raise ClubError("klub.bad_integer", option=key, text=opts[key]) from exc


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
        }
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ClubError("klub.unknown_option", text=unknown[0])
        try:
            minutes = int(parse_duration(opts.get("duree", "2h")).total_seconds() // 60)
        except ValueError as exc:
            raise ClubError("klub.bad_duration") from exc
        spec = SessionSpec(
            title=opts.get("titre", ""),
            kind=opts.get("type", "klub"),
            duration_minutes=minutes,
            location=opts.get("lieu", ""),
            video_url=opts.get("lien", ""),
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
            return [Reply(Safe(ctx.t("klub.created_one") + "\n" + describe(ctx.app, ctx.db, session, ctx.lang)))]
        if "quand" not in opts and "rrule" not in opts:
            raise ClubError("klub.missing_when")
        rule = opts["rrule"] if "rrule" in opts else clubs.french_rrule(opts["quand"], opts.get("mois"))
        first_day = parse_date(opts["debut"]) if "debut" in opts else ctx.now.astimezone(zone).date()
        start_local = datetime.combine(first_day, parse_time(opts["heure"]))
        series = clubs.create_series(ctx.db, ctx.office.id, spec, rule, start_local, ctx.now)
    except (ClubError, TimeInputError) as exc:
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
    lines = [ctx.t("klub.created_series", count=len(upcoming), rrule=series.rrule)]
    lines += [describe(ctx.app, ctx.db, s, ctx.lang, details=False) for s in upcoming[:3]]
    return [Reply(Safe("\n\n".join(lines)))]


def annoncer(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    if session.status == "cancelled":
        return ctx.say("klub.is_cancelled")
    lang = ctx.app.config.language
    text = Safe(
        t(lang, "klub.announce", kind=t(lang, f"klub.kind_{session.kind}"))
        + "\n"
        + describe(ctx.app, ctx.db, session, lang)
    )
    sent = notify.to_groups(
        ctx.app, ctx.db, session.office_id, session.audience, Reply(text, buttons=register_buttons(lang, session))
    )
    session.announced_at = ctx.now
    audit.record(
        ctx.db,
        ctx.now,
        "session.announce",
        actor=ctx.person,
        office_id=session.office_id,
        target=f"session:{session.id}",
    )
    return ctx.say("klub.announced", count=sent)


def deplacer(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    if len(parts) != 3:
        return ctx.say("klub.move_usage")
    session = _target(ctx, parts[0])
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    try:
        new_start = parse_local(parts[1], parts[2], clubs.zone_of(ctx.db, session.office_id))
        old = clubs.move(ctx.db, session, new_start, ctx.now)
    except (ClubError, TimeInputError) as exc:
        return _fail(ctx, exc)
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    audit.record(
        ctx.db,
        ctx.now,
        "session.move",
        actor=ctx.person,
        office_id=session.office_id,
        target=f"session:{session.id}",
        detail=f"{old.isoformat()} -> {new_start.isoformat()}",
    )
    lang = ctx.app.config.language
    notice = t(
        lang,
        "klub.moved_notice",
        title=session.title,
        old=fmt_when(old, zone, lang),
        new=fmt_when(new_start, zone, lang),
    )
    notify.to_groups(ctx.app, ctx.db, session.office_id, session.audience, Reply(notice))
    for reg in clubs.registrations(ctx.db, session.id, "yes"):
        person = ctx.db.get(Person, reg.person_id)
        if person is not None:
            plang = person.language or lang
            notify.to_person(
                ctx.app,
                person,
                Reply(
                    t(
                        plang,
                        "klub.moved_private",
                        title=session.title,
                        new=fmt_when(new_start, zone, plang),
                        number=session.id,
                    )
                ),
            )
    return ctx.say("klub.moved", number=session.id, new=fmt_when(new_start, zone, ctx.lang))


def _cancel(ctx: Ctx, args: str, default_reason: str) -> list[Reply]:
    number, _, reason = args.strip().partition(" ")
    if not number:
        return ctx.say("klub.cancel_usage")
    session = _target(ctx, number)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    reason = reason.strip() or ctx.t(default_reason)
    try:
        people = clubs.cancel(ctx.db, session, reason, ctx.now)
    except ClubError as exc:
        return _fail(ctx, exc)
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    audit.record(
        ctx.db,
        ctx.now,
        "session.cancel",
        actor=ctx.person,
        office_id=session.office_id,
        target=f"session:{session.id}",
        detail=reason,
    )
    lang = ctx.app.config.language
    notice = t(
        lang, "klub.cancelled_notice", title=session.title, when=fmt_when(session.starts_at, zone, lang), reason=reason
    )
    notify.to_groups(ctx.app, ctx.db, session.office_id, session.audience, Reply(notice))
    told = 0
    for person in people:
        plang = person.language or lang
        told += notify.to_person(
            ctx.app,
            person,
            Reply(
                t(
                    plang,
                    "klub.cancelled_private",
                    title=session.title,
                    when=fmt_when(session.starts_at, zone, plang),
                    reason=reason,
                )
            ),
        )
    return ctx.say("klub.cancelled", number=session.id, told=told)


def annuler(ctx: Ctx, args: str) -> list[Reply]:
    return _cancel(ctx, args, "klub.default_reason")


def sauter(ctx: Ctx, args: str) -> list[Reply]:
    return _cancel(ctx, args, "klub.skip_reason")


def inscrits(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    lines: list[str] = [describe(ctx.app, ctx.db, session, ctx.lang)]
    for status in ("yes", "waitlist"):
        regs = clubs.registrations(ctx.db, session.id, status)
        names = []
        for reg in regs:
            person = ctx.db.get(Person, reg.person_id)
            if person is not None:
                names.append(f"{esc(person.name)} ({esc(person.business)})" if person.business else esc(person.name))
        if names:
            lines.append(ctx.t(f"klub.list_{status}") + " " + ", ".join(names))
    return [Reply(Safe("\n".join(lines)))]


COMMANDS = [
    Command("prochain", ("next",), Role.PROVIDER, "any", prochain, personal=True),
    Command("klubs", ("sessions",), Role.PROVIDER, "any", klubs_list, personal=True),
    Command(
        "inscrire",
        ("register", "join"),
        Role.PROVIDER,
        "any",
        inscrire,
        usage="[n°]",
        options=(Option("seance", "session", "session"),),
        personal=True,
    ),
    Command(
        "desinscrire",
        ("unregister", "leave"),
        Role.PROVIDER,
        "any",
        desinscrire,
        usage="[n°]",
        options=(Option("seance", "session", "session"),),
        personal=True,
    ),
    Command(
        "inscrits",
        ("attendees",),
        Role.STAFF,
        "any",
        inscrits,
        usage="[n°]",
        options=(Option("seance", "session", "session"),),
        personal=True,
    ),
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
        "annoncer",
        ("announce",),
        Role.ANT,
        "any",
        annoncer,
        usage="[n°]",
        options=(Option("seance", "session", "session"),),
        personal=True,
    ),
    Command(
        "deplacer",
        ("move",),
        Role.ANT,
        "any",
        deplacer,
        usage="n° AAAA-MM-JJ HH:MM",
        options=(
            Option("seance", "session", "session", required=True),
            Option("date", "date", required=True),
            Option("heure", "time", required=True),
        ),
        personal=True,
    ),
    Command(
        "annuler",
        ("cancel",),
        Role.ANT,
        "any",
        annuler,
        usage="n° raison",
        options=(Option("seance", "session", "session", required=True), Option("raison", "reason", required=True)),
        personal=True,
    ),
    Command(
        "sauter",
        ("skip",),
        Role.ANT,
        "any",
        sauter,
        usage="n°",
        options=(Option("seance", "session", "session", required=True),),
        personal=True,
    ),
]
