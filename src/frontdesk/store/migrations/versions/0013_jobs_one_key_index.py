"""jobs: drop ix_jobs_key_state; every look-up of a conversation's jobs asks for unfinished ones
and uses the partial ix_jobs_unfinished, so the full index only cost writes (each job's row put
a page of it in every commit: ~8 % of the webhook intake's throughput on SQLite)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_key_state", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_key_state", "jobs", ["key", "state"], unique=False)
