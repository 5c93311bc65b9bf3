"""`/etape VALUE`: what the buttons of a guided dialogue send — the same as typing VALUE."""

from __future__ import annotations

from bot import dialogs
from bot.commands import Command
from bot.core import Ctx
from bot.messages import Reply
from bot.roles import Role


def etape(ctx: Ctx, args: str) -> list[Reply]:
    replies = dialogs.feed(ctx, ctx.app.flows, args.strip())
    return ctx.say("guide.none_open") if replies is None else replies


COMMANDS = [Command("etape", ("step",), Role.PROVIDER, "any", etape, menu=False, personal=True)]
