"""Core.handle: one incoming message in, the replies out. Routes commands and free text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot import clubs, discord_events, inputs, membership
from bot.commands import Command, CommandTable
from bot.i18n import Safe, pick_language, t
from bot.messages import ChatRef, Incoming, OutMessage, Reply
from bot.roles import Role
from bot.storage.tables import Group, Office, Person
from bot.timefmt import fmt_when

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer messages are refused with a clear answer rather than half-processed
_COMMAND = re.compile(r"^/([^\s@/]+)(?:@(\S*))?(?:\s+(.*))?$", re.DOTALL)
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
        """Handle one message. A crash is a bug: it is logged and the user gets an apology, not silence.
        Every reply comes out with `personal` decided."""
        try:
            with self._session() as db:
                return self._handle(db, incoming)
        except Exception:
            log.exception("erreur en traitant un message de %s:%s", incoming.user.platform, incoming.user.user_id)
            return [self._apology(incoming)]

    def handle_stored(
        self,
        incoming: Incoming,
        *,
        inbox_key: str | None = None,
        reply_to: str | None = None,
        address: Callable[[Incoming, list[Reply]], list[OutMessage]] | None = None,
    ) -> list[OutMessage]:
        """Handle a message stored in the inbox: its replies become outbox rows claimed by this process
        (it sends them at once), written with the state change and the inbox row marked handled, in one
        transaction. A message already handled (a restart, another instance) gives nothing: once.
        `address`: the platform's own way to lay the replies out as messages (a Discord interaction's
        answers go through its webhook); by default each goes to the chat or the speaker's private chat."""
        platform = incoming.chat.platform
        if address is None:
            address = partial(self._addressed, reply_to=reply_to)
        try:
            with self._session() as db:
                if inbox_key is not None and not self.app.inbox.mark_handled(db, platform, inbox_key):
                    return []
                addressed = address(incoming, self._handle(db, incoming))
                rows = [self.app.outbox.put_claimed(db, m) for m in addressed]
                db.flush()
                messages = [self._with_id(m, r.id) for m, r in zip(addressed, rows, strict=True)]
            return messages
        except Exception:
            log.exception("erreur en traitant un message de %s:%s", incoming.user.platform, incoming.user.user_id)
            return self._apologise(incoming, inbox_key, address)

    def _apologise(
        self, incoming: Incoming, inbox_key: str | None, address: Callable[[Incoming, list[Reply]], list[OutMessage]]
    ) -> list[OutMessage]:
        """After a crash of the handling (its transaction rolled back): the apology is a row, claimed by
        us like any reply, written in a transaction of its own with the inbox row marked handled — so
        the message is not handled again after a restart, and the apology, if it was not sent yet,
        still goes out once. Only when the database itself fails is the apology sent without a row."""
        platform = incoming.chat.platform
        addressed = address(incoming, [self._apology(incoming)])
        try:
            with self.app.sessions() as db, self.app.outbox.transaction(db), db.begin():
                if inbox_key is not None and not self.app.inbox.mark_handled(db, platform, inbox_key):
                    return []  # handled meanwhile by another instance: its replies went out
                rows = [self.app.outbox.put_claimed(db, m) for m in addressed]
                db.flush()
                return [self._with_id(m, r.id) for m, r in zip(addressed, rows, strict=True)]
        except Exception:
            log.exception("excuses non enregistrées pour %s:%s", incoming.user.platform, incoming.user.user_id)
            return addressed

    def _addressed(self, incoming: Incoming, replies: list[Reply], reply_to: str | None = None) -> list[OutMessage]:
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
        return Reply(t(lang, "core.internal_error"), personal=True)

    def personal(self, incoming: Incoming) -> bool:
        """Whether the answer to `incoming` will most likely be for the speaker alone, decided from the
        command table without the database, so that a platform can prepare the right kind of answer
        (a Discord interaction is deferred, ephemeral or not, before the message is handled)."""
        if incoming.via_button:
            return True
        m = _COMMAND.match(incoming.text.strip())
        if not m:
            return False
        cmd = self.table.find(m.group(1))
        return cmd is None or cmd.personal

    def session_choices(self, incoming: Incoming, typed: str, limit: int = 25) -> list[tuple[int, str]]:
        """The upcoming sessions the speaker may name in this chat (number, label in their language), for
        a platform that completes a session option as it is typed. Nothing for a stranger."""
        try:
            # Read only, and outside `_session`: it may run beside a message being handled (its own
            # thread), so it neither writes (the last-seen time stays unflushed and is dropped) nor
            # touches the outbox or the after-commit hooks.
            with self.app.sessions() as db, db.no_autoflush:
                ctx = self._context(db, incoming)
                if ctx is None or ctx.office is None or ctx.role == Role.GUEST or ctx.foreign:
                    return []
                in_staff_chat = ctx.private or (ctx.group is not None and ctx.group.kind == "equipe")
                audiences = clubs.audiences_for(ctx.role >= Role.STAFF and in_staff_chat)
                return _session_choices(ctx, audiences, typed, limit)
        except Exception:
            log.exception("erreur en complétant une séance pour %s:%s", incoming.user.platform, incoming.user.user_id)
            return []

    def _context(self, db: Session, incoming: Incoming) -> Ctx | None:
        """Who speaks, where, in which office and language; None for a chat that is not served."""
        now = self.app.clock.now()
        chat = incoming.chat
        group: Group | None = None
        if not chat.private:
            group = membership.find_group(db, chat.platform, chat.chat_id)
            if group is None:
                return None
        name = inputs.strip_controls(incoming.user.display_name)[:200]
        member = membership.resolve(db, incoming.user.platform, incoming.user.user_id, now, name)
        person = member.person
        office: Office | None = None
        if group is not None:
            office = db.get(Office, group.office_id)
        elif person is not None and member.role > Role.GUEST:
            office = db.get(Office, person.office_id)
        # A language the person chose wins; until then, their app's (a Discord client's locale), then
        # the office's. Unknown locales fall through to the next (French by default).
        lang = pick_language(
            person.language if person else None,
            incoming.user.language,
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
        return Ctx(self.app, db, incoming, person, member.role, office, group, lang, now, reach, foreign, member.since)

    def _handle(self, db: Session, incoming: Incoming) -> list[Reply]:
        ctx = self._context(db, incoming)
        if ctx is None:
            return self._unconfigured(db, incoming)
        # NUL, lone surrogates and bidi controls never get past this line (they cannot be stored or
        # would disguise what is shown); every handler sees the cleaned text.
        text = inputs.strip_controls(incoming.text).strip()
        if len(text) > MAX_TEXT:
            return _mark(ctx.say("core.too_long", limit=MAX_TEXT), True)
        m = _COMMAND.match(text)
        if m:
            target = m.group(2)
            if target is not None and target.lower() != incoming.bot_username.lower():
                return []  # /annuler@un_autre_bot: addressed to another bot of the group
            return self._command(ctx, m.group(1), (m.group(3) or "").strip())
        if not text:
            return []
        if ctx.foreign:
            return _mark(ctx.say("core.other_office_chat"), True) if incoming.mentions_bot else []
        return _mark(self.app.free_text(ctx, text), ctx.incoming.via_button)

    def _unconfigured(self, db: Session, incoming: Incoming) -> list[Reply]:
        lang = pick_language(incoming.user.language, self.app.config.language)
        pointer = discord_events.welcome_pointer(db, self.app.config, incoming, lang)
        if pointer is not None:
            return [pointer]
        key = (incoming.chat.platform, incoming.chat.chat_id)
        if key in self._told_unconfigured and not incoming.hides_personal:
            return []  # said once in the chat; an interaction always gets its answer (to the speaker)
        self._told_unconfigured.add(key)
        if incoming.can_leave:
            return [Reply(t(lang, "core.unconfigured_chat"), leave_chat=True, personal=True)]
        return [Reply(t(lang, "core.unconfigured_channel"), leave_chat=True, personal=True)]

    def _command(self, ctx: Ctx, name: str, args: str) -> list[Reply]:
        cmd = self.table.find(name)
        if cmd is None:
            guess = self.table.closest(name)
            if guess is not None:
                return _mark(ctx.say("core.unknown_command_guess", name=name, guess=guess), True)
            return _mark(ctx.say("core.unknown_command", name=name), True)
        refusal = self._refusal(ctx, cmd)
        if refusal is not None:
            return _mark(refusal, True)
        replies = cmd.handler(ctx, args)
        if cmd.private_list and not ctx.private and replies:
            if ctx.incoming.hides_personal:
                return _mark(replies, True)  # shown to the speaker alone, in the chat (Discord)
            # A personal list stays personal: the group only hears where the answer went.
            moved = [replace(r, private=True, personal=True) for r in replies]
            return [Reply(ctx.t("core.answered_private"), personal=False), *moved]
        return _mark(replies, cmd.personal or ctx.incoming.via_button)

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


def _mark(replies: list[Reply], personal: bool) -> list[Reply]:
    """Replies whose handler did not say whether they are for the speaker alone take the command's
    answer (`Command.personal`)."""
    return [r if r.personal is not None else replace(r, personal=personal) for r in replies]


def _session_choices(ctx: Ctx, audiences: tuple[str, ...], typed: str, limit: int) -> list[tuple[int, str]]:
    assert ctx.office is not None
    zone = clubs.zone_of(ctx.db, ctx.office.id)
    wanted = typed.strip().lstrip("n°#").casefold()
    out: list[tuple[int, str]] = []
    for session in clubs.upcoming(
        ctx.db, ctx.office.id, ctx.now, limit=100, include_cancelled=False, audiences=audiences
    ):
        when = fmt_when(session.starts_at, zone, ctx.lang)
        label = str(ctx.t("klub.choice", number=session.id, title=session.title, when=when))
        if not wanted or str(session.id).startswith(wanted) or wanted in label.casefold():
            out.append((session.id, label))
        if len(out) == limit:
            break
    return out
