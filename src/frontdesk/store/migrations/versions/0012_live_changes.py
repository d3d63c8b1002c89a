"""live_changes: what a separate `frontdesk worker` changes on SQLite, read by `frontdesk serve`
for its open inbox pages (PostgreSQL uses LISTEN/NOTIFY)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("live_changes")
