"""The tutorial base in chat: /faq, a mention, free text in private; feedback; honest misses."""

from __future__ import annotations

from sqlalchemy import select

from bot import clubs, inputs, membership, notify, questions
from bot.commands import Command, Option
from bot.core import Ctx
from bot.faq.matcher import MatchResult
from bot.faq.message import QUESTION
from bot.i18n import Safe, esc
from bot.messages import Button, Reply
from bot.roles import Role
from bot.storage.tables import FaqFeedback, Question


def _chat_kind(ctx: Ctx) -> str:
    return "prive" if ctx.private else (ctx.group.kind if ctx.group else "")


TUTORIAL_LANGUAGE = "fr"  # the tutorial base is written in French


def in_french_note(ctx: Ctx) -> str:
    """One line before a tutorial for someone who reads another language: it is in French, on purpose."""
    return ctx.t("faq.in_french_note") + "\n" if ctx.lang != TUTORIAL_LANGUAGE else ""


def answer_entry(ctx: Ctx, result: MatchResult, text: str) -> list[Reply]:
    """Show the best entry with its links and the « Utile ? » buttons; the feedback row is kept."""
    best = result.best
    assert best is not None
    fb = FaqFeedback(
        office_id=ctx.office.id if ctx.office else None,
        person_id=ctx.person.id if ctx.person else None,
        entry_id=best.entry.id,
        query=text[:2000],
        score=best.score,
        useful=None,
        at=ctx.now,
    )
    ctx.db.add(fb)
    ctx.db.flush()
    note = in_french_note(ctx)
    if not note and result.english:
        # The base is French: an English question gets the French tutorial, and one English line saying so.
        note = ctx.app_t("en", "faq.in_french") + "\n"
    body = Safe(note + ctx.app.faq.render(best.entry, ctx.lang))
    buttons = (
        (Button(ctx.t("faq.useful_yes"), f"/utile {fb.id} oui"), Button(ctx.t("faq.useful_no"), f"/utile {fb.id} non")),
    )
    return [Reply(Safe(body + "\n\n" + ctx.t("faq.useful_question")), buttons=buttons)]


def suggest(ctx: Ctx, result: MatchResult) -> list[Reply]:
    rows = tuple((Button(c.entry.question[:60], f"/fiche {c.entry.id}"),) for c in result.suggestions[:3])
    lines = [ctx.t("faq.did_you_mean")] + [f"• {esc(c.entry.question)}" for c in result.suggestions[:3]]
    return [Reply(Safe("\n".join(lines)), buttons=rows)]


def hand_over(ctx: Ctx, text: str, source: str, result: MatchResult | None) -> Question | None:
    """Log the question for the ANT and tell the équipe group; nothing is lost even if no one reads it."""
    if ctx.office is None:
        return None
    # The log's "proposed tutorial" is one that was shown. A miss names none; nor does a hesitation,
    # where only « Vouliez-vous dire… » titles were offered. Its score is kept (how close the base came).
    best = result.best if result else None
    shown = best if source not in ("faq_miss", "low_confidence") else None
    q = questions.create(
        ctx.db,
        ctx.office.id,
        ctx.person,
        text[: questions.MAX_LENGTH],
        source,
        ctx.now,
        platform=ctx.incoming.chat.platform,
        chat_kind=_chat_kind(ctx),
        entry=shown.entry.id if shown else None,
        score=best.score if best and source != "faq_miss" else None,
        theme=shown.entry.theme if shown else None,
    )
    who = (
        f"{ctx.person.name} ({ctx.person.business})"
        if ctx.person and ctx.person.business
        else (ctx.person.name if ctx.person else "?")
    )
    lang = clubs.group_language(ctx.db, ctx.office.id, ctx.app.config.language)

    def notice(lang: str) -> Reply:
        return Reply(ctx.app_t(lang, f"faq.handover_{source}", who=who, text=q.text, number=q.id))

    if not ctx.private:
        notify.to_groups(ctx.app, ctx.db, ctx.office.id, "equipe", notice(lang))
        return q
    # Asked in private: the text goes to the office's animateurs in private (each in their language),
    # never to a group.
    ants = membership.office_people(ctx.db, ctx.office.id, "ant")
    told = sum(notify.to_person(ctx.app, ant, notice(ant.language or lang)) for ant in ants)
    if not told:
        generic = Reply(ctx.app_t(lang, "faq.handover_private", number=q.id))
        notify.to_groups(ctx.app, ctx.db, ctx.office.id, "equipe", generic)
    return q


