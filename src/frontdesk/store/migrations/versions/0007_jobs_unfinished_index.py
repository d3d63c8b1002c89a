"""jobs: a partial index of the unfinished jobs by (key, id), for the claim's "earlier job of the
same conversation" check, which otherwise reads every finished job of the conversation

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNFINISHED = "state IN ('ready', 'running')"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_unfinished",
        "jobs",
        ["key", "id"],
        unique=False,
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_unfinished", table_name="jobs")
