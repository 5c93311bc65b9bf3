"""inbox and outbox: indexes for the token sweep; tokens of rows that ended before tokens went with the outcome

Revision ID: 0005
Revises: 0003

Since tokens leave a row in the transaction that closes it (handled update, final answer), a closed row holds
one only if it was closed by an earlier version. This revision removes those once, so that no process has to
read the whole of both tables at its start; the sweep then only looks at open rows, through these indexes.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 500
# Written out here rather than imported: a migration must keep doing what it did when the code moves on.
OUTBOX_OPEN = ("pending", "claimed", "sending")


def _without_token(payload: str, inner: str | None) -> str | None:
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return None
    holder = data.get(inner) if isinstance(data, dict) and inner is not None else data
    if not isinstance(holder, dict) or not holder.get("token"):
        return None
    del holder["token"]
    return json.dumps(data, ensure_ascii=False)


def _scrub(table: sa.Table, closed: sa.ColumnElement[bool], inner: str | None) -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.payload)
            .where(closed, table.c.id > last, table.c.payload.like('%"token": %'))
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row_id, payload in rows:
            new = _without_token(payload, inner)
            if new is not None:
                bind.execute(sa.update(table).where(table.c.id == row_id).values(payload=new))
        last = rows[-1][0]


def upgrade() -> None:
    op.create_index("ix_inbox_status_received", "inbox", ["status", "received_at"])
    op.create_index("ix_outbox_status_created", "outbox", ["status", "created_at"])
    meta = sa.MetaData()
    inbox = sa.Table("inbox", meta, sa.Column("id", sa.BigInteger), sa.Column("payload", sa.Text),
                     sa.Column("status", sa.String(16)))
    outbox = sa.Table("outbox", meta, sa.Column("id", sa.BigInteger), sa.Column("payload", sa.Text),
                      sa.Column("status", sa.String(16)))
    _scrub(inbox, inbox.c.status != "pending", None)
    _scrub(outbox, outbox.c.status.not_in(OUTBOX_OPEN), "meta")


def downgrade() -> None:
    # The tokens removed are not put back: they had expired anyway.
    op.drop_index("ix_outbox_status_created", table_name="outbox")
    op.drop_index("ix_inbox_status_received", table_name="inbox")
