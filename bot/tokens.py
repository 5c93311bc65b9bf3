"""Answer credentials kept in stored rows only while something can still use them.

A platform may hand a short-lived credential with an update for answering it (a Discord interaction's
webhook token, valid 15 minutes). The inbox row keeps it (the `token` key of its JSON payload) so that a
restart can still answer, and each answer's outbox row keeps it (the `token` key of its meta) so that any
instance can send it. In clear in the database, anyone reading a backup could post as the bot with a
fresh one; so it is removed, the rest of the row kept:

- from the inbox row when it is marked handled: its answers, written in the same transaction, carry
  their own copy, and a handled row is never read again (`Inbox.mark_handled`);
- from an answer's row when it is final — sent, failed, uncertain (`Outbox`, `bot.instances`);
- from a row still open but older than the credential's lifetime plus a margin: the platform refuses the
  credential by then anyway (`TokenSweep`, run with the other tickers, through an index on state and age).

Rows closed by versions that kept the token were cleaned once by migration 0005, so no pass ever reads the
closed rows, which are nearly all of both tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.tables import InboxRow, OutboxRow

if TYPE_CHECKING:
    from bot.inbox import Inbox
    from bot.outbox import Outbox

log = logging.getLogger(__name__)

KEY = "token"
# The longest a platform's answer credential lives (Discord: 15 minutes from the interaction), and a
# margin for the clocks of Discord and of our instances, which differ.
LIFETIME = timedelta(minutes=15)
MARGIN = timedelta(minutes=5)
BATCH = 200  # rows per commit in a sweep: SQLite's one writer is not held long (the acknowledgements wait)
EVERY = timedelta(minutes=1)  # the sweep runs at most this often (the scheduler's safety tick)
# A cheap SQL filter before the JSON is read: json.dumps writes a key as `"token": `. User text cannot
# forge it: its quotes are escaped in the JSON.
LIKE = f'%"{KEY}": %'


def _rewritten(payload: str, inner: str | None) -> str | None:
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return None
    holder = data.get(inner) if isinstance(data, dict) and inner is not None else data
    if not isinstance(holder, dict) or not holder.get(KEY):
        return None  # none, or an empty one (a message, not an interaction): nothing to hide
    del holder[KEY]
    return json.dumps(data, ensure_ascii=False)


def scrub_inbox(payload: str) -> str | None:
    """The inbox payload without its token; None when it has none (or is not a JSON object)."""
    return _rewritten(payload, None)


def scrub_outbox(payload: str) -> str | None:
    """The outbox payload without the token of its meta; None when it has none."""
    return _rewritten(payload, "meta")


def without(meta: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items() if k != KEY}


Table = type[InboxRow] | type[OutboxRow]


def scrub_rows(db: Session, table: Table, rows: Iterable[tuple[int, str]], scrub: Callable[[str], str | None]) -> int:
    """Rewrite the given (id, payload) rows without their token, in `db`; returns how many changed."""
    changed = 0
    for row_id, payload in rows:
        new = scrub(payload)
        if new is None:
            continue
        # Only over the payload read: a row rewritten meanwhile (another sweep) is left to it.
        done = db.execute(update(table).where(table.id == row_id, table.payload == payload).values(payload=new))
        changed += int(done.rowcount)  # type: ignore[attr-defined]
    return changed


def sweep(
    sessions: sessionmaker[Session], table: Table, where: ColumnElement[bool], scrub: Callable[[str], str | None]
) -> int:
    """Scrub every row matching `where` that may hold a token, a batch per commit, in id order."""
    changed, last = 0, 0
    while True:
        with sessions.begin() as db:
            query = select(table.id, table.payload).where(where, table.id > last, table.payload.like(LIKE))
            rows = [(int(i), str(p)) for i, p in db.execute(query.order_by(table.id).limit(BATCH))]
            if not rows:
                return changed
            changed += scrub_rows(db, table, rows, scrub)
            last = rows[-1][0]


class TokenSweep:
    """Removes the tokens nothing can use any more from the rows still open (a ticker: the scheduler's safety
    tick drives it, the time comes from the app's clock)."""

    def __init__(self, inbox: Inbox, outbox: Outbox) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self._last: datetime | None = None

    def next_due(self, now: datetime) -> datetime | None:
        return None  # rides along with the other tickers (at least once a minute in `klub run`)

    def tick(self, now: datetime) -> int:
        if self._last is not None and now - self._last < EVERY:
            return 0
        self._last = now
        before = now - LIFETIME - MARGIN
        scrubbed = self.inbox.scrub_tokens(before) + self.outbox.scrub_tokens(before)
        if scrubbed:
            log.info("%d jeton(s) de réponse effacé(s) de la base (expirés ou plus utiles)", scrubbed)
        return scrubbed
