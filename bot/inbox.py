"""The durable inbox: an incoming update is a row before the platform is told we have it.

The adapter stores each update (`store`, unique per platform and update id: a platform that sends it
again is not handled twice) before acknowledging it. The core marks the row handled in the same
transaction as what the message changed and the replies it wrote (`mark_handled`); updates that never
reach the core are closed by the adapter (`finish`). After a crash, what was stored and not handled is
taken again (`take`) by the same instance at restart, or by another once the first is declared dead.
A payload may carry the platform's credential for answering the update (`bot.tokens`): it is removed
when the row is handled, or once it has expired (`scrub_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot import tokens
from bot.clock import Clock
from bot.storage.tables import InboxRow

_CHUNK = 100  # rows per INSERT: well under SQLite's limit of bound parameters


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, instance: str) -> None:
        self.sessions = sessions
        self.clock = clock
        self.instance = instance
        self._listeners: list[Callable[[], None]] = []

    def store(self, platform: str, key: str, payload: str) -> bool:
        """True if the update is new (ours to handle); False if it was already stored."""
        with self.sessions.begin() as db:
            values = dict(
                platform=platform,
                key=key,
                payload=payload,
                status="pending",
                claimed_by=self.instance,
                received_at=self.clock.now(),
            )
            dialect = db.get_bind().dialect.name
            insert = postgresql.insert(InboxRow) if dialect == "postgresql" else sqlite.insert(InboxRow)
            stmt = insert.values(**values).on_conflict_do_nothing(index_elements=["platform", "key"])
            return db.scalar(stmt.returning(InboxRow.id)) is not None

    def store_many(self, platform: str, updates: list[tuple[str, str]]) -> set[str]:
        """Several updates (key, payload) in one transaction, one commit (a burst: the commit is the cost).
        Returns the keys that were new; the others were already stored."""
        if not updates:
            return set()
        now = self.clock.now()
        new: set[str] = set()
        with self.sessions.begin() as db:
            dialect = db.get_bind().dialect.name
            for start in range(0, len(updates), _CHUNK):
                values = [
                    dict(
                        platform=platform,
                        key=key,
                        payload=payload,
                        status="pending",
                        claimed_by=self.instance,
                        received_at=now,
                    )
                    for key, payload in updates[start : start + _CHUNK]
                ]
                insert = postgresql.insert(InboxRow) if dialect == "postgresql" else sqlite.insert(InboxRow)
                stmt = insert.values(values).on_conflict_do_nothing(index_elements=["platform", "key"])
                new.update(db.scalars(stmt.returning(InboxRow.key)))
        return new

    def mark_handled(self, db: Session, platform: str, key: str) -> bool:
        """In the handler's transaction. False: already handled (by us before a crash, or another instance).
        The payload loses its token in the same commit: the answers written with it carry their own."""
        done = db.execute(
            update(InboxRow)
            .where(InboxRow.platform == platform, InboxRow.key == key, InboxRow.status == "pending")
            .values(status="done", handled_at=self.clock.now())
            .returning(InboxRow.id, InboxRow.payload)
            .execution_options(synchronize_session=False)
        ).first()
        if done is None:
            return False
        tokens.scrub_rows(db, InboxRow, [(done.id, done.payload)], tokens.scrub_inbox)
        return True

    def finish(self, platform: str, key: str) -> None:
        with self.sessions.begin() as db:
            self.mark_handled(db, platform, key)

    def take(self, platform: str) -> list[tuple[str, str]]:
        """Stored updates nobody holds (released by `bot.instances`), claimed for us, oldest first."""
        with self.sessions.begin() as db:
            pick = select(InboxRow.id).where(
                InboxRow.platform == platform, InboxRow.status == "pending", InboxRow.claimed_by == ""
            )
            if db.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            rows = db.execute(
                update(InboxRow)
                .where(InboxRow.id.in_(pick.scalar_subquery()))
                .values(claimed_by=self.instance)
                .returning(InboxRow.id, InboxRow.key, InboxRow.payload)
                .execution_options(synchronize_session=False)
            ).all()
            return [(key, payload) for _, key, payload in sorted(rows)]

    def scrub_tokens(self, before: datetime) -> int:
        """Remove the token of rows received before `before` (expired) and still pending (a handled row lost
        its token when it was handled; migration 0005 took those of rows handled by earlier versions)."""
        where = (InboxRow.status == "pending") & (InboxRow.received_at < before)
        return tokens.sweep(self.sessions, InboxRow, where, tokens.scrub_inbox)

    def unhandled(self, platform: str | None = None) -> int:
        with self.sessions() as db:
            q = select(InboxRow.id).where(InboxRow.status == "pending")
            if platform is not None:
                q = q.where(InboxRow.platform == platform)
            return len(db.scalars(q).all())

    def on_released(self, listener: Callable[[], None]) -> None:
        """Adapters take released updates when told (heartbeat found a dead instance, or a restart)."""
        self._listeners.append(listener)

    def released(self) -> None:
        for listener in self._listeners:
            listener()
