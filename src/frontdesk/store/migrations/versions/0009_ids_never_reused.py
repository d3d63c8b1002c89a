"""ids never reused on SQLite: the tables whose ids outlive their rows get AUTOINCREMENT

A deleted row's id is held on elsewhere: a removed person's in `conversations.assignee`,
`messages.agent_id` and `notes.user_id`; a deleted channel's, contact's, conversation's or
message's in the payloads of jobs still queued; any of them in an address open in someone's
browser. SQLite without AUTOINCREMENT hands the largest id out again once its row is deleted,
so those would then name someone or something else. PostgreSQL takes ids from sequences, which
never go back: there, nothing changes.

On SQLite a table gets AUTOINCREMENT only by being built again: each one is copied into a new
table (rows, ids, foreign keys, indexes and all), which then takes its name. The counter each
rebuilt table starts from is the largest id it holds or that is still named elsewhere, so an id
deleted before this upgrade is not handed out again either.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = (
    "users",
    "invitations",
    "channels",
    "channel_hooks",
    "page_logins",
    "contacts",
    "conversations",
    "messages",
    "canned_responses",
)
"""Parents before children; with foreign keys not enforced during migrations (Alembic's
connection never turns them on), the order only keeps the copy easy to follow."""


NAMED_ELSEWHERE = {
    "users": (
        "SELECT MAX(agent_id) FROM messages",
        "SELECT MAX(user_id) FROM notes",
        # An assignee is a person's id as text: only whole numbers of a sane length count.
        "SELECT MAX(CAST(assignee AS INTEGER)) FROM conversations WHERE length(assignee)"
        " BETWEEN 1 AND 18 AND assignee NOT GLOB '*[^0-9]*'",
    ),
    # Jobs name them in their payloads (whole JSON numbers).
    "channels": (
        "SELECT MAX(json_extract(payload, '$.channel_id')) FROM jobs"
        " WHERE json_type(payload, '$.channel_id') = 'integer'",
    ),
    "contacts": (
        "SELECT MAX(json_extract(payload, '$.contact_id')) FROM jobs"
        " WHERE json_type(payload, '$.contact_id') = 'integer'",
    ),
    "conversations": (
        "SELECT MAX(json_extract(payload, '$.conversation_id')) FROM jobs"
        " WHERE json_type(payload, '$.conversation_id') = 'integer'",
    ),
    "messages": (
        "SELECT MAX(json_extract(payload, '$.message_id')) FROM jobs"
        " WHERE json_type(payload, '$.message_id') = 'integer'",
    ),
}
"""Where ids of rows that may be gone are still held (besides foreign keys, which name rows
that exist)."""


def _rebuild(table: str, *, autoincrement: bool) -> None:
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def _seed(table: str) -> None:
    """Start the table's counter past every id it holds or that is held elsewhere."""
    bind = op.get_bind()
    highest = [bind.execute(text(f"SELECT MAX(id) FROM {table}")).scalar()]  # noqa: S608
    for query in NAMED_ELSEWHERE.get(table, ()):
        highest.append(bind.execute(text(query)).scalar())
    top = max((int(value) for value in highest if value is not None), default=0)
    if top == 0:
        return
    bind.execute(text("DELETE FROM sqlite_sequence WHERE name = :table"), {"table": table})
    bind.execute(
        text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :top)"),
        {"table": table, "top": top},
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # sequences: ids were never reused
    for table in TABLES:
        _rebuild(table, autoincrement=True)
        _seed(table)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(TABLES):
        _rebuild(table, autoincrement=False)
