"""Le diagnostic numérique in chat: the questionnaire in private, the profile, the plan, the ANT's campaigns."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from bot import audit, clubs, dialogs, notify
from bot.commands import Command, Option
from bot.core import Ctx
from bot.diagnostic import campaign_of, observatory, runs, scoring
from bot.diagnostic.questionnaire import Question, Questionnaire
from bot.i18n import Safe, esc, t
from bot.messages import Button, Reply
from bot.roles import Role
from bot.storage.tables import DiagnosticCampaign, DiagnosticRun, Person, Session
from bot.timefmt import fmt_when

if TYPE_CHECKING:
    from bot.app import App

FLOW = "diagnostic"
_STOP_WORDS = {"pause", "stop", "plus tard", "later", "arreter", "arrêter"}


def _q(ctx: Ctx) -> Questionnaire:
    return ctx.app.questionnaire


def _campaign(ctx: Ctx) -> int:
    assert ctx.office is not None
    return campaign_of(ctx.now, clubs.zone_of(ctx.db, ctx.office.id))


def _reply(ctx: Ctx, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> list[Reply]:
    # The questionnaire is personal: typed in a group, it continues in private.
    return [Reply(Safe(text), buttons=buttons, private=not ctx.private)]


def _bar(percent: int) -> str:
    full = round(percent / 10)
    return "▓" * full + "░" * (10 - full)


# -- the questionnaire ----------------------------------------------------------------------------------


def _ask(ctx: Ctx, q: Questionnaire, question: Question, answered: int, intro: str = "") -> list[Reply]:
    axis = q.axis(question.axis)
    lines = [intro] if intro else []
    lines.append(
        ctx.t("diag.progress", n=answered + 1, total=len(q.questions), axis=axis.name(ctx.lang) if axis else "")
    )
    lines.append(f"<b>{esc(question.prompt(ctx.lang))}</b>")
    lines.append(ctx.t("diag.hint"))
    rows = tuple(
        (Button(f"{i}. {a.name(ctx.lang)}", f"/diag {question.id} {a.id}"),) for i, a in enumerate(question.answers, 1)
    )
    rows += ((Button(ctx.t("diag.button_later"), "/diagnostic pause"),),)
    if ctx.private:
        dialogs.save(ctx, FLOW, {"question": question.id})
    return _reply(ctx, "\n".join(lines), rows)


def diagnostic(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.person is not None and ctx.office is not None
    word = args.strip().lower()
    if word in ("pause", "plus-tard", "later"):
        dialogs.end(ctx, FLOW)
        return _reply(ctx, ctx.t("diag.paused"))
    if word not in ("", "refaire", "again"):
        return ctx.say("diag.usage")
    q = _q(ctx)
    done = runs.latest_run(ctx.db, ctx.person.id, completed=True)
    in_progress = runs.latest_run(ctx.db, ctx.person.id, completed=False)
    if in_progress is None and done is not None and done.campaign == _campaign(ctx) and word == "":
        text = ctx.t("diag.already_done") + "\n\n" + _profile(ctx, q, done)
        return _reply(ctx, text, ((Button(ctx.t("diag.button_again"), "/diagnostic refaire"),),))
    run, resumed = runs.start(ctx.db, ctx.person, _campaign(ctx), ctx.now)
    answers = runs.answers_of(ctx.db, run.id)
    question = runs.next_question(q, answers)
    if question is None:  # every question answered before a crash or an edit: finish now
        return _finish(ctx, q, run)
    intro = (
        ctx.t("diag.resume", n=len(answers) + 1, total=len(q.questions))
        if resumed
        else ctx.t("diag.intro", title=q.heading(ctx.lang), total=len(q.questions))
    )
    return _ask(ctx, q, question, len(answers), intro)


def answer(ctx: Ctx, args: str) -> list[Reply]:
    """`/diag QUESTION ANSWER`: what the answer buttons send."""
    assert ctx.person is not None
    parts = args.split()
    q = _q(ctx)
    question = q.question(parts[0]) if len(parts) == 2 else None
    choice = question.answer(parts[1]) if question is not None else None
    if question is None or choice is None:
        return ctx.say("diag.bad_answer")
    run = runs.latest_run(ctx.db, ctx.person.id, completed=False)
    if run is None:
        return _reply(ctx, ctx.t("diag.none_in_progress"))
    runs.record(ctx.db, run, question, choice.id, ctx.now)
    answers = runs.answers_of(ctx.db, run.id)
    following = runs.next_question(q, answers)
    if following is None:
        return _finish(ctx, q, run)
    return _ask(ctx, q, following, len(answers))


def on_text(ctx: Ctx, data: dict[str, Any], text: str) -> list[Reply] | None:
    """Typed answers: the number of an answer, or « pause ». Anything else goes to the tutorial base."""
    word = unicodedata.normalize("NFC", text.strip().lower().rstrip("."))
    if word in _STOP_WORDS:
        return diagnostic(ctx, "pause")
    question = _q(ctx).question(str(data.get("question", "")))
    if question is None or not (word.isascii() and word.isdigit() and len(word) <= 2):
        return None
    index = int(word)
    if not 1 <= index <= len(question.answers):
        return ctx.say("diag.bad_number", max=len(question.answers))
    return answer(ctx, f"{question.id} {question.answers[index - 1].id}")


def _finish(ctx: Ctx, q: Questionnaire, run: DiagnosticRun) -> list[Reply]:
    runs.complete(ctx.db, q, run, ctx.now)
    dialogs.end(ctx, FLOW)
    assert ctx.person is not None
    audit.record(
        ctx.db, ctx.now, "diagnostic.complete", actor=ctx.person, office_id=run.office_id, target=f"run:{run.id}"
    )
    text, buttons = _result(ctx, q, run)
    return _reply(ctx, ctx.t("diag.finished") + "\n\n" + text, buttons)


# -- the result -----------------------------------------------------------------------------------------


def _profile(ctx: Ctx, q: Questionnaire, run: DiagnosticRun) -> str:
    score = runs.run_scores(run)
    lines = [ctx.t("diag.profile_title", campaign=run.campaign)]
    for axis in q.axes:
        if axis.id in score:
            lines.append(
                ctx.t("diag.profile_line", bar=_bar(score[axis.id]), percent=score[axis.id], axis=axis.name(ctx.lang))
            )
    return "\n".join(lines)


def _normal(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def session_for_axis(db: Db, q: Questionnaire, office_id: str, axis_id: str, now: Any) -> Session | None:
    """The next workshop or Klub on the axis's theme (by its keywords), else the next Klub."""
    upcoming = [s for s in clubs.upcoming(db, office_id, now, limit=30, include_cancelled=False)]
    axis = q.axis(axis_id)
    words = [_normal(k) for k in (axis.keywords if axis else ())]
    themed = next((s for s in upcoming if any(w in _normal(s.title) for w in words)), None)
    return themed or next((s for s in upcoming if s.kind == "klub"), None)


