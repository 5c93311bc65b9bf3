"""Chat commands for Klub sessions: /prochain, /klubs, /inscrire, /desinscrire, and the ANT's actions."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session as Db

from bot import audit, clubs, inputs, notify
from bot.clubs import ClubError
from bot.commands import Command, Option
from bot.config import parse_duration
from bot.core import Ctx
from bot.i18n import Safe, esc, t
from bot.inputs import InputError
from bot.klubs import changes
from bot.messages import Button, Reply
from bot.roles import Role
from bot.storage.tables import Person, Question, Session
from bot.timefmt import TimeInputError, fmt_delay, fmt_duration, fmt_offset, fmt_when, parse_local

if TYPE_CHECKING:
    from bot.app import App


def _fail(ctx: Ctx, exc: ClubError | TimeInputError | InputError) -> list[Reply]:
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
    row = (
        Button(t(lang, "klub.button_register"), f"/inscrire {session.id}"),
        Button(t(lang, "klub.button_unregister"), f"/desinscrire {session.id}"),
    )
    if session.kind == "klub":
        return (row,)
    # Questions go to the next Klub unless the asker names a workshop or conference: its card offers it.
    return (row, (Button(t(lang, "klub.button_ask"), f"/question {session.id}"),))


def reminder_reply(app: App, db: Db, session: Session, kind: str, offset: timedelta, person: Person | None) -> Reply:
    lang = (person.language if person else None) or clubs.group_language(db, session.office_id, app.config.language)
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


def dropped_reply(
    app: App, db: Db, session: Session, offsets: dict[str, list[Any]], late: timedelta, grace: timedelta
) -> Reply:
    """For the team: the reminders of one session that went unsent because they were too late."""
    lang = clubs.group_language(db, session.office_id, app.config.language)
    parts = []
    for offset_key, items in sorted(offsets.items()):
        kind, _, offset = offset_key.partition(":")
        name = fmt_offset(parse_duration(offset), lang)
        parts.append(t(lang, f"klub.dropped_{kind}", offset=name, count=len(items)))
    zone = clubs.zone_of(db, session.office_id)
    text = t(
        lang,
        "klub.dropped",
        number=session.id,
        title=session.title,
        when=fmt_when(session.starts_at, zone, lang),
        what=Safe(" ; ".join(parts) if lang == "fr" else "; ".join(parts)),
        late=fmt_duration(late, lang),
        grace=fmt_duration(grace, lang),
    )
    return Reply(text)


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
    # Staff see staff-only sessions, but never in the providers' group.
    return clubs.audiences_for(ctx.role >= Role.STAFF and not ctx.providers_chat)


def _target(ctx: Ctx, args: str) -> Session | ClubError:
    """`N` or nothing (= the next session) -> the session, within the caller's office only."""
    assert ctx.office is not None
    word = args.strip().split(None, 1)[0] if args.strip() else ""
    if not word:
        session = clubs.next_session(ctx.db, ctx.office.id, ctx.now, _audiences(ctx))
        return session if session is not None else ClubError("klub.none_planned")
    number = inputs.maybe_number(word)
    if number is None:
        return ClubError("klub.bad_number", text=word[:40])
    found = clubs.find(ctx.db, ctx.office.id, number, _audiences(ctx))
    if found is None or found.office_id not in ctx.scope:
        return ClubError("klub.unknown", number=number)
    return found


