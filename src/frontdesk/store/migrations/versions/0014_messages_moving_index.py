"""messages: ix_messages_conversation_moving, a partial index of a conversation's messages still
on their way (queued, sent, delivered): the send job's next message and a receipt's messages
had been found by walking the conversation's whole history, three times per message

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MOVING_ROWS = "status IN ('queued', 'sent', 'delivered')"


def upgrade() -> None:
    op.create_index(
        "ix_messages_conversation_moving",
        "messages",
        ["conversation_id", "status"],
        unique=False,
        sqlite_where=sa.text(MOVING_ROWS),
        postgresql_where=sa.text(MOVING_ROWS),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_conversation_moving", table_name="messages")
