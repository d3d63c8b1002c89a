"""page connections: Login round trips, channels' own webhooks, a channel's last message index

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_hooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("verify_token", sa.LargeBinary(), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=True),
        sa.Column("app_secret", sa.LargeBinary(), nullable=True),
        sa.Column("graph_url", sa.String(length=200), nullable=False),
        sa.Column("graph_version", sa.String(length=20), nullable=False),
        sa.Column("verified_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_hooks_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_channel_hooks_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_hooks")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_channel_hooks_channel_id")),
        sa.UniqueConstraint("key", name=op.f("uq_channel_hooks_key")),
    )
    with op.batch_alter_table("channel_hooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_hooks_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "page_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("user_token", sa.LargeBinary(), nullable=True),
        sa.Column("pages", sa.JSON(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("returned_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_page_logins_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_page_logins_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_page_logins_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_page_logins_state_hash")),
    )
    with op.batch_alter_table("page_logins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_page_logins_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_channel_direction",
            ["channel_id", "direction", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_channel_direction")
    with op.batch_alter_table("page_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_logins_workspace_id"))
    op.drop_table("page_logins")
    with op.batch_alter_table("channel_hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_hooks_workspace_id"))
    op.drop_table("channel_hooks")