def inscrire(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _personal(ctx, _fail(ctx, session))
    assert ctx.person is not None
    try:
        status, position = clubs.register(ctx.db, session, ctx.person, ctx.now)
    except ClubError as exc:
        return _personal(ctx, _fail(ctx, exc))
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    when = fmt_when(session.starts_at, zone, ctx.lang)
    if status == "waitlist":
        return _personal(ctx, ctx.say("klub.waitlisted", title=session.title, when=when, position=position))
    return _personal(ctx, ctx.say("klub.registered", title=session.title, when=when, number=session.id))


def desinscrire(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _personal(ctx, _fail(ctx, session))
    assert ctx.person is not None
    try:
        previous, promoted = clubs.unregister(ctx.db, session, ctx.person, ctx.now)
    except ClubError as exc:
        return _personal(ctx, _fail(ctx, exc))
    _changed(ctx)
    zone = clubs.zone_of(ctx.db, session.office_id)
    if promoted is not None:
        tell_promoted(ctx.app, ctx.db, session, promoted)
    key = "klub.unregistered" if previous == "yes" else "klub.left_waitlist"
    return _personal(ctx, ctx.say(key, title=session.title, when=fmt_when(session.starts_at, zone, ctx.lang)))


def tell_promoted(app: App, db: Db, session: Session, person: Person) -> None:
    """The first on the waitlist got a seat: they hear it in private."""
    lang = person.language or app.config.language
    when = fmt_when(session.starts_at, clubs.zone_of(db, session.office_id), lang)
    notify.to_person(app, person, Reply(t(lang, "klub.promoted", title=session.title, when=when)))


def _personal(ctx: Ctx, replies: list[Reply]) -> list[Reply]:
    """A button pressed under a group message: the answer is for the one who pressed it.

    It goes to them in private; where the platform cannot write to them privately, the group answer
    names them."""
    if ctx.private or not ctx.incoming.via_button or ctx.person is None:
        return replies
    out = []
    for reply in replies:
        named = ctx.t("klub.for_person", name=ctx.person.name, text=reply.text)
        out.append(Reply(reply.text, buttons=reply.buttons, private=True, fallback=named))
    return out


# -- ANT commands -------------------------------------------------------------------------------------


def annoncer(ctx: Ctx, args: str) -> list[Reply]:
    session = _target(ctx, args)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    if session.status == "cancelled":
        return ctx.say("klub.is_cancelled")
    lang = clubs.group_language(ctx.db, session.office_id, ctx.app.config.language)
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
    except (ClubError, TimeInputError, InputError) as exc:
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
    lang = clubs.group_language(ctx.db, session.office_id, ctx.app.config.language)
    notice = t(
        lang,
        "klub.moved_notice",
        title=session.title,
        old=fmt_when(old, zone, lang),
        new=fmt_when(new_start, zone, lang),
    )
    notify.to_groups(ctx.app, ctx.db, session.office_id, session.audience, Reply(notice))
    for status in ("yes", "waitlist"):
        key = "klub.moved_private" if status == "yes" else "klub.moved_private_waiting"
        for reg in clubs.registrations(ctx.db, session.id, status):
            person = ctx.db.get(Person, reg.person_id)
            if person is not None:
                plang = person.language or lang
                new = fmt_when(new_start, zone, plang)
                position = clubs.waitlist_position(ctx.db, session.id, person.id)
                text = t(plang, key, title=session.title, new=new, number=session.id, position=position)
                notify.to_person(ctx.app, person, Reply(text))
    return ctx.say("klub.moved", number=session.id, new=fmt_when(new_start, zone, ctx.lang))


def _cancel(ctx: Ctx, args: str, default_reason: str) -> list[Reply]:
    number, _, reason = args.strip().partition(" ")
    if not number:
        return ctx.say("klub.cancel_usage")
    session = _target(ctx, number)
    if isinstance(session, ClubError):
        return _fail(ctx, session)
    reason = " ".join(reason.split())[:300]
    if inputs.is_blank(reason):
        reason = ctx.t(default_reason)
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
    lang = clubs.group_language(ctx.db, session.office_id, ctx.app.config.language)
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
    target, moved = changes.carry_questions(ctx.db, session, ctx.now)
    _tell_askers(ctx, session, target, moved)
    done = ctx.t("klub.cancelled", number=session.id, told=told)
    if moved:
        where = (
            ctx.t("klub.questions_to", number=target.id, when=fmt_when(target.starts_at, zone, ctx.lang))
            if target
            else ctx.t("klub.questions_wait")
        )
        done = Safe(done + " " + ctx.t("klub.questions_moved", count=len(moved), where=where))
    return [Reply(done)]


def _tell_askers(ctx: Ctx, cancelled: Session, target: Session | None, moved: list[Question]) -> None:
    """Each asker hears once, in private, where their questions went (anonymous or not: it is their own)."""
    zone = clubs.zone_of(ctx.db, cancelled.office_id)
    numbers: dict[int, list[int]] = {}
    for q in moved:
        if q.person_id is not None:
            numbers.setdefault(q.person_id, []).append(q.id)
    for person_id, ids in numbers.items():
        person = ctx.db.get(Person, person_id)
        if person is None:
            continue
        lang = person.language or ctx.app.config.language
        nums = [t(lang, "klub.question_ref", number=n) for n in ids]
        if target is not None:
            text = t(
                lang,
                "klub.your_questions_moved",
                numbers=", ".join(nums),
                title=cancelled.title,
                target=target.title,
                when=fmt_when(target.starts_at, zone, lang),
            )
        else:
            text = t(lang, "klub.your_questions_wait", numbers=", ".join(nums), title=cancelled.title)
        notify.to_person(ctx.app, person, Reply(text))


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
        private_list=True,
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
