"""Core.handle: one incoming message in, the replies out. Routes commands and free text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot import inputs, membership
from bot.commands import Command, CommandTable
from bot.i18n import Safe, pick_language, t
from bot.messages import Incoming, Reply
from bot.roles import Role
from bot.storage.tables import Group, Office, Person

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer messages are refused with a clear answer rather than half-processed
_COMMAND = re.compile(r"^/([^\s@/]+)(?:@(\S*))?(?:\s+(.*))?$", re.DOTALL)


@dataclass
class Ctx:
    """Everything a handler needs about the message being handled."""

    app: App
    db: Session
    incoming: Incoming
    person: Person | None
    role: Role
    office: Office | None
    group: Group | None
    lang: str
    now: datetime
    # The offices whose sessions, questions and people may be acted on from here: the chat's office in
    # a group; in private the speaker's office, or every office of a coordinator's territory.
    scope: frozenset[str] = frozenset()
    foreign: bool = False  # speaking in a group of an office that is not theirs
    linked_since: datetime | None = None  # when the speaking account was linked to its roster entry

    @property
    def private(self) -> bool:
        return self.incoming.chat.private

    @property
    def providers_chat(self) -> bool:
        """The providers' group: staff-only sessions and anyone's private questions never show here."""
        return self.group is not None and self.group.kind == "prestataires"

    def t(self, key: str, **kwargs: object) -> Safe:
        return t(self.lang, key, **kwargs)

    def app_t(self, lang: str, key: str, **kwargs: object) -> Safe:
        """For messages to other people (a group, the ANT): their language, not the speaker's."""
        return t(lang, key, **kwargs)

    def say(self, key: str, **kwargs: object) -> list[Reply]:
        return [Reply(self.t(key, **kwargs))]


