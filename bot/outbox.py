"""The durable outbox: every message and member action the core decides is a row of the database.

`put` writes the row into the transaction that is being handled (bound by `transaction`), so the row
exists exactly when the change that caused it was committed. Any instance serving the row's platform
delivers it: `claim` takes a batch with a lease (one UPDATE, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
instances share the work), `mark_sending` commits just before the platform call, `ack`/`fail` record
the outcome. A row left 'sending' by a process that died may have reached the platform: it becomes
'uncertain' and is never tried again. Claims of a dead instance (stale heartbeat, see
`bot.instances`) or with an expired lease go back to the pool.

A commit costs a disk flush on PostgreSQL, so a sender that goes through a batch records the outcome
of one message in the commit that marks the next one sending (`mark_sending(..., after=...)`), and the
last outcome of a batch in the commit of the next claim (`claim(..., after=...)`): one commit per
message, and still at most one row 'sending' per sender at any time.

A row's meta may carry the credential its platform needs to send it (a Discord interaction's webhook
token, `bot.tokens`): the row loses it in the commit that records its outcome, or once it has expired
(`scrub_tokens`).
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

from sqlalchemy import Integer, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import tokens
from bot.clock import Clock
from bot.messages import Button, ChatRef, GateReply, JoinLink, OutMessage, Reply
from bot.storage.tables import InstanceRow, OutboxRow

log = logging.getLogger(__name__)
Listener = Callable[[str], None]
# A message whose platform call has ended, and how: "sent", "failed" (certainly not delivered) or
# "uncertain" (may have arrived), or "later": certainly not delivered because the platform cannot be reached
# now, so the row is pending again and goes out once it can. Recorded by `ack`/`fail`, or in the sender's
# next commit.
Outcome = tuple[OutMessage, str]
OPEN = ("pending", "claimed", "sending")  # the states a row may still be sent from (or is being sent in)


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


# -- the claim statements ----------------------------------------------------------------------------
# Built once with bound parameters (of_platform, now, dead_before, me, lease, limit): a sender claims after
# every batch and the console after every message, and building them is most of a claim's cost.


def _claimable() -> Any:
    dead = select(InstanceRow.name).where(InstanceRow.heartbeat_at < bindparam("dead_before"))
    return and_(
        OutboxRow.platform == bindparam("of_platform"),
        or_(
            OutboxRow.status == "pending",
            and_(
                OutboxRow.status == "claimed",
                or_(OutboxRow.lease_until < bindparam("now"), OutboxRow.claimed_by.in_(dead)),
            ),
        ),
    )


def _take(status: str, limited: bool) -> Any:
    pick = select(OutboxRow.id).where(_claimable()).order_by(OutboxRow.id)
    if limited:
        pick = pick.limit(bindparam("limit", type_=Integer))
    # PostgreSQL: instances share the rows and never block each other (SQLite has no row locks).
    pick = pick.with_for_update(skip_locked=True)
    values: dict[str, Any] = {"status": status, "claimed_by": bindparam("me"), "lease_until": bindparam("lease")}
    if status == "sent":
        values["sent_at"] = bindparam("now")
    return (
        update(OutboxRow)
        .where(OutboxRow.id.in_(pick.scalar_subquery()))
        .values(**values)
        .returning(OutboxRow)
        .execution_options(synchronize_session=False)
    )


_DROP_EXPIRED = (
    update(OutboxRow)
    .where(_claimable(), OutboxRow.expires_at < bindparam("now"))
    .values(status="dropped", claimed_by=bindparam("me"))
    .returning(OutboxRow.offset_key)
)
_CLAIM = _take("claimed", limited=True)
_CLAIM_ALL = _take("claimed", limited=False)
_DRAIN = _take("sent", limited=False)


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

    def _params(self, platform: str, now: datetime, **extra: Any) -> dict[str, Any]:
        return {
            "of_platform": platform,
            "now": now,
            "dead_before": now - self.dead_after,
            "me": self.instance,
            "lease": now + self.lease,
            **extra,
        }

    def claim(self, platform: str, limit: int | None = None, *, after: Outcome | None = None) -> list[OutMessage]:
        """Take up to `limit` deliverable rows of `platform` for this instance, oldest first. Reminders
        past their grace are dropped on the way (logged), never sent late. `after`: the outcome of the
        message sent last, recorded in the same commit (the caller tells `told_sent`/`told_failed`)."""
        now = self.clock.now()
        with self.sessions.begin() as db:
            if after is not None:
                self._record(db, after, now)
            return self._claim(db, platform, limit, now, "claimed")

    def _claim(self, db: Session, platform: str, limit: int | None, now: datetime, status: str) -> list[OutMessage]:
        params = self._params(platform, now, limit=limit)
        for key in db.scalars(_DROP_EXPIRED, params).all():
            log.warning("rappel abandonné (trop tard, au-delà du délai de grâce) : %s", key)
        take = _DRAIN if status == "sent" else _CLAIM_ALL if limit is None else _CLAIM
        claimed = db.scalars(take, params).all()
        return [decode(row) for row in sorted(claimed, key=lambda r: r.id)]

    def drain(self, platform: str) -> list[OutMessage]:
        """Take everything deliverable for `platform`, recorded as delivered in the same commit: for a
        platform that shows messages at once and cannot fail (the console) and for tests. Senders that
        call a remote platform use `claim`, `mark_sending` and `ack`/`fail` instead."""
        now = self.clock.now()
        with self.sessions.begin() as db:
            return self._claim(db, platform, None, now, "sent")

    def mark_sending(self, message: OutMessage, *, after: Outcome | None = None) -> bool:
        """Committed just before the platform call. False: the claim was lost (taken over), do not send.
        `after`: the outcome of the message sent before, recorded in this same commit (the caller tells)."""
        now = self.clock.now()
        if message.ledger_id is None and after is None:
            return True
        with self.sessions.begin() as db:
            if after is not None:
                self._record(db, after, now)
            if message.ledger_id is None:
                return True
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

    def _record(self, db: Session, outcome: Outcome, now: datetime) -> None:
        message, how = outcome
        if message.ledger_id is None:
            return
        values: dict[str, Any] = {"status": "sent", "sent_at": now}
        if how == "later":
            values = {"status": "pending", "claimed_by": "", "lease_until": None}
        elif how != "sent":
            values = {"status": "failed" if how == "failed" else "uncertain"}
            log.warning("message %s non remis (%s)", message.ledger_id, values["status"])
        if how != "later" and tokens.KEY in message.meta:  # never sent again: its credential has no use left
            values["payload"] = encode(OutMessage(message.chat, message.reply, meta=tokens.without(message.meta)))
        db.execute(update(OutboxRow).where(OutboxRow.id == message.ledger_id).values(**values))

    def ack(self, message: OutMessage, *, tell: bool = True) -> None:
        """The platform accepted the message. `tell=False`: the caller runs `told_sent` itself (on its
        event loop, when this runs in a worker thread)."""
        self.settle((message, "sent"), tell=tell)

    def fail(self, message: OutMessage, outcome: str, *, tell: bool = True) -> None:
        """Given up: "failed" (certainly not delivered) or "uncertain" (may have arrived). Either way the
        row is never tried again: never twice."""
        self.settle((message, "failed" if outcome == "failed" else "uncertain"), tell=tell)

    def settle(self, outcome: Outcome, *, tell: bool = True) -> None:
        """Record how a platform call ended, in its own commit (see `ack` and `fail`)."""
        if outcome[0].ledger_id is not None:
            with self.sessions.begin() as db:
                self._record(db, outcome, self.clock.now())
        if tell:
            self.tell(outcome)

    def tell(self, outcome: Outcome) -> None:
        """Run the callbacks for an outcome once it is committed."""
        message, how = outcome
        if how == "later":
            return  # nothing happened to it yet
        if how == "sent":
            self.told_sent(message)
        else:
            self.told_failed(message, how)

    def told_sent(self, message: OutMessage) -> None:
        for callback in self._on_sent:
            callback(message)

    def told_failed(self, message: OutMessage, outcome: str) -> None:
        for callback in self._on_failed:
            callback(message, outcome)

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

    def scrub_tokens(self, before: datetime) -> int:
        """Remove the token of rows written before `before` (expired) and not yet final (a final row lost
        its token with its outcome; migration 0005 took those of rows that ended under earlier versions)."""
        where = OutboxRow.status.in_(OPEN) & (OutboxRow.created_at < before)
        return tokens.sweep(self.sessions, OutboxRow, where, tokens.scrub_outbox)

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
