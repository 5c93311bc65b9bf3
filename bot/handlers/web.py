"""/tableau (/dashboard): a one-time login link to the office's web dashboard, in private chat only."""

from __future__ import annotations

from bot import audit
from bot.commands import Command
from bot.core import Ctx
from bot.messages import Reply
from bot.roles import Role
from bot.web import auth


def tableau(ctx: Ctx, args: str) -> list[Reply]:
    if not ctx.app.config.web.enabled:
        return ctx.say("web.disabled")
    assert ctx.person is not None  # min_role STAFF guarantees a roster entry
    url = auth.issue_link(ctx.db, ctx.person, ctx.now, ctx.app.config.web)
    audit.record(ctx.db, ctx.now, "web.link", actor=ctx.person, office_id=ctx.person.office_id)
    return ctx.say("web.link", url=url, minutes=int(auth.LINK_TTL.total_seconds() // 60))


COMMANDS = [Command("tableau", ("dashboard",), Role.STAFF, "private", tableau, personal=True)]
