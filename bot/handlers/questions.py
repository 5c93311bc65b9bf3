"""Questions in advance for the next Klub: ask, vote, edit, withdraw; the ANT's agenda and report."""

from __future__ import annotations

from sqlalchemy import select

from bot import clubs, evening, inputs, notify, questions
from bot.commands import Command, Option
from bot.core import Ctx
from bot.handlers.faq import _chat_kind, in_french_note
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
    return inputs.maybe_number(word)


def _offices(ctx: Ctx) -> set[str]:
    # In a group, the chat's office only; in private, the speaker's (a coordinator's: the territory).
    if ctx.role >= Role.STAFF:
        return set(ctx.scope)
    return {ctx.office.id} & set(ctx.scope) if ctx.office else set()


def _visible(ctx: Ctx, q: Question) -> bool:
    """Providers see the Klub's agenda and their own questions; what others wrote in private is not theirs."""
    if questions.is_public(q) or ctx.role >= Role.STAFF:
        return True
    return ctx.person is not None and q.person_id == ctx.person.id


def _get(ctx: Ctx, number: int) -> Question:
    q = questions.get(ctx.db, _offices(ctx), number)
    if not _visible(ctx, q):
        raise QuestionError("question.unknown", number=number)
    return q


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


def _question_args(ctx: Ctx, args: str) -> tuple[bool, Session | None, str] | list[Reply]:
    """`[anonyme] [N] texte` in either order of the first two words: (anonymous, named session, text)."""
    words = args.strip().split(" ")
    anonymous, number, marked, typed = False, None, False, ""
    for _ in range(2):
        if words and words[0].lower() in ANON_WORDS and not anonymous:
            anonymous, words = True, words[1:]
        elif words and number is None and _number(words[0]) is not None:
            marked = not words[0].isdigit()  # « n°12 », « #12 »: certainly a session
            number, typed, words = _number(words[0]), words[0], words[1:]
    if number is None:
        return anonymous, None, " ".join(words)
    assert ctx.office is not None
    session = clubs.find(ctx.db, ctx.office.id, number, clubs.audiences_for(ctx.role >= Role.STAFF))
    open_ = session is not None and session.status != "cancelled" and session.starts_at > ctx.now
    if not open_ and not marked and words:
        # « /question 3 astuces pour Instagram ? »: a bare number that is no session to come is text.
        return anonymous, None, " ".join([typed, *words])
    text = " ".join(words)
    if session is None:
        return ctx.say("klub.unknown", number=number)
    if not open_:
        return ctx.say("question.session_closed", number=number)
    if not text.strip():
        return ctx.say("question.usage_for_session", number=number, title=session.title)
    return anonymous, session, text


def question(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None and ctx.person is not None
    parsed = _question_args(ctx, args)
    if isinstance(parsed, list):
        return parsed
    anonymous, named, text = parsed
    if inputs.is_blank(text):
        return ctx.say("question.usage", limit=questions.MAX_LENGTH)
    try:
        text = questions.check_text(text)
    except QuestionError as exc:
        return _fail(ctx, exc)
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
            score=best.score if best else None,
            session=named,
        )
    except QuestionError as exc:
        return _fail(ctx, exc)
    ctx.db.flush()
    # Stored first; everything below only adds help around the acknowledgement.
    ack = ctx.t("question.recorded", number=q.id, session=_session_label(ctx, q.session_id))
    if anonymous:
        # Typed in a group, everyone just saw who asked: say so, rather than promise what is already lost.
        # (Where the platform keeps the exchange to the asker, e.g. a Discord command, nobody saw it.)
        seen = not ctx.private and not ctx.incoming.hides_personal
        key = "question.anonymous_seen_in_group" if seen else "question.recorded_anonymous"
        ack = Safe(ack + " " + ctx.t(key))
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
        # Logged as the proposed tutorial only now that it is shown.
        q.matched_entry, q.theme = best.entry.id, best.entry.theme
        body = Safe(in_french_note(ctx) + faq.render(best.entry, ctx.lang))
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
        q = _get(ctx, number)
        assert ctx.person is not None
        questions.can_change(q, ctx.person, ctx.now, ctx.db, ctx.linked_since)
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
        q = _get(ctx, number)
        if not questions.is_public(q):
            raise QuestionError("question.unknown", number=number)  # only the Klub's agenda is voted on
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
    query = select(Question).where(Question.person_id == ctx.person.id)
    if ctx.linked_since is not None:
        # A newly linked account does not inherit what was asked from an earlier one.
        query = query.where(Question.created_at >= ctx.linked_since)
    rows = list(ctx.db.scalars(query.order_by(Question.id)))
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
    session = clubs.next_klub(ctx.db, ctx.office.id, ctx.now)
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
        return clubs.next_klub(ctx.db, ctx.office.id, ctx.now)
    number = _number(word)
    audiences = clubs.audiences_for(ctx.role >= Role.STAFF and not ctx.providers_chat)
    found = clubs.find(ctx.db, ctx.office.id, number, audiences) if number is not None else None
    return found if found is not None else ctx.say("klub.unknown", number=word[:40])


