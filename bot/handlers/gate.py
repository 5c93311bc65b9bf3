"""Gate commands: /start CODE (redeem), /inviter (create an invite), /retirer (revoke access)."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

from bot import gate, membership
from bot.commands import Command, Option
from bot.config import parse_duration
from bot.core import Ctx
from bot.i18n import Safe, pick_language, t
from bot.messages import GateReply, Reply
from bot.roles import Role
from bot.storage.tables import Office, Person


def redeem(ctx: Ctx, args: str) -> list[Reply]:
    """`/start CODE`: what a Telegram deep link sends. Also the body of Discord's /verifier."""
    if not ctx.private:
        # Not consumed: the code stays valid, but it should not travel through groups.
        return ctx.say("gate.code_in_private")
    user = ctx.incoming.user
    result = gate.redeem(ctx.db, user.platform, user.user_id, args.split()[0], ctx.now)
    if result.outcome == "rate_limited":
        assert result.retry_at is not None
        minutes = max(1, math.ceil((result.retry_at - ctx.now).total_seconds() / 60))
        return ctx.say("gate.rate_limited", minutes=minutes)
    if result.outcome == "other_account":
        assert result.person is not None
        return ctx.say("gate.other_account", name=result.person.name)
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


def inviter(ctx: Ctx, args: str) -> list[Reply]:
    refusal = _place(ctx)
    if refusal is not None:
        return refusal
    parts = args.split()
    if not parts or len(parts) > 2:
        return ctx.say("gate.inviter_usage")
    days = gate.DEFAULT_DAYS
    if len(parts) == 2:
        try:
            days = parse_duration(parts[1]).days
        except ValueError:
            return ctx.say("gate.inviter_usage")
    person, refusal = _target(ctx, parts[0])
    if refusal is not None:
        return refusal
    assert person is not None
    if not person.active and ctx.role < Role.ANT:
        return ctx.say("gate.inactive_needs_ant", name=person.name)
    try:
        new = gate.create_invite(ctx.db, person=person, now=ctx.now, created_by=ctx.person, days=days)
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
    refusal = _place(ctx)
    if refusal is not None:
        return refusal
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
    result = gate.revoke(ctx.db, person=person, now=ctx.now, platforms=ctx.app.platforms, actor=ctx.person)
    for action in result.removals:
        ctx.app.outbox.put(action.to_out())
    done = ctx.t("gate.revoked" if result.was_active else "gate.revoked_again", name=person.name)
    then = ctx.t("gate.removals", chats=result.chats) if result.chats else ctx.t("gate.no_removals")
    return [Reply(Safe(f"{done} {then}"))]


def _place(ctx: Ctx) -> list[Reply] | None:
    """Roster work happens in the équipe group or in private, never in front of the providers."""
    if ctx.group is not None and ctx.group.kind != "equipe":
        return ctx.say("gate.equipe_only")
    return None


def _target(ctx: Ctx, slug: str) -> tuple[Person | None, list[Reply] | None]:
    person = membership.person_by_slug(ctx.db, slug.lower())
    if person is None or person.erased_at is not None:
        return None, ctx.say("gate.no_such_person", slug=slug)
    if ctx.office is not None and person.office_id != ctx.office.id and ctx.role < Role.ADMIN:
        return None, ctx.say("gate.other_office_person", name=person.name)
    return person, None


COMMANDS = [
    Command(
        "inviter",
        ("invite",),
        Role.STAFF,
        "any",
        inviter,
        usage="<personne> [7j]",
        options=(Option("personne", "person", required=True), Option("duree", "duration")),
    ),
    Command(
        "retirer",
        ("revoke",),
        Role.ANT,
        "any",
        retirer,
        usage="<personne>",
        options=(Option("personne", "person", required=True),),
        personal=True,
    ),
]
