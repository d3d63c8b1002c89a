"""messages: a failure code beside the failure reason (machines read the code, people the
reason), and partial indexes that let the connection doctor read a channel's newest receipt,
send, Page Inbox reply and unsent replies without walking its history; channels: when deleting
a removed channel's history was asked (the `erase` job deletes it in batches)

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_messages_channel_delivered", ["channel_id", "delivered_at"], "delivered_at IS NOT NULL"),
    ("ix_messages_channel_read", ["channel_id", "read_at"], "read_at IS NOT NULL"),
    ("ix_messages_channel_sent", ["channel_id", "sent_at"], "sent_at IS NOT NULL"),
    ("ix_messages_channel_page_inbox", ["channel_id", "created_at"], "author = 'page_inbox'"),
    (
        "ix_messages_channel_unsent",
        ["channel_id", "status", "created_at"],
        "status IN ('queued', 'failed')",
    ),
)


def upgrade() -> None:
    # Older failed messages keep a NULL code: the doctor counts them as of no known kind.
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("failure_code", sa.String(length=40), nullable=True))
    with op.batch_alter_table("channels") as batch_op:
        batch_op.add_column(sa.Column("erase_requested_at", sa.Double(), nullable=True))
    for name, columns, where in _PARTIAL:
        op.create_index(
            name,
            "messages",
            columns,
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, _, _ in reversed(_PARTIAL):
        op.drop_index(name, table_name="messages")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("failure_code")
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_column("erase_requested_at")
