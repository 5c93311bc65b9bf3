"""Core.handle: one incoming message in, the replies out. Routes commands and free text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot import membership
from bot.commands import Command, CommandTable
from bot.i18n import Safe, pick_language, t
from bot.messages import ChatRef, Incoming, OutMessage, Reply
from bot.roles import Role
from bot.storage.tables import Group, Office, Person

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer messages are refused with a clear answer rather than half-processed
_COMMAND = re.compile(r"^/([^\s@/]+)(?:@\S*)?(?:\s+(.*))?$", re.DOTALL)
# Hooks of the message being handled: one list per call, so that handlers running in parallel threads
# (Core.handle runs off the event loop) never run each other's hooks.
_AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar("klub_after_commit", default=None)


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

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction per message: what the outbox gets is written into it, hooks run after commit."""
        db = self.app.sessions()
        hooks: list[Callable[[], None]] = []
        token = _AFTER_COMMIT.set(hooks)
        try:
            with self.app.outbox.transaction(db):
                yield db
                db.commit()
        except Exception:
            db.rollback()
            hooks.clear()
            raise
        finally:
            _AFTER_COMMIT.reset(token)
            db.close()
        for hook in hooks:
            hook()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the current message's transaction is committed (e.g. re-plan reminders)."""
        hooks = _AFTER_COMMIT.get()
        if hooks is None:
            hook()  # outside a message (command line): nothing to wait for
        elif hook not in hooks:
            hooks.append(hook)

    def handle(self, incoming: Incoming) -> list[Reply]:
        """Handle one message. A crash is a bug: it is logged and the user gets an apology, not silence."""
        try:
            with self._session() as db:
                return self._handle(db, incoming)
        except Exception:
            log.exception("erreur en traitant un message de %s:%s", incoming.user.platform, incoming.user.user_id)
            return [self._apology(incoming)]

    def handle_stored(
        self, incoming: Incoming, *, inbox_key: str | None = None, reply_to: str | None = None
    ) -> list[OutMessage]:
        """Handle a message stored in the inbox: its replies become outbox rows claimed by this process
        (it sends them at once), written with the state change and the inbox row marked handled, in one
        transaction. A message already handled (a restart, another instance) gives nothing: once."""
        platform = incoming.chat.platform
        try:
            with self._session() as db:
                if inbox_key is not None and not self.app.inbox.mark_handled(db, platform, inbox_key):
                    return []
                addressed = self._addressed(incoming, self._handle(db, incoming), reply_to)
                rows = [self.app.outbox.put_claimed(db, m) for m in addressed]
                db.flush()
                messages = [self._with_id(m, r.id) for m, r in zip(addressed, rows, strict=True)]
            return messages
        except Exception:
            log.exception("erreur en traitant un message de %s:%s", incoming.user.platform, incoming.user.user_id)
            # The apology is not a row: if the same failure repeats after a restart, so does the apology.
            if inbox_key is not None:
                self.app.inbox.finish(platform, inbox_key)
            return self._addressed(incoming, [self._apology(incoming)], reply_to)

    def _addressed(self, incoming: Incoming, replies: list[Reply], reply_to: str | None) -> list[OutMessage]:
        """Where each reply goes: the chat, or the speaker's private chat (its id is the user id)."""
        out: list[OutMessage] = []
        lang = pick_language(incoming.user.language, self.app.config.language)
        for reply in replies:
            private = reply.private or incoming.chat.private
            meta: dict[str, str] = {"lang": lang}
            if private:
                chat = ChatRef(incoming.chat.platform, incoming.user.user_id, private=True)
                if not incoming.chat.private:
                    meta["fallback_chat"] = incoming.chat.chat_id  # tell the group if private is refused
            else:
                chat = incoming.chat
            if reply_to is not None:
                meta["reply_to"] = reply_to
            out.append(OutMessage(chat, reply, meta=meta))
        return out

    @staticmethod
    def _with_id(message: OutMessage, row_id: int) -> OutMessage:
        return OutMessage(message.chat, message.reply, ledger_id=row_id, meta=message.meta)

    def _apology(self, incoming: Incoming) -> Reply:
        lang = pick_language(incoming.user.language, self.app.config.language)
        return Reply(t(lang, "core.internal_error"))

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
