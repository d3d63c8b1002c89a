"""agent inbox: conversation lists by status and assignee, unread counts, notes, canned
responses, handoff settings per channel, the agent of an outgoing message

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("snoozed_until", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("unread", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("preview", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_conversations_channel_status_last",
            ["channel_id", "status", "last_message_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_channel_assignee_status_last",
            ["channel_id", "assignee", "status", "last_message_at"],
            unique=False,
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("agent_name", sa.String(length=100), nullable=True))
    op.create_table(
        "notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notes_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index("ix_notes_conversation", "notes", ["conversation_id", "id"], unique=False)
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_canned_responses_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint(
            "workspace_id", "shortcut", name="uq_canned_responses_workspace_shortcut"
        ),
    )
    op.create_table(
        "handoff_settings",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=True),
        sa.Column("auto_reply", sa.Text(), nullable=True),
        sa.Column("after_hours_reply", sa.Text(), nullable=True),
        sa.Column("hours", sa.JSON(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("pickup_minutes", sa.Integer(), nullable=True),
        sa.Column("fallback_reply", sa.Text(), nullable=True),
        sa.Column("fallback_to_handler", sa.Boolean(), nullable=False),
        sa.Column("idle_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_handoff_settings_channel_id_channels"),
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_handoff_settings")),
    )


def downgrade() -> None:
    op.drop_table("handoff_settings")
    op.drop_table("canned_responses")
    op.drop_index("ix_notes_conversation", table_name="notes")
    op.drop_table("notes")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("agent_name")
        batch_op.drop_column("agent_id")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_index("ix_conversations_channel_assignee_status_last")
        batch_op.drop_index("ix_conversations_channel_status_last")
        batch_op.drop_column("preview")
        batch_op.drop_column("unread")
        batch_op.drop_column("snoozed_until")