def _result(ctx: Ctx, q: Questionnaire, run: DiagnosticRun) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    answers = runs.answers_of(ctx.db, run.id)
    score = runs.run_scores(run)
    lines = [_profile(ctx, q, run), ""]
    buttons: list[tuple[Button, ...]] = []
    top = scoring.priorities(q, answers, score)
    if not top:
        lines.append(ctx.t("diag.no_priority"))
    else:
        lines.append(ctx.t("diag.priorities_title", count=len(top)))
    for i, gap in enumerate(top, 1):
        lines.append(ctx.t("diag.priority_line", n=i, action=gap.question.action_text(ctx.lang)))
        row: list[Button] = []
        for tid in gap.question.tutorials[:2]:
            entry = ctx.app.faq.base.get(tid)
            if entry is not None:
                lines.append(ctx.t("diag.priority_tutorial", title=entry.question))
                if not row:
                    row.append(Button(ctx.t("diag.button_tutorial", n=i), f"/fiche {entry.id}"))
        assert ctx.office is not None
        session = session_for_axis(ctx.db, q, ctx.office.id, gap.question.axis, ctx.now)
        if session is not None:
            when = fmt_when(session.starts_at, clubs.zone_of(ctx.db, session.office_id), ctx.lang)
            lines.append(ctx.t("diag.priority_session", number=session.id, title=session.title, when=when))
            row.append(Button(ctx.t("diag.button_register", number=session.id), f"/inscrire {session.id}"))
        if row:
            buttons.append(tuple(row))
    lines += ["", ctx.t("diag.plan_hint")]
    return "\n".join(lines), tuple(buttons)


