"""Gate commands: /start CODE (redeem), /inviter (create an invite), /retirer (revoke access)."""

from __future__ import annotations

import math
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot import gate, inputs, membership, notify
from bot.commands import Command, Option
from bot.core import Ctx
from bot.handlers.clubs import tell_promoted
from bot.i18n import Safe, pick_language, t
from bot.messages import ChatRef, GateReply, OutMessage, Reply
from bot.roles import Role
from bot.storage.tables import Office, Person


def redeem(ctx: Ctx, args: str) -> list[Reply]:
    """`/start CODE`: what a Telegram deep link sends. Also the body of Discord's /verifier."""
    if not ctx.private:
        # Not consumed: the code stays valid, but it should not travel through groups.
        return ctx.say("gate.code_in_private")
    user = ctx.incoming.user
    # The whole argument: a code read aloud gets typed with spaces (« ABCD EFGH JKMN »).
    result = gate.redeem(ctx.db, user.platform, user.user_id, args, ctx.now)
    if result.outcome == "rate_limited":
        assert result.retry_at is not None
        minutes = max(1, math.ceil((result.retry_at - ctx.now).total_seconds() / 60))
        return ctx.say("gate.rate_limited", minutes=minutes)
    if result.outcome == "other_account":
        assert result.person is not None
        return ctx.say("gate.other_account", name=result.person.name)
    if result.outcome == "pending":
        assert result.person is not None
        _ask_confirmation(ctx, result.person)
        return ctx.say("gate.pending_confirmation")
    if result.outcome == "malformed":
        typed = gate.normalise_code(args)
        strange = sorted({c for c in typed if c not in gate.ALPHABET})
        if strange:
            return ctx.say("gate.code_bad_characters", characters=" ".join(strange))
        return ctx.say("gate.code_malformed", length=len(typed), expected=gate.CODE_LENGTH)
    if result.outcome != "linked":
        return ctx.say(f"gate.code_{result.outcome}")
    person = result.person
    assert person is not None
    office = ctx.db.get(Office, person.office_id)
    lang = pick_language(person.language, user.language, office.language if office else None, ctx.app.config.language)
    links = gate.join_links(ctx.db, person, user.platform, lang)
    office_name = office.name if office is not None else person.office_id
    text = t(lang, "gate.linked", name=person.name.split(" ")[0], office=office_name)
    if links and user.platform == "discord":
        # Discord opens the channels at once (the adapter grants their roles): nothing to tap.
        names = [g.title or g.kind for g in gate.join_groups(ctx.db, person, user.platform)]
        follow = t(lang, "gate.linked_roles", groups=", ".join(f"« {name} »" for name in names))
    else:
        follow = t(lang, "gate.linked_join" if links else "gate.linked_no_join")
    return [GateReply(f"{text}\n\n{follow}", join_links=links)]


def _ask_confirmation(ctx: Ctx, person: Person) -> None:
    """Tell the office's staff group that an account waits to replace this person's account."""
    lang = ctx.app.config.language
    invite = gate.pending_invite(ctx.db, person)
    if invite is None:
        return
    account = invite.pending_by or ""
    text = t(lang, "gate.confirm_request", name=person.name, slug=person.slug, account=account, number=invite.id)
    notify.to_groups(ctx.app, ctx.db, person.office_id, "equipe", Reply(text))


