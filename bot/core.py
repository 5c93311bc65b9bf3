"""Core.handle: one incoming message in, the replies out. Routes commands and free text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot import membership
from bot.commands import Command, CommandTable
from bot.i18n import Safe, pick_language, t
from bot.messages import Incoming, Reply
from bot.roles import Role
from bot.storage.tables import Group, Office, Person

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer messages are refused with a clear answer rather than half-processed
_COMMAND = re.compile(r"^/([^\s@/]+)(?:@\S*)?(?:\s+(.*))?$", re.DOTALL)


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

    @property
    def private(self) -> bool:
        return self.incoming.chat.private

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
        member = membership.resolve(db, incoming.user.platform, incoming.user.user_id, now, incoming.user.display_name)
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
        ctx = Ctx(self.app, db, incoming, person, member.role, office, group, lang, now)
        text = incoming.text.strip()
        if len(text) > MAX_TEXT:
            return ctx.say("core.too_long", limit=MAX_TEXT)
        m = _COMMAND.match(text)
        if m:
            return self._command(ctx, m.group(1), (m.group(2) or "").strip())
        if not text:
            return []
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
        return cmd.handler(ctx, args)

    def _refusal(self, ctx: Ctx, cmd: Command) -> list[Reply] | None:
        """The one place where roles and chat types are checked."""
        if ctx.role < cmd.min_role:
            if ctx.role == Role.GUEST:
                return ctx.say("core.not_member")
            return ctx.say("core.forbidden", name=cmd.name, role=ctx.t(f"role.{cmd.min_role.key}"))
        if cmd.where == "private" and not ctx.private:
            return ctx.say("core.private_only", name=cmd.name)
        if cmd.where == "group" and ctx.private:
            return ctx.say("core.group_only", name=cmd.name)
        return None