# -- the action plan ------------------------------------------------------------------------------------


def plan(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.person is not None
    q = _q(ctx)
    actions = runs.plan(ctx.db, ctx.person.id)
    if not actions:
        return _reply(ctx, ctx.t("diag.plan_empty"), ((Button(ctx.t("diag.button_start"), "/diagnostic"),),))
    todo = [a for a in actions if a.status == "open"]
    lines = [ctx.t("diag.plan_title", todo=len(todo), done=len(actions) - len(todo))]
    zone = clubs.zone_of(ctx.db, ctx.person.office_id)
    for action in actions:
        question = q.question(action.question_id)
        label = question.action_text(ctx.lang) if question else action.question_id
        if action.status == "open":
            lines.append(ctx.t("diag.plan_open", number=action.id, action=label))
        else:
            assert action.done_at is not None
            day = action.done_at.astimezone(zone).strftime("%d/%m/%Y")
            lines.append(
                ctx.t(f"diag.plan_done_{action.done_how or 'ticked'}", number=action.id, action=label, day=day)
            )
    rows = tuple((Button(ctx.t("diag.button_done", number=a.id), f"/fait {a.id}"),) for a in todo[:5])
    return _reply(ctx, "\n".join(lines), rows)


def fait(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.person is not None
    word = args.strip()
    if not (word.isascii() and word.isdigit() and len(word) <= 12):
        return _reply(ctx, ctx.t("diag.done_usage"))
    action = runs.tick(ctx.db, ctx.person.id, int(word), ctx.now)
    if action is None:
        return _reply(ctx, ctx.t("diag.done_unknown", number=word))
    question = _q(ctx).question(action.question_id)
    label = question.action_text(ctx.lang) if question else action.question_id
    return _reply(ctx, ctx.t("diag.done_ok", action=label))


# -- the ANT's campaigns --------------------------------------------------------------------------------


def _invite(app: App, person: Person, lang: str, key: str) -> Reply:
    q = app.questionnaire
    return Reply(
        t(lang, key, name=person.name.split(" ")[0], title=q.heading(lang), total=len(q.questions)),
        buttons=((Button(t(lang, "diag.button_start"), "/diagnostic"),),),
    )


def campagne(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    known = runs.categories(ctx.db, ctx.office.id)
    # « gîtes » finds the roster's « gite »: accents, case and a plural s do not matter.
    wanted = _normal(args.strip()).removesuffix("s")
    category = next((k for k in known if _normal(k).removesuffix("s") == wanted), args.strip()) if wanted else ""
    if category and category not in known:
        return ctx.say("diag.campaign_bad_category", category=category, known=", ".join(known) or "—")
    campaign = _campaign(ctx)
    people = runs.audience(ctx.db, ctx.office.id, category)
    sent = 0
    for person in people:
        if runs.finished(ctx.db, person.id, campaign):
            continue  # already done this year: no need to ask again
        lang = person.language or ctx.app.config.language
        sent += notify.to_person(ctx.app, person, _invite(ctx.app, person, lang, "diag.campaign_invite"))
    row = runs.open_campaign(ctx.db, ctx.office.id, campaign, category, ctx.person, sent, ctx.now)
    audit.record(
        ctx.db,
        ctx.now,
        "diagnostic.campaign",
        actor=ctx.person,
        office_id=ctx.office.id,
        target=f"campaign:{row.id}",
        detail=category,
    )
    who = ctx.t("diag.category_all") if not category else ctx.t("diag.category_one", category=category)
    return ctx.say("diag.campaign_sent", sent=sent, total=len(people), who=who)


def send_reminder(app: App, db: Db, campaign_id: int, now: Any) -> int:
    """Remind, once, those of a campaign who have not finished; the team group hears how many."""
    claimed = runs.claim_reminder(db, campaign_id, now)
    if claimed is None:
        return 0
    sent = 0
    for person in claimed.people:
        lang = person.language or app.config.language
        sent += notify.to_person(app, person, _invite(app, person, lang, "diag.reminder"))
    if not claimed.people:
        return 0  # everyone finished: nothing to remind, nothing to tell the team
    lang = app.config.language
    notify.to_groups(
        app,
        db,
        claimed.campaign.office_id,
        "equipe",
        Reply(t(lang, "diag.reminder_team", count=len(claimed.people), sent=sent)),
    )
    return sent


def relancer(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    latest = ctx.db.scalar(
        select(DiagnosticCampaign)
        .where(DiagnosticCampaign.office_id == ctx.office.id, DiagnosticCampaign.reminded_at.is_(None))
        .order_by(DiagnosticCampaign.id.desc())
        .limit(1)
    )
    if latest is None:
        return ctx.say("diag.remind_none")
    sent = send_reminder(ctx.app, ctx.db, latest.id, ctx.now)
    return ctx.say("diag.remind_done", sent=sent)


def observatoire(ctx: Ctx, args: str) -> list[Reply]:
    assert ctx.office is not None
    q = _q(ctx)
    campaign = _campaign(ctx)
    people = observatory.respondents(ctx.db, [ctx.office.id], campaign)
    total = observatory.population(ctx.db, [ctx.office.id])
    rate = round(100 * len(people) / total) if total else 0
    lines = [ctx.t("diag.obs_title", campaign=campaign, answered=len(people), total=total, rate=rate)]
    if people:
        for row in observatory.figures(q, observatory.answer_counts(ctx.db, [ctx.office.id], campaign)):
            if row.answered:
                lines.append(
                    ctx.t(
                        "diag.obs_figure", percent=row.percent, label=row.figure.name(ctx.lang), answered=row.answered
                    )
                )
        for weak in observatory.weak_axes(q, people)[:3]:
            lines.append(ctx.t("diag.obs_weak", count=weak.count, axis=weak.axis.name(ctx.lang)))
    # Aggregates only, but they are the office's: in the providers' group they go to the speaker in private.
    private = ctx.group is not None and ctx.group.kind != "equipe"
    return [Reply(Safe("\n".join(lines)), private=private)]


COMMANDS = [
    Command(
        "diagnostic",
        ("checkup",),
        Role.PROVIDER,
        "any",
        diagnostic,
        usage="[refaire|pause]",
        options=(Option("choix", "choice"),),
        personal=True,
    ),
    Command("diag", ("diag-answer",), Role.PROVIDER, "any", answer, menu=False, personal=True),
    Command("plan", ("actions",), Role.PROVIDER, "any", plan, personal=True),
    Command(
        "fait",
        ("done",),
        Role.PROVIDER,
        "any",
        fait,
        menu=False,
        usage="n°",
        options=(Option("action", "action", kind="integer", required=True),),
        personal=True,
    ),
    Command(
        "campagne",
        ("campaign",),
        Role.ANT,
        "any",
        campagne,
        usage="[catégorie]",
        options=(Option("categorie", "category"),),
    ),
    Command("relancer", ("remind",), Role.ANT, "any", relancer),
    Command("observatoire", ("observatory",), Role.STAFF, "any", observatoire, personal=True),
]
