"""The durable outbox: every message and member action the core decides is a row of the database.

`put` writes the row into the transaction that is being handled (bound by `transaction`), so the row
exists exactly when the change that caused it was committed. Any instance serving the row's platform
delivers it: `claim` takes a batch with a lease (one UPDATE, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
instances share the work), `mark_sending` commits just before the platform call, `ack`/`fail` record
the outcome. A row left 'sending' by a process that died may have reached the platform: it becomes
'uncertain' and is never tried again. Claims of a dead instance (stale heartbeat, see
`bot.instances`) or with an expired lease go back to the pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.messages import Button, ChatRef, GateReply, JoinLink, OutMessage, Reply
from bot.storage.tables import InstanceRow, OutboxRow

log = logging.getLogger(__name__)
Listener = Callable[[str], None]


@dataclass
class _Bound:
    db: Session
    platforms: set[str] = field(default_factory=set)


_bound: ContextVar[_Bound | None] = ContextVar("klub_outbox_transaction", default=None)


# -- rows <-> messages --------------------------------------------------------------------------------


def encode(message: OutMessage) -> str:
    reply = message.reply
    data: dict[str, Any] = {
        "title": message.chat.title,
        "text": reply.text,
        "buttons": [[[b.label, b.command] for b in row] for row in reply.buttons],
        "private": reply.private,
        "leave_chat": reply.leave_chat,
        "personal": reply.personal,
        "fallback": reply.fallback,
        "meta": message.meta,
    }
    if isinstance(reply, GateReply):
        data["gate"] = {
            "join_links": [[j.platform, j.chat_id, j.label] for j in reply.join_links],
            "invite_code": reply.invite_code,
            "invite_link_label": reply.invite_link_label,
        }
    return json.dumps(data, ensure_ascii=False)


def decode(row: OutboxRow) -> OutMessage:
    data = json.loads(row.payload or "{}")
    buttons = tuple(tuple(Button(label, command) for label, command in r) for r in data.get("buttons", []))
    base: dict[str, Any] = {
        "text": data.get("text", ""),
        "buttons": buttons,
        "private": data.get("private", False),
        "leave_chat": data.get("leave_chat", False),
        "personal": data.get("personal"),
        "fallback": data.get("fallback", ""),
    }
    gate = data.get("gate")
    reply: Reply
    if gate is not None:
        links = tuple(JoinLink(p, c, label) for p, c, label in gate["join_links"])
        reply = GateReply(
            **base,
            join_links=links,
            invite_code=gate["invite_code"],
            invite_link_label=gate["invite_link_label"],
        )
    else:
        reply = Reply(**base)
    chat = ChatRef(row.platform, row.chat_id, private=row.private, title=data.get("title", ""))
    return OutMessage(chat, reply, ledger_id=row.id, meta=dict(data.get("meta", {})))


def new_row(message: OutMessage, now: datetime, **extra: Any) -> OutboxRow:
    return OutboxRow(
        platform=message.chat.platform,
        chat_id=message.chat.chat_id,
        private=message.chat.private,
        payload=encode(message),
        status=extra.pop("status", "pending"),
        claimed_by=extra.pop("claimed_by", ""),
        created_at=now,
        **extra,
    )


def add(db: Session, message: OutMessage, now: datetime) -> None:
    """Write a row into `db` from domain code that has no Outbox at hand (it holds only the database
    session): committed or rolled back with `db`. When `db` is the transaction being handled, the
    senders of its platform are woken after the commit; otherwise they find it at their next poll."""
    db.add(new_row(message, now))
    bound = _bound.get()
    if bound is not None and bound.db is db:
        bound.platforms.add(message.chat.platform)


# -- the outbox ---------------------------------------------------------------------------------------


class Outbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        instance: str,
        *,
        lease: timedelta = timedelta(minutes=2),
        dead_after: timedelta = timedelta(seconds=20),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.instance = instance
        self.lease = lease
        self.dead_after = dead_after
        self._listeners: list[Listener] = []
        self._on_sent: list[Callable[[OutMessage], None]] = []
        self._on_failed: list[Callable[[OutMessage, str], None]] = []

    # -- writing --------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, db: Session) -> Iterator[None]:
        """Rows put inside go into `db` (committed or rolled back with it); senders are woken after."""
        bound = _Bound(db)
        token = _bound.set(bound)
        try:
            yield
        finally:
            _bound.reset(token)
        self.notify(*bound.platforms)  # reached only when the body (and its commit) succeeded

    def put(self, message: OutMessage, db: Session | None = None) -> None:
        """Write the message as a row: into `db`, else the transaction being handled, else its own."""
        bound = _bound.get()
        target = db if db is not None else bound.db if bound is not None else None
        row = new_row(message, self.clock.now())
        if target is None:
            with self.sessions.begin() as own:
                own.add(row)
            self.notify(message.chat.platform)
            return
        target.add(row)
        if bound is not None and target is bound.db:
            bound.platforms.add(message.chat.platform)
        else:
            self.notify(message.chat.platform)  # the caller commits right away (it owns `db`)

    def put_claimed(self, db: Session, message: OutMessage) -> OutboxRow:
        """A reply this process sends at once (the fast path): claimed by us, so nobody else takes it,
        and still a row, so a crash after the commit does not lose it."""
        now = self.clock.now()
        row = new_row(message, now, status="claimed", claimed_by=self.instance, lease_until=now + self.lease)
        db.add(row)
        return row

    def notify(self, *platforms: str) -> None:
        for platform in platforms:
            for listener in self._listeners:
                listener(platform)

    def listen(self, listener: Listener) -> None:
        """`listener(platform)` is called once rows for `platform` are committed: senders wake up."""
        self._listeners.append(listener)

    # -- delivering -----------------------------------------------------------------------------------

    def _dead(self, now: datetime) -> Any:
        return select(InstanceRow.name).where(InstanceRow.heartbeat_at < now - self.dead_after)

    def _claimable(self, platform: str, now: datetime) -> Any:
        return and_(
            OutboxRow.platform == platform,
            or_(
                OutboxRow.status == "pending",
                and_(
                    OutboxRow.status == "claimed",
                    or_(OutboxRow.lease_until < now, OutboxRow.claimed_by.in_(self._dead(now))),
                ),
            ),
        )

    def claim(self, platform: str, limit: int | None = None) -> list[OutMessage]:
        """Take up to `limit` deliverable rows of `platform` for this instance, oldest first. Reminders
        past their grace are dropped on the way (logged), never sent late."""
        now = self.clock.now()
        with self.sessions.begin() as db:
            expired = db.scalars(
                update(OutboxRow)
                .where(self._claimable(platform, now), OutboxRow.expires_at < now)
                .values(status="dropped", claimed_by=self.instance)
                .returning(OutboxRow.offset_key)
            ).all()
            for key in expired:
                log.warning("rappel abandonné (trop tard, au-delà du délai de grâce) : %s", key)
            pick = select(OutboxRow.id).where(self._claimable(platform, now)).order_by(OutboxRow.id)
            if limit is not None:
                pick = pick.limit(limit)
            if db.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)  # instances share the rows, never block
            claimed = db.scalars(
                update(OutboxRow)
                .where(OutboxRow.id.in_(pick.scalar_subquery()))
                .values(status="claimed", claimed_by=self.instance, lease_until=now + self.lease)
                .returning(OutboxRow)
                .execution_options(synchronize_session=False)
            ).all()
            return [decode(row) for row in sorted(claimed, key=lambda r: r.id)]

    def drain(self, platform: str) -> list[OutMessage]:
        """Take everything deliverable for `platform`, recorded as delivered by the caller: for a
        platform that shows messages at once and cannot fail (the console) and for tests. Senders that
        call a remote platform use `claim`, `mark_sending` and `ack`/`fail` instead."""
        taken = self.claim(platform)
        ids = [m.ledger_id for m in taken if m.ledger_id is not None]
        if ids:
            with self.sessions.begin() as db:
                db.execute(
                    update(OutboxRow).where(OutboxRow.id.in_(ids)).values(status="sent", sent_at=self.clock.now())
                )
        return taken

    def mark_sending(self, message: OutMessage) -> bool:
        """Committed just before the platform call. False: the claim was lost (taken over), do not send."""
        if message.ledger_id is None:
            return True
        now = self.clock.now()
        with self.sessions.begin() as db:
            done = db.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == message.ledger_id,
                    OutboxRow.status == "claimed",
                    OutboxRow.claimed_by == self.instance,
                )
                .values(status="sending", lease_until=now + self.lease)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def ack(self, message: OutMessage, *, tell: bool = True) -> None:
        """The platform accepted the message. `tell=False`: the caller runs `told_sent` itself (on its
        event loop, when this runs in a worker thread)."""
        if message.ledger_id is not None:
            with self.sessions.begin() as db:
                db.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == message.ledger_id)
                    .values(status="sent", sent_at=self.clock.now())
                )
        if tell:
            self.told_sent(message)

    def told_sent(self, message: OutMessage) -> None:
        for callback in self._on_sent:
            callback(message)

    def told_failed(self, message: OutMessage, outcome: str) -> None:
        for callback in self._on_failed:
            callback(message, outcome)

    def fail(self, message: OutMessage, outcome: str, *, tell: bool = True) -> None:
        """Given up: "failed" (certainly not delivered) or "uncertain" (may have arrived). Either way the
        row is never tried again: never twice."""
        status = "failed" if outcome == "failed" else "uncertain"
        if message.ledger_id is not None:
            log.warning("message %s non remis (%s)", message.ledger_id, status)
            with self.sessions.begin() as db:
                db.execute(update(OutboxRow).where(OutboxRow.id == message.ledger_id).values(status=status))
        if tell:
            self.told_failed(message, outcome)

    def release(self, messages: list[OutMessage]) -> None:
        """Give back claims not yet sending (a clean stop): another instance, or our next start, sends them."""
        ids = [m.ledger_id for m in messages if m.ledger_id is not None]
        if not ids:
            return
        with self.sessions.begin() as db:
            db.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "claimed", OutboxRow.claimed_by == self.instance)
                .values(status="pending", claimed_by="", lease_until=None)
            )

    def pending(self, platform: str | None = None) -> int:
        with self.sessions() as db:
            q = select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")
            if platform is not None:
                q = q.where(OutboxRow.platform == platform)
            return int(db.scalar(q) or 0)

    def on_sent(self, callback: Callable[[OutMessage], None]) -> None:
        self._on_sent.append(callback)

    def on_failed(self, callback: Callable[[OutMessage, str], None]) -> None:
        self._on_failed.append(callback)
