"""Commands every deployment has: /aide, /start, /langue."""

from __future__ import annotations

from bot.commands import Command, Option
from bot.core import Ctx
from bot.handlers import gate as gate_handlers
from bot.i18n import LANGUAGES, Safe
from bot.messages import Reply
from bot.roles import Role


def aide(ctx: Ctx, args: str) -> list[Reply]:
    table = ctx.app.core.table
    lines: list[str] = [ctx.t("help.title")]
    for cmd in table.visible(ctx.role, ctx.private, ctx.group.kind if ctx.group else None):
        # The hint in the reader's language: English readers get "#" and "<text>", not "n°" and "<texte>".
        usage = " " + ctx.t(f"usage.{cmd.name}") if cmd.usage else ""
        # English speakers see the English alias: /next rather than /prochain (both work).
        name = cmd.english if ctx.lang == "en" else cmd.name
        lines.append(ctx.t("help.line", name=name, usage=usage, description=ctx.t(cmd.description_key)))
    lines.append("")
    lines.append(ctx.t("help.footer_private" if ctx.private else "help.footer_group"))
    if ctx.role == Role.GUEST:
        lines.append(ctx.t("core.not_member"))
    return [Reply(Safe("\n".join(lines)))]


def start(ctx: Ctx, args: str) -> list[Reply]:
    if args.strip():
        return gate_handlers.redeem(ctx, args)  # `/start CODE`: a Telegram invite deep link
    if ctx.person is not None and ctx.role > Role.GUEST:
        return ctx.say("start.welcome_member", name=ctx.person.name.split(" ")[0])
    return ctx.say("start.welcome_guest")


def langue(ctx: Ctx, args: str) -> list[Reply]:
    choice = args.strip().lower()
    if choice not in LANGUAGES:
        return ctx.say("langue.usage")
    assert ctx.person is not None  # min_role PROVIDER guarantees a roster entry
    ctx.person.language = choice
    ctx.lang = choice
    return ctx.say("langue.done")


COMMANDS = [
    Command("aide", ("help",), Role.GUEST, "any", aide, personal=True),
    Command(
        "start",
        ("demarrer",),
        Role.GUEST,
        "any",
        start,
        menu=False,
        options=(Option("code", "code"),),
        personal=True,
    ),
    Command(
        "langue",
        ("language", "lang"),
        Role.PROVIDER,
        "any",
        langue,
        usage="fr|en",
        options=(Option("langue", "language"),),
        personal=True,
    ),
]
