"""invites: an account waiting for an ANT's confirmation to replace a linked one

Revision ID: 0003
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.tables

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invites") as batch:
        batch.add_column(sa.Column("pending_by", sa.String(length=96), nullable=True))
        batch.add_column(sa.Column("pending_at", bot.storage.tables.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invites") as batch:
        batch.drop_column("pending_at")
        batch.drop_column("pending_by")
