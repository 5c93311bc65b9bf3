"""Questions in advance for the next Klub: ask, vote, edit, withdraw; the ANT's agenda and report."""

from __future__ import annotations

from sqlalchemy import select

from bot import audit, clubs, notify, questions
from bot.commands import Command, Option
from bot.core import Ctx
from bot.handlers.faq import _chat_kind
from bot.i18n import Safe, esc, pick_language
from bot.messages import Button, Reply
from bot.questions import QuestionError
from bot.roles import Role
from bot.storage.tables import Person, Question, QuestionEvent, Session
from bot.timefmt import fmt_day

ANON_WORDS = ("anonyme", "anonymous", "anon")


def _fail(ctx: Ctx, exc: QuestionError) -> list[Reply]:
    return ctx.say(exc.key, **exc.kwargs)


def _number(word: str) -> int | None:
    word = word.strip().lstrip("n°#")
    return int(word) if word.isdigit() else None


def _offices(ctx: Ctx) -> set[str]:
    if ctx.person is not None and ctx.role >= Role.STAFF:
        return questions.offices_of(ctx.db, ctx.person)
    return {ctx.office.id} if ctx.office else set()


def _session_label(ctx: Ctx, session_id: int | None, lang: str | None = None) -> str:
    lang = lang or ctx.lang
    session = ctx.db.get(Session, session_id) if session_id else None
    if session is None:
        return ctx.app_t(lang, "question.no_session")
    return ctx.app_t(
        lang,
        "question.for_session",
        title=session.title,
        day=fmt_day(session.starts_at, clubs.zone_of(ctx.db, session.office_id), lang),
    )


def _told_to_group(ctx: Ctx, q: Question) -> Reply:
    """Where the acknowledgement is shown to the asker alone, the group still sees the new question on
    the agenda, and who asked it (unless anonymous)."""
    assert ctx.office is not None
    lang = pick_language(ctx.office.language, ctx.app.config.language)
    session = _session_label(ctx, q.session_id, lang)
    if q.anonymous:
        text = ctx.app_t(lang, "question.told_group_anonymous", number=q.id, session=session, text=q.text)
    else:
        who = _asker(ctx, q, reveal=False)
        text = ctx.app_t(lang, "question.told_group", who=who, number=q.id, session=session, text=q.text)
    return Reply(text, personal=False)


def _asker(ctx: Ctx, q: Question, reveal: bool) -> str:
    person = ctx.db.get(Person, q.person_id) if q.person_id else None
    if person is None or person.erased_at is not None:
        return ctx.t("question.anonymous")
    name = f"{person.name} ({person.business})" if person.business else person.name
    if q.anonymous:
        return ctx.t("question.anonymous_revealed", name=name) if reveal else ctx.t("question.anonymous")
    return esc(name)


# -- providers ----------------------------------------------------------------------------------------