def agenda(ctx: Ctx, args: str) -> list[Reply]:
    session = _session_arg(ctx, args.strip())
    if isinstance(session, list):
        return session
    # Anonymous askers and private questions are shown in private only: a group sees the public agenda.
    return [Reply(_agenda_text(ctx, session, reveal=ctx.private))]


def _ant_target(ctx: Ctx, args: str) -> tuple[Question, str] | list[Reply]:
    word, _, rest = args.strip().partition(" ")
    number = _number(word) if word else None
    if number is None:
        return ctx.say("question.need_number")
    try:
        return _get(ctx, number), rest.strip()
    except QuestionError as exc:
        return _fail(ctx, exc)


def repondu(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, note = target
    if inputs.is_blank(note):
        return ctx.say("question.answer_usage")
    questions.set_status(ctx.db, q, "answered_klub", ctx.now, ctx.person, note=" ".join(note.split())[:2000])
    return ctx.say("question.answered", number=q.id)


def ecarter(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, reason = target
    if inputs.is_blank(reason):
        return ctx.say("question.dismiss_usage")
    questions.set_status(ctx.db, q, "dismissed", ctx.now, ctx.person, reason=" ".join(reason.split())[:300])
    return ctx.say("question.dismissed", number=q.id)


def reporter(ctx: Ctx, args: str) -> list[Reply]:
    target = _ant_target(ctx, args)
    if isinstance(target, list):
        return target
    q, rest = target
    session = _session_arg(ctx, rest) if rest else None
    if isinstance(session, list):
        return session
    if session is None:
        return ctx.say("question.move_usage")
    try:
        evening.postpone(ctx.db, q, session, ctx.now, ctx.person)
    except evening.EveningError as exc:
        return ctx.say(exc.key, **exc.kwargs)
    return ctx.say("question.moved", number=q.id, session=_session_label(ctx, session.id))


def fusionner(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    numbers = [_number(p) for p in parts]
    if len(parts) != 2 or None in numbers:
        return ctx.say("question.merge_usage")
    try:
        source = _get(ctx, numbers[0] or 0)
        target = _get(ctx, numbers[1] or 0)
        questions.merge(ctx.db, source, target, ctx.now, ctx.person)
    except QuestionError as exc:
        return _fail(ctx, exc)
    return ctx.say("question.merged", source=source.id, target=target.id, votes=questions.votes(ctx.db, target.id))


def compte_rendu(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    word = args.strip()
    session = _session_arg(ctx, word) if word else evening.last_session(ctx.db, ctx.office.id, ctx.now)
    if isinstance(session, list):
        return session
    if session is None:
        return ctx.say("question.report_no_session")
    office_id = ctx.office.id

    def send(text: Safe) -> int:
        return notify.to_groups(ctx.app, ctx.db, office_id, "prestataires", Reply(text))

    try:
        count, sent = evening.publish_report(ctx.db, session, ctx.app.config.language, ctx.now, ctx.person, send)
    except evening.EveningError:
        return ctx.say("question.report_empty", session=_session_label(ctx, session.id))
    return ctx.say("question.report_sent", count=count, groups=sent, session=_session_label(ctx, session.id))


COMMANDS = [
    Command(
        "question",
        ("ask",),
        Role.PROVIDER,
        "any",
        question,
        usage="[anonyme] [n° séance] <texte>",
        # A session is named inside the text (« n°12 … »): Discord puts required options first, and the
        # text form wants the number before the question.
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
        private_list=True,
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