def ask(ctx: Ctx, text: str, *, unprompted: bool = False) -> list[Reply]:
    text = text.strip()
    if inputs.is_blank(text):
        return [] if unprompted else ctx.say("faq.empty")
    faq = ctx.app.faq
    result = faq.match(text)
    best = result.best
    if result.kind != QUESTION:
        # Greetings, thanks, small talk: a short friendly line when spoken to, silence in a group; no tutorial.
        if unprompted:
            return []
        lang = "en" if result.english else ctx.lang
        return [Reply(ctx.app_t(lang, f"faq.smalltalk_{result.kind}"))]
    if unprompted:
        # In a group, speak up on our own only when sure, and only to something that is a question.
        if best is not None and best.score >= faq.group_threshold and not result.suggestions:
            from bot.faqchat import looks_like_a_question

            if looks_like_a_question(text):
                return answer_entry(ctx, result, text)
        return []
    if result.answered and not result.suggestions:
        return answer_entry(ctx, result, text)
    if result.suggestions:
        hand_over(ctx, text, "low_confidence", result)
        return suggest(ctx, result)
    q = hand_over(ctx, text, "faq_miss", result)
    if q is None:
        return ctx.say("faq.miss_no_office")
    return ctx.say("faq.miss", number=q.id)


def faq_command(ctx: Ctx, args: str) -> list[Reply]:
    if not args.strip():
        return ctx.say("faq.usage")
    return ask(ctx, args)


def fiche(ctx: Ctx, args: str) -> list[Reply]:
    entry = ctx.app.faq.base.get(args.strip())
    if entry is None:
        return ctx.say("faq.unknown_entry", id=args.strip())
    result = ctx.app.faq.match(entry.question)
    from bot.faq.matcher import Candidate, MatchResult

    forced = MatchResult(
        query=entry.question, candidates=(Candidate(entry, 1.0), *result.candidates[1:]), threshold=result.threshold
    )
    return answer_entry(ctx, forced, f"[choix] {entry.question}")


def utile(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    number = inputs.maybe_number(parts[0]) if parts else None
    if len(parts) != 2 or number is None or parts[1].lower() not in ("oui", "non", "yes", "no"):
        return ctx.say("faq.feedback_usage")
    fb = ctx.db.get(FaqFeedback, number)
    if fb is None or ctx.person is None or fb.person_id != ctx.person.id:
        return ctx.say("faq.feedback_unknown")
    useful = parts[1].lower() in ("oui", "yes")
    if fb.useful is not None:
        return ctx.say("faq.feedback_already")
    fb.useful = useful
    if useful:
        return ctx.say("faq.feedback_thanks")
    exists = ctx.db.scalar(
        select(Question.id).where(
            Question.source == "not_useful", Question.text == fb.query[:1000], Question.person_id == fb.person_id
        )
    )
    if exists is None and not fb.query.startswith("[choix]"):
        q = hand_over(ctx, fb.query, "not_useful", None)
        if q is not None:
            q.matched_entry, q.match_score = fb.entry_id, fb.score
            return ctx.say("faq.feedback_handed", number=q.id)
    return ctx.say("faq.feedback_noted")


def free_text(ctx: Ctx, text: str) -> list[Reply]:
    """Free text: in private it is a question; in a group, only a mention or a sure answer."""
    if ctx.role == Role.GUEST:
        return ctx.say("core.not_member") if ctx.private else []
    if ctx.private or ctx.incoming.mentions_bot:
        return ask(ctx, _strip_mention(text))
    return ask(ctx, text, unprompted=True)


def _strip_mention(text: str) -> str:
    return " ".join(w for w in text.split() if not w.startswith("@"))


COMMANDS = [
    Command(
        "faq",
        ("q",),
        Role.PROVIDER,
        "any",
        faq_command,
        usage="<question>",
        options=(Option("question", "question", required=True),),
        en="faq",
    ),
    Command("fiche", ("entry",), Role.PROVIDER, "any", fiche, menu=False, usage="<id>"),
    Command("utile", ("useful",), Role.PROVIDER, "any", utile, menu=False),
]