class Core:
    def __init__(self, app: App, table: CommandTable) -> None:
        self.app = app
        self.table = table
        self._told_unconfigured: set[tuple[str, str]] = set()
        self._after_commit: list[Callable[[], None]] = []

    @contextmanager
    def _session(self) -> Iterator[Session]:
        db = self.app.sessions()
        try:
            with self.app.outbox.transaction():
                yield db
                db.commit()
        except Exception:
            db.rollback()
            self._after_commit.clear()
            raise
        finally:
            db.close()
        for hook in self._after_commit:
            hook()
        self._after_commit.clear()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the current message's transaction is committed (e.g. re-plan reminders)."""
        if hook not in self._after_commit:
            self._after_commit.append(hook)

    def handle(self, incoming: Incoming) -> list[Reply]:
        """Handle one message. A crash is a bug: it is logged and the user gets an apology, not silence."""
        try:
            with self._session() as db:
                return self._handle(db, incoming)
        except Exception:
            log.exception("erreur en traitant un message de %s:%s", incoming.user.platform, incoming.user.user_id)
            lang = pick_language(incoming.user.language, self.app.config.language)
            return [Reply(t(lang, "core.internal_error"))]

    def _handle(self, db: Session, incoming: Incoming) -> list[Reply]:
        now = self.app.clock.now()
        chat = incoming.chat
        group: Group | None = None
        if not chat.private:
            group = membership.find_group(db, chat.platform, chat.chat_id)
            if group is None:
                return self._unconfigured(incoming)
        name = inputs.strip_controls(incoming.user.display_name)[:200]
        member = membership.resolve(db, incoming.user.platform, incoming.user.user_id, now, name)
        person = member.person
        office: Office | None = None
        if group is not None:
            office = db.get(Office, group.office_id)
        elif person is not None and member.role > Role.GUEST:
            office = db.get(Office, person.office_id)
        lang = pick_language(
            person.language if person else None,
            incoming.user.language if person is None else None,
            office.language if office else None,
            self.app.config.language,
        )
        reach: frozenset[str] = frozenset()
        foreign = False
        if person is not None and member.role > Role.GUEST:
            mine = membership.offices_in_reach(db, person, member.role)
            if group is not None:
                foreign = group.office_id not in mine
                reach = frozenset() if foreign else frozenset({group.office_id})
            else:
                reach = frozenset(mine)
        ctx = Ctx(self.app, db, incoming, person, member.role, office, group, lang, now, reach, foreign, member.since)
        # NUL, lone surrogates and bidi controls never get past this line (they cannot be stored or
        # would disguise what is shown); every handler sees the cleaned text.
        text = inputs.strip_controls(incoming.text).strip()
        if len(text) > MAX_TEXT:
            return ctx.say("core.too_long", limit=MAX_TEXT)
        m = _COMMAND.match(text)
        if m:
            target = m.group(2)
            if target is not None and target.lower() != incoming.bot_username.lower():
                return []  # /annuler@un_autre_bot: addressed to another bot of the group
            return self._command(ctx, m.group(1), (m.group(3) or "").strip())
        if not text:
            return []
        if ctx.foreign:
            return ctx.say("core.other_office_chat") if incoming.mentions_bot else []
        return self.app.free_text(ctx, text)

    def _unconfigured(self, incoming: Incoming) -> list[Reply]:
        key = (incoming.chat.platform, incoming.chat.chat_id)
        if key in self._told_unconfigured:
            return []
        self._told_unconfigured.add(key)
        lang = pick_language(incoming.user.language, self.app.config.language)
        return [Reply(t(lang, "core.unconfigured_chat"), leave_chat=True)]

    def _command(self, ctx: Ctx, name: str, args: str) -> list[Reply]:
        cmd = self.table.find(name)
        if cmd is None:
            guess = self.table.closest(name)
            if guess is not None:
                return ctx.say("core.unknown_command_guess", name=name, guess=guess)
            return ctx.say("core.unknown_command", name=name)
        refusal = self._refusal(ctx, cmd)
        if refusal is not None:
            return refusal
        replies = cmd.handler(ctx, args)
        if cmd.personal and not ctx.private and replies:
            # A personal list stays personal: the group only hears where the answer went.
            return [Reply(ctx.t("core.answered_private")), *(replace(r, private=True) for r in replies)]
        return replies

    def _refusal(self, ctx: Ctx, cmd: Command) -> list[Reply] | None:
        """The one place where privileges are checked, in order: role, office of the chat, place.

        Handlers then look objects up through the context (`ctx.scope`), so a session, a question or a
        person of another office is « not found » — a refusal that names nobody."""
        for check in _CHECKS:
            refusal = check(ctx, cmd)
            if refusal is not None:
                return refusal
        return None


def _check_role(ctx: Ctx, cmd: Command) -> list[Reply] | None:
    if ctx.role >= cmd.min_role:
        return None
    if ctx.role == Role.GUEST:
        return ctx.say("core.not_member")
    return ctx.say("core.forbidden", name=cmd.name, role=ctx.t(f"role.{cmd.min_role.key}"))


def _check_office(ctx: Ctx, cmd: Command) -> list[Reply] | None:
    """A group belongs to one office: only its people (and its territory's coordinator) act in it."""
    if ctx.foreign and cmd.min_role > Role.GUEST:
        return ctx.say("core.other_office_chat")
    return None


def _check_place(ctx: Ctx, cmd: Command) -> list[Reply] | None:
    if cmd.where == "private" and not ctx.private:
        return ctx.say("core.private_only", name=cmd.name)
    if cmd.where == "group" and ctx.private:
        return ctx.say("core.group_only", name=cmd.name)
    if cmd.where == "equipe" and ctx.group is not None and ctx.group.kind != "equipe":
        return ctx.say("core.equipe_only", name=cmd.name)
    return None


_CHECKS: tuple[Callable[[Ctx, Command], list[Reply] | None], ...] = (_check_role, _check_office, _check_place)