def question(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None and ctx.person is not None
    first, _, rest = args.strip().partition(" ")
    anonymous = first.lower() in ANON_WORDS
    text = rest if anonymous else args
    if not text.strip():
        return ctx.say("question.usage", limit=questions.MAX_LENGTH)
    faq = ctx.app.faq
    result = faq.match(text)
    best = result.best
    try:
        q = questions.create(
            ctx.db,
            ctx.office.id,
            ctx.person,
            text,
            "advance",
            ctx.now,
            anonymous=anonymous,
            platform=ctx.incoming.chat.platform,
            chat_kind=_chat_kind(ctx),
            entry=best.entry.id if best and result.answered else None,
            score=best.score if best else None,
            theme=best.entry.theme if best and result.answered else None,
        )
    except QuestionError as exc:
        return _fail(ctx, exc)
    ctx.db.flush()
    # Stored first; everything below only adds help around the acknowledgement.
    ack = ctx.t("question.recorded", number=q.id, session=_session_label(ctx, q.session_id))
    if anonymous:
        ack = Safe(ack + " " + ctx.t("question.recorded_anonymous"))
    replies = [Reply(ack)]
    if not ctx.private and ctx.incoming.hides_personal:
        replies.append(_told_to_group(ctx, q))
    similar = questions.similar_open(ctx.db, faq.similarity, q)
    if similar:
        other = similar[0]
        questions.event(ctx.db, q, ctx.now, "similar", ctx.person, str(other.id))
        buttons = (
            (
                Button(ctx.t("question.button_vote", number=other.id), f"/voter {other.id}"),
                Button(ctx.t("question.button_keep"), f"/garder {q.id}"),
            ),
        )
        replies.append(Reply(ctx.t("question.similar", number=other.id, text=other.text), buttons=buttons))
    elif best is not None and result.answered and not result.suggestions:
        body = faq.render(best.entry, ctx.lang)
        buttons = (
            (
                Button(ctx.t("question.button_solved"), f"/resolu {q.id}"),
                Button(ctx.t("question.button_keep_klub"), f"/garder {q.id}"),
            ),
        )
        replies.append(
            Reply(
                Safe(ctx.t("question.base_first") + "\n\n" + body + "\n\n" + ctx.t("question.does_it_answer")),
                buttons=buttons,
            )
        )
    return replies


def _own(ctx: Ctx, args: str) -> Question | list[Reply]:
    number = _number(args.split(" ", 1)[0]) if args.strip() else None
    if number is None:
        return ctx.say("question.need_number")
    try:
        q = questions.get(ctx.db, _offices(ctx), number)
        assert ctx.person is not None
        questions.can_change(q, ctx.person, ctx.now, ctx.db)
    except QuestionError as exc:
        return _fail(ctx, exc)
    return q


def resolu(ctx: Ctx, args: str) -> list[Reply]:
    q = _own(ctx, args)
    if isinstance(q, list):
        return q
    questions.set_status(ctx.db, q, "answered_base", ctx.now, ctx.person)
    return ctx.say("question.solved", number=q.id)


def garder(ctx: Ctx, args: str) -> list[Reply]:
    q = _own(ctx, args)
    if isinstance(q, list):
        return q
    questions.event(ctx.db, q, ctx.now, "kept", ctx.person)
    return ctx.say("question.kept", number=q.id, session=_session_label(ctx, q.session_id))


def voter(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.person is not None
    number = _number(args) if args.strip() else None
    if number is None:
        return ctx.say("question.need_number")
    try:
        q = questions.get(ctx.db, {ctx.office.id} if ctx.office else set(), number)
        questions.vote(ctx.db, q, ctx.person, ctx.now)
    except QuestionError as exc:
        return _fail(ctx, exc)
    # The voter's own near-duplicate, offered a minute ago, folds into the one they voted for.
    dup_ids = ctx.db.scalars(
        select(QuestionEvent.question_id).where(
            QuestionEvent.action == "similar",
            QuestionEvent.detail == str(q.id),
            QuestionEvent.actor_id == ctx.person.id,
        )
    )
    for dup_id in dup_ids:
        dup = ctx.db.get(Question, dup_id)
        if dup is not None and dup.status == "open" and dup.person_id == ctx.person.id:
            questions.merge(ctx.db, dup, q, ctx.now, ctx.person)
    return ctx.say("question.voted", number=q.id, votes=questions.votes(ctx.db, q.id))


def modifier(ctx: Ctx, args: str) -> list[Reply]:
    _, _, text = args.strip().partition(" ")
    q = _own(ctx, args)
    if isinstance(q, list):
        return q
    try:
        q.text = questions.check_text(text)
    except QuestionError as exc:
        return _fail(ctx, exc)
    q.updated_at = ctx.now
    questions.event(ctx.db, q, ctx.now, "edited", ctx.person, q.text)
    return ctx.say("question.edited", number=q.id)


def supprimer(ctx: Ctx, args: str) -> list[Reply]:
    q = _own(ctx, args)
    if isinstance(q, list):
        return q
    questions.set_status(ctx.db, q, "withdrawn", ctx.now, ctx.person)
    return ctx.say("question.withdrawn", number=q.id)


def mesquestions(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.person is not None
    rows = list(ctx.db.scalars(select(Question).where(Question.person_id == ctx.person.id).order_by(Question.id)))
    if not rows:
        return ctx.say("question.none_mine")
    lines = [ctx.t("question.mine_title")]
    for q in rows[-15:]:
        lines.append(ctx.t("question.mine_line", number=q.id, text=q.text, status=ctx.t(f"question.status_{q.status}")))
    return [Reply(Safe("\n".join(lines)))]


def _agenda_text(ctx: Ctx, session: Session | None, reveal: bool) -> Safe:
    assert ctx.office is not None
    ranked = questions.agenda(ctx.db, ctx.office.id, session.id if session else None, public=not reveal)
    head = ctx.t("question.agenda_title", session=_session_label(ctx, session.id if session else None))
    if not ranked:
        return Safe(head + "\n" + ctx.t("question.agenda_empty"))
    lines = [head]
    for q, n in ranked:
        who = _asker(ctx, q, reveal)
        if reveal and q.source != "advance":
            who = Safe(who + " · " + ctx.t(f"question.source_{q.source}"))
        lines.append(ctx.t("question.agenda_line", number=q.id, votes=n, text=q.text, who=who))
    return Safe("\n".join(lines))


def questions_list(ctx: Ctx, args: str) -> list[Reply]:
    """What providers may see: the public agenda (anonymous askers stay anonymous), with +1 buttons."""
    assert ctx.office is not None
    session = clubs.next_session(ctx.db, ctx.office.id, ctx.now)
    ranked = questions.agenda(ctx.db, ctx.office.id, session.id if session else None, public=True)[:8]
    buttons = tuple(
        (Button(ctx.t("question.button_vote", number=q.id), f"/voter {q.id}"),)
        for q, _ in ranked
        if ctx.person is None or q.person_id != ctx.person.id
    )
    return [Reply(_agenda_text(ctx, session, reveal=False), buttons=buttons[:5])]


def agenda_preview(ctx: Ctx, session: Session) -> list[str]:
    """The agenda so far, for /prochain."""
    ranked = questions.agenda(ctx.db, session.office_id, session.id, public=True)
    if not ranked:
        return [ctx.t("question.preview_none")]
    top = ranked[0][0]
    return [ctx.t("question.preview", count=len(ranked), text=top.text)]


# -- the ANT ------------------------------------------------------------------------------------------


def _session_arg(ctx: Ctx, word: str) -> Session | list[Reply] | None:
    assert ctx.office is not None
    if not word:
        return clubs.next_session(ctx.db, ctx.office.id, ctx.now)
    number = _number(word)
    found = clubs.find(ctx.db, ctx.office.id, number) if number is not None else None
    return found if found is not None else ctx.say("klub.unknown", number=word)


def agenda(ctx: Ctx, args: str) -> list[Reply]:
    session = _session_arg(ctx, args.strip())
    if isinstance(session, list):
        return session
    reveal = ctx.private or (ctx.group is not None and ctx.group.kind == "equipe")
    return [Reply(_agenda_text(ctx, session, reveal=reveal))]


def _ant_target(ctx: Ctx, args: str) -> tuple[Question, str] | list[Reply]:
    word, _, rest = args.strip().partition(" ")
    number = _number(word) if word else None
    if number is None:
        return ctx.say("question.need_number")
    try:
        return questions.get(ctx.db, _offices(ctx), number), rest.strip()
    except QuestionError as exc:
        return _fail(ctx, exc)


def repondu(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, note = target
    if not note:
        return ctx.say("question.answer_usage")
    questions.set_status(ctx.db, q, "answered_klub", ctx.now, ctx.person, note=note[:2000])
    return ctx.say("question.answered", number=q.id)


def ecarter(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, reason = target
    if not reason:
        return ctx.say("question.dismiss_usage")
    questions.set_status(ctx.db, q, "dismissed", ctx.now, ctx.person, reason=reason[:300])
    return ctx.say("question.dismissed", number=q.id)


def reporter(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, rest = target
    session = _session_arg(ctx, rest) if rest else None
    if isinstance(session, list):
        return session
    if session is None or session.status == "cancelled":
        return ctx.say("question.move_usage")
    q.session_id, q.updated_at = session.id, ctx.now
    questions.event(ctx.db, q, ctx.now, "moved", ctx.person, str(session.id))
    return ctx.say("question.moved", number=q.id, session=_session_label(ctx, session.id))


def fusionner(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    numbers = [_number(p) for p in parts]
    if len(parts) != 2 or None in numbers:
        return ctx.say("question.merge_usage")
    try:
        source = questions.get(ctx.db, _offices(ctx), numbers[0] or 0)
        target = questions.get(ctx.db, _offices(ctx), numbers[1] or 0)
        questions.merge(ctx.db, source, target, ctx.now, ctx.person)
    except QuestionError as exc:
        return _fail(ctx, exc)
    return ctx.say("question.merged", source=source.id, target=target.id, votes=questions.votes(ctx.db, target.id))


def compte_rendu(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    word = args.strip()
    if word:
        session = _session_arg(ctx, word)
    else:
        past = ctx.db.scalars(
            select(Session)
            .where(Session.office_id == ctx.office.id, Session.starts_at <= ctx.now, Session.status != "cancelled")
            .order_by(Session.starts_at.desc())
            .limit(1)
        )
        session = next(iter(past), None)
    if isinstance(session, list):
        return session
    if session is None:
        return ctx.say("question.report_no_session")
    answered = questions.answered_at(ctx.db, ctx.office.id, session.id)
    if not answered:
        return ctx.say("question.report_empty", session=_session_label(ctx, session.id))
    lang = ctx.app.config.language
    lines = [ctx.app_t(lang, "question.report_title", session=_session_label(ctx, session.id))]
    for q in answered:
        lines.append(ctx.app_t(lang, "question.report_line", text=q.text, note=q.answer_note or ""))
    sent = notify.to_groups(ctx.app, ctx.db, ctx.office.id, "prestataires", Reply(Safe("\n\n".join(lines))))
    audit.record(
        ctx.db, ctx.now, "questions.report", actor=ctx.person, office_id=ctx.office.id, target=f"session:{session.id}"
    )
    return ctx.say("question.report_sent", count=len(answered), groups=sent)


COMMANDS = [
    Command(
        "question",
        ("ask",),
        Role.PROVIDER,
        "any",
        question,
        usage="[anonyme] <texte>",
        options=(Option("texte", "text", required=True), Option("anonyme", "anonymous", "boolean", word="anonyme")),
        personal=True,
    ),
    Command(
        "questions",
        ("list",),
        Role.PROVIDER,
        "any",
        questions_list,
        en="questions",
    ),
    Command(
        "voter",
        ("vote",),
        Role.PROVIDER,
        "any",
        voter,
        usage="n°",
        options=(Option("numero", "number", "integer", required=True),),
        personal=True,
    ),
    Command(
        "mesquestions",
        ("myquestions",),
        Role.PROVIDER,
        "any",
        mesquestions,
        personal=True,
    ),
    Command(
        "modifier",
        ("edit",),
        Role.PROVIDER,
        "any",
        modifier,
        usage="n° <texte>",
        options=(Option("numero", "number", "integer", required=True), Option("texte", "text", required=True)),
        personal=True,
    ),
    Command(
        "supprimer",
        ("withdraw",),
        Role.PROVIDER,
        "any",
        supprimer,
        usage="n°",
        options=(Option("numero", "number", "integer", required=True),),
        personal=True,
    ),
    Command(
        "resolu",
        ("solved",),
        Role.PROVIDER,
        "any",
        resolu,
        menu=False,
        usage="n°",
        personal=True,
    ),
    Command(
        "garder",
        ("keep",),
        Role.PROVIDER,
        "any",
        garder,
        menu=False,
        usage="n°",
        personal=True,
    ),
    Command(
        "agenda",
        ("queue",),
        Role.STAFF,
        "any",
        agenda,
        usage="[n° séance]",
        options=(Option("seance", "session", "session"),),
        personal=True,
    ),
    Command(
        "repondu",
        ("answered",),
        Role.ANT,
        "any",
        repondu,
        usage="n° <note>",
        options=(Option("numero", "number", "integer", required=True), Option("note", "note", required=True)),
        personal=True,
    ),
    Command(
        "ecarter",
        ("dismiss",),
        Role.ANT,
        "any",
        ecarter,
        usage="n° <raison>",
        options=(Option("numero", "number", "integer", required=True), Option("raison", "reason", required=True)),
        personal=True,
    ),
    Command(
        "reporter",
        ("postpone",),
        Role.ANT,
        "any",
        reporter,
        usage="n° <n° séance>",
        options=(
            Option("numero", "number", "integer", required=True),
            Option("seance", "session", "session", required=True),
        ),
        personal=True,
    ),
    Command(
        "fusionner",
        ("merge",),
        Role.ANT,
        "any",
        fusionner,
        usage="n° n°",
        options=(
            Option("numero", "number", "integer", required=True),
            Option("dans", "into", "integer", required=True),
        ),
        personal=True,
    ),
    Command(
        "compte-rendu",
        ("report",),
        Role.ANT,
        "any",
        compte_rendu,
        usage="[n° séance]",
        options=(Option("seance", "session", "session"),),
    ),
]