def inviter(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    if not parts or len(parts) > 2:
        return ctx.say("gate.inviter_usage")
    days = gate.DEFAULT_DAYS
    if len(parts) == 2:
        try:
            days = inputs.parse_duration(parts[1], low=timedelta(days=1), high=timedelta(days=gate.MAX_DAYS)).days
        except inputs.InputError:
            return ctx.say("gate.bad_days", max=gate.MAX_DAYS)
    person, refusal = _target(ctx, parts[0])
    if refusal is not None:
        return refusal
    assert person is not None
    try:
        new = gate.create_invite(ctx.db, person=person, now=ctx.now, created_by=ctx.person, days=days, as_role=ctx.role)
    except gate.GateError as exc:
        return ctx.say(exc.key, **exc.kwargs)
    zone = ZoneInfo(ctx.office.timezone if ctx.office else "Europe/Paris")
    expires = new.invite.expires_at.astimezone(zone)
    private = GateReply(
        ctx.t(
            "gate.invite_created",
            name=person.name,
            slug=person.slug,
            code=gate.format_code(new.code),
            raw=new.code,
            date=expires.strftime("%d/%m/%Y"),
            time=expires.strftime("%H:%M"),
        ),
        private=True,
        invite_code=new.code,
        invite_link_label=ctx.t("gate.invite_link_label"),
    )
    if ctx.private:
        return [private]
    # The code goes to the asker in private: anyone reading the group could otherwise use it.
    return [Reply(ctx.t("gate.invite_sent_private", name=person.name)), private]


def retirer(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split()
    if len(parts) != 1:
        return ctx.say("gate.retirer_usage")
    person, refusal = _target(ctx, parts[0])
    if refusal is not None:
        return refusal
    assert person is not None and ctx.person is not None
    if person.id == ctx.person.id:
        return ctx.say("gate.revoke_self")
    if Role.parse(person.role) >= ctx.role and ctx.role < Role.ADMIN:
        return ctx.say("gate.revoke_higher", name=person.name)
    result = gate.revoke(ctx.db, person=person, now=ctx.now, platforms=ctx.app.reach, actor=ctx.person)
    for action in result.removals:
        ctx.app.outbox.put(action.to_out())
    for session, promoted in result.promoted:
        tell_promoted(ctx.app, ctx.db, session, promoted)
    if result.promoted:
        ctx.app.core.after_commit(ctx.app.reminders.invalidate)
    done = ctx.t("gate.revoked" if result.was_active else "gate.revoked_again", name=person.name)
    then = ctx.t("gate.removals", chats=result.chats) if result.chats else ctx.t("gate.no_removals")
    return [Reply(Safe(f"{done} {then}"))]


def confirmer(ctx: Ctx, args: str) -> list[Reply]:
    """`/confirmer N`: the account waiting on invitation N replaces the entry's account on its platform."""
    parts = args.split()
    number = inputs.maybe_number(parts[0]) if len(parts) == 1 else None
    if number is None:
        return ctx.say("gate.confirm_usage")
    assert ctx.person is not None
    try:
        done = gate.confirm(
            ctx.db, invite_id=number, offices=set(ctx.scope), now=ctx.now, actor=ctx.person, platforms=ctx.app.reach
        )
    except gate.GateError as exc:
        return ctx.say(exc.key, **exc.kwargs)
    person = done.person
    lang = person.language or ctx.app.config.language
    platform, _, new_id = done.account.partition(":")
    for old_id in done.unlinked:
        # The old account hears it was unlinked: if it was not its owner's wish, they know whom to call.
        ctx.app.outbox.put(OutMessage(ChatRef(platform, old_id, private=True), Reply(t(lang, "gate.unlinked_notice"))))
    ctx.app.outbox.put(OutMessage(ChatRef(platform, new_id, private=True), Reply(t(lang, "gate.confirmed_notice"))))
    for action in done.removals:
        ctx.app.outbox.put(action.to_out())
    return ctx.say("gate.confirmed", name=person.name, count=len(done.unlinked))


def _target(ctx: Ctx, slug: str) -> tuple[Person | None, list[Reply] | None]:
    """A roster entry of an office within reach; any other answers « not found », naming nobody."""
    person = membership.person_by_slug(ctx.db, slug.lower()[:64])
    if person is None or person.erased_at is not None or person.office_id not in ctx.scope:
        return None, ctx.say("gate.no_such_person", slug=slug[:64])
    return person, None


COMMANDS = [
    Command(
        "inviter",
        ("invite",),
        Role.ANT,
        "equipe",
        inviter,
        usage="<personne> [7j]",
        options=(Option("personne", "person", required=True), Option("duree", "duration")),
    ),
    Command(
        "retirer",
        ("revoke",),
        Role.ANT,
        "equipe",
        retirer,
        usage="<personne>",
        options=(Option("personne", "person", required=True),),
        personal=True,
    ),
    Command(
        "confirmer",
        ("confirm",),
        Role.ANT,
        "equipe",
        confirmer,
        usage="n° d'invitation",
        options=(Option("invitation", "invitation", kind="integer", required=True),),
    ),
]
