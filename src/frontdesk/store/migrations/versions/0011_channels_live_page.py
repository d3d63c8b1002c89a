"""channels: one live channel per Page, no longer one channel per Page, so that a Page removed
with its history kept can be connected by another workspace (the history stays with the first)

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LIVE = "status <> 'removed'"
KEEP = {"sqlite_autoincrement": True}
"""On SQLite the batch rebuilds the table: it must keep counting ids up for ever (0009)."""


def upgrade() -> None:
    with op.batch_alter_table("channels", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint("uq_channels_page_id", type_="unique")
        batch_op.create_index("ix_channels_page_id", ["page_id"], unique=False)
        batch_op.create_index(
            "uq_channels_live_page_id",
            ["page_id"],
            unique=True,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )


def downgrade() -> None:
    # Fails while two channels share a Page (one removed): which history to drop is a person's
    # decision, not a migration's.
    with op.batch_alter_table("channels", table_kwargs=KEEP) as batch_op:
        batch_op.drop_index("uq_channels_live_page_id")
        batch_op.drop_index("ix_channels_page_id")
        batch_op.create_unique_constraint("uq_channels_page_id", ["page_id"])
