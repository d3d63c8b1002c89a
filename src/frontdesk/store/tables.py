"""The schema, as SQLAlchemy Core tables; Alembic migrations create exactly this."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    literal_column,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

# Times are epoch seconds (double): portable across SQLite and PostgreSQL and cheap to compare
# in the queue's hot queries.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# `sqlite_autoincrement=True`: the table's ids outlive its rows (a removed person's id in
# `conversations.assignee`, a deleted message's in a queued job, any id in an address open in a
# browser), so a deleted row's id must never be handed out again. SQLite without AUTOINCREMENT
# reuses the largest id once its row is gone; PostgreSQL's sequences never do.

# --- accounts: workspaces (tenants), their people, sessions and invitations ------------------

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    # Lowercased; one address is one person of one workspace, so login needs no workspace.
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    sqlite_autoincrement=True,
)

# The primary key is the SHA-256 of the cookie's value: a copy of the database opens no session.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("seen_at", Double, nullable=False),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("email", String(254), nullable=False),
    Column("role", String(10), nullable=False),
    # SHA-256 of the link's token; the token itself is shown once, to the person inviting.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("accepted_at", Double, nullable=True),
    sqlite_autoincrement=True,
)

# One row per failed login, so the limits hold across restarts and across processes.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("account", String(254), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("at", Double, nullable=False),
    Index("ix_login_failures_account_at", "account", "at"),
    Index("ix_login_failures_ip_at", "ip", "at"),
)

# A workspace's own Meta app ("bring your own app"); without a row in use, the operator's app
# (FRONTDESK_META_*) serves it. Kept when switched off, so switching back loses nothing.
meta_apps = Table(
    "meta_apps",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("in_use", Boolean, nullable=False, default=False),
    Column("app_id", String(32), nullable=False, default=""),
    Column("app_secret", LargeBinary, nullable=True),
    Column("verify_token", LargeBinary, nullable=False),
    Column("graph_url", String(200), nullable=False),
    Column("graph_version", String(20), nullable=False),
    Column("updated_at", Double, nullable=False),
)

# --- Pages and what they receive -----------------------------------------------------------

LIVE_CHANNELS = "status <> 'removed'"
"""The predicate of `uq_channels_live_page_id`: every channel but those removed (history kept)."""

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    # NULL: not yet claimed by a workspace (a channel connected before accounts existed, or by
    # `frontdesk dev` before the first run); the first workspace created adopts these.
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=True, index=True),
    Column("page_id", String(64), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("page_token", LargeBinary, nullable=True),
    Column("link", String(20), nullable=False, default="inbox"),
    Column("status", String(20), nullable=False, default="active"),
    Column("status_reason", Text, nullable=True),
    Column("has_human_agent", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    # Removed with its history to be deleted: when that was asked. The `erase` job is working
    # through it, a batch at a time, and deletes the channel last (`store.removal`).
    Column("erase_requested_at", Double, nullable=True),
    Index("ix_channels_page_id", "page_id"),
    # One live channel per Page: events are routed by Page id. A channel removed with its
    # history kept stays with its workspace and leaves the Page free for another to connect.
    Index(
        "uq_channels_live_page_id",
        "page_id",
        unique=True,
        sqlite_where=text(LIVE_CHANNELS),
        postgresql_where=text(LIVE_CHANNELS),
    ),
    sqlite_autoincrement=True,
)

# A channel's own webhook, for a Page connected through the business's own Meta app: by hand
# (manual setup), or by Facebook Login when the workspace uses its own app. Its Callback URL is
# /webhooks/messenger/{key}, answered with its verify token, and events there are believed only
# when signed with its app secret. Made before the channel (the admin may set up Meta's side
# first), so channel_id is NULL until the Page is connected.
channel_hooks = Table(
    "channel_hooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    # "manual" or "login": how its channel was (or is being) connected.
    Column("via", String(10), nullable=False),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=True, unique=True),
    Column("verify_token", LargeBinary, nullable=False),
    Column("app_id", String(32), nullable=True),
    Column("app_secret", LargeBinary, nullable=True),
    Column("graph_url", String(200), nullable=False),
    Column("graph_version", String(20), nullable=False),
    # When Meta's verification GET (or a first signed event) last came to this URL.
    Column("verified_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    sqlite_autoincrement=True,
)

# One Facebook Login round trip of "Manage Pages" (or a reconnect): the state it must come back
# with (its SHA-256), the session it belongs to, then the person's long-lived user token
# (encrypted), their Pages, and each chosen Page's progress while it is connected.
page_logins = Table(
    "page_logins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("state_hash", String(64), nullable=False, unique=True),
    Column("session_id", String(64), nullable=False),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=True),
    Column("app_id", String(32), nullable=False),
    Column("user_token", LargeBinary, nullable=True),
    Column("pages", JSON, nullable=True),
    Column("progress", JSON, nullable=True),
    Column("problem", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("returned_at", Double, nullable=True),
    sqlite_autoincrement=True,
)

webhook_bodies = Table(
    "webhook_bodies",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("received_at", Double, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(20), nullable=False),
    Column("note", Text, nullable=True),
)

UNFINISHED_JOBS = "state IN ('ready', 'running')"
"""The predicate of `ix_jobs_unfinished`; queries spell it the same, literally (`unfinished`),
so that both databases see the partial index applies."""

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("key", String(200), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("state", String(10), nullable=False, default="ready"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_at", Double, nullable=False),
    Column("locked_by", String(100), nullable=True),
    Column("locked_until", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("finished_at", Double, nullable=True),
    # Claims walk the ready jobs that are due, by due time (`workers.queue.claim`): a range of
    # this index that ends at "now", so jobs scheduled for later are never read.
    Index("ix_jobs_claim", "state", "run_at"),
    # The claim's "is an earlier job of this conversation unfinished?" (`workers.queue`) and
    # every other look-up by key (all of them ask for unfinished jobs: `unfinished`): only
    # unfinished jobs are in it, however long a conversation's history of finished ones. The
    # only index by key: each one costs every enqueue a scattered page write.
    Index(
        "ix_jobs_unfinished",
        "key",
        "id",
        sqlite_where=text(UNFINISHED_JOBS),
        postgresql_where=text(UNFINISHED_JOBS),
    ),
)


def unfinished(state: ColumnElement[Any] = jobs.c.state) -> ColumnElement[bool]:
    """`state IN ('ready', 'running')` with the states written into the SQL, not bound: only
    then can either database see that `ix_jobs_unfinished` applies, whatever the plan cache does
    with parameters. `state`: the column of an alias of `jobs`."""
    return state.in_([literal_column("'ready'"), literal_column("'running'")])


def not_taken() -> ColumnElement[bool]:
    """`state = 'ready'`, spelled so that a look-up by key reads `ix_jobs_unfinished`: with a
    plain `state = 'ready'` SQLite prefers `ix_jobs_claim` and reads every ready job."""
    return and_(unfinished(), jobs.c.state != "running")


contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("psid", String(64), nullable=False),
    Column("name", String(200), nullable=True),
    Column("profile_pic", Text, nullable=True),
    Column("locale", String(20), nullable=True),
    Column("profile_checked_at", Double, nullable=True),
    Column("last_user_at", Double, nullable=True),
    Column("unreachable_reason", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("channel_id", "psid", name="uq_contacts_channel_psid"),
    sqlite_autoincrement=True,
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False, unique=True),
    Column("status", String(20), nullable=False, default="open"),
    Column("owner", String(20), nullable=False, default="handler"),
    Column("handoff", JSON, nullable=True),
    Column("assignee", String(100), nullable=True),
    Column("last_message_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    # The inbox: when a snoozed conversation opens again, the customer's messages no agent has
    # opened it since, and its last message as the list shows it.
    Column("snoozed_until", Double, nullable=True),
    Column("unread", Integer, nullable=False, default=0, server_default="0"),
    Column("preview", String(200), nullable=True),
    # The inbox's lists walk these newest first, channel by channel, and stop at a page
    # (store.inbox): the views "all", and "mine" / "unassigned".
    Index("ix_conversations_channel_status_last", "channel_id", "status", "last_message_at"),
    Index(
        "ix_conversations_channel_assignee_status_last",
        "channel_id",
        "assignee",
        "status",
        "last_message_at",
    ),
    sqlite_autoincrement=True,
)

DELIVERED = "delivered_at IS NOT NULL"
READ = "read_at IS NOT NULL"
SENT = "sent_at IS NOT NULL"
PAGE_INBOX = "author = 'page_inbox'"
UNSENT = "status IN ('queued', 'failed')"
"""The predicates of the messages' partial indexes; queries spell them the same, literally
(as with UNFINISHED_JOBS), so that both databases see the index applies."""
MOVING = ("queued", "sent", "delivered")
"""Statuses of a message that sends and receipts still move (every status a receipt may move,
`core.models.can_advance`): the rows of the partial `ix_messages_conversation_moving`. A
prepared statement (`store.prepared`) asking `status IN MOVING`, in this order, writes it out
literally, as the index's own predicate (MOVING_ROWS)."""
MOVING_ROWS = f"status IN ({', '.join(repr(status) for status in MOVING)})"

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("mid", String(255), nullable=True),
    Column("direction", String(10), nullable=False),
    Column("author", String(20), nullable=False),
    Column("text", Text, nullable=True),
    Column("attachments", JSON, nullable=True),
    Column("outgoing", JSON, nullable=True),
    Column("status", String(20), nullable=False),
    Column("failure_reason", Text, nullable=True),
    # Why it failed or was blocked, for machines (`core.models.FailureCode`); NULL before 0010.
    Column("failure_code", String(40), nullable=True),
    Column("messaging_type", String(20), nullable=True),
    Column("tag", String(40), nullable=True),
    Column("reply_to_mid", String(255), nullable=True),
    Column("reactions", JSON, nullable=True),
    Column("meta_timestamp", BigInteger, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("sent_at", Double, nullable=True),
    Column("delivered_at", Double, nullable=True),
    Column("read_at", Double, nullable=True),
    # The agent who wrote an outgoing message in the inbox, and their name then (a transcript
    # keeps it after the person leaves the team; no foreign key, for the same reason).
    Column("agent_id", Integer, nullable=True),
    Column("agent_name", String(100), nullable=True),
    UniqueConstraint("channel_id", "mid", name="uq_messages_channel_mid"),
    Index("ix_messages_conversation", "conversation_id", "id"),
    # A channel's last message in and out (the console's table, the post-setup checklist).
    Index("ix_messages_channel_direction", "channel_id", "direction", "created_at"),
    # The connection doctor's evidence (`workers.evidence`): a channel's newest receipt, send
    # and Page Inbox reply, and its replies not sent, each read from the newest end of a
    # partial index (only rows that have the value), however long the channel's history.
    Index(
        "ix_messages_channel_delivered",
        "channel_id",
        "delivered_at",
        sqlite_where=text(DELIVERED),
        postgresql_where=text(DELIVERED),
    ),
    Index(
        "ix_messages_channel_read",
        "channel_id",
        "read_at",
        sqlite_where=text(READ),
        postgresql_where=text(READ),
    ),
    Index(
        "ix_messages_channel_sent",
        "channel_id",
        "sent_at",
        sqlite_where=text(SENT),
        postgresql_where=text(SENT),
    ),
    Index(
        "ix_messages_channel_page_inbox",
        "channel_id",
        "created_at",
        sqlite_where=text(PAGE_INBOX),
        postgresql_where=text(PAGE_INBOX),
    ),
    # A conversation's messages still on their way (queued, sent, delivered): what the send
    # job looks for next and what a receipt moves, found without walking its history. Read,
    # failed and blocked ones leave it (those of a person who never reads stay).
    Index(
        "ix_messages_conversation_moving",
        "conversation_id",
        "status",
        sqlite_where=text(MOVING_ROWS),
        postgresql_where=text(MOVING_ROWS),
    ),
    Index(
        "ix_messages_channel_unsent",
        "channel_id",
        "status",
        "created_at",
        sqlite_where=text(UNSENT),
        postgresql_where=text(UNSENT),
    ),
    sqlite_autoincrement=True,
)

worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", String(100), primary_key=True),
    Column("seen_at", Double, nullable=False),
)

# Live updates across processes on SQLite (`store.changes`): what a process without inbox pages
# of its own (a separate `frontdesk worker`) changed, for `frontdesk serve` to read. Ids only
# grow (AUTOINCREMENT), so "after the last one read" is exact; the writers keep the last few.
# PostgreSQL uses LISTEN/NOTIFY and leaves it empty.
live_changes = Table(
    "live_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", String(1000), nullable=False),
    sqlite_autoincrement=True,
)

# --- the rule-based bot: one per channel, every save a version; what conversations remember --

bots = Table(
    "bots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    # The current version (bot_versions.id); a rollback saves an old version again as a new one.
    Column("version_id", Integer, nullable=True),
    # The Messenger profile last pushed to the Page, and how that went (pushed / failed).
    Column("profile_pushed", JSON, nullable=True),
    Column("profile_status", String(20), nullable=True),
    Column("profile_error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

bot_versions = Table(
    "bot_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bot_id", Integer, ForeignKey("bots.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("format", String(10), nullable=False),
    Column("source", Text, nullable=False),
    Column("definition", JSON, nullable=False),
    # SHA-256 of the definition: what flow state is keyed by, and what compiled bots are
    # cached by (the same definition is the same bot, whatever its id).
    Column("digest", String(64), nullable=False),
    Column("note", String(200), nullable=True),
    Column("author_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("bot_id", "number", name="uq_bot_versions_bot_number"),
)

# A handler's own state for a conversation (the rule bot's flow position), as JSON it owns.
handler_states = Table(
    "handler_states",
    metadata,
    Column("conversation_id", Integer, ForeignKey("conversations.id"), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
)

contact_fields = Table(
    "contact_fields",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id"), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
)

contact_tags = Table(
    "contact_tags",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id"), primary_key=True),
    Column("tag", String(40), primary_key=True),
    Column("created_at", Double, nullable=False),
)

# --- the agent inbox: what agents add to a conversation, their canned answers, handoff settings

# Private notes (`note`, never sent) and what happened (`system`: "handed to a person: …"), in a
# conversation's transcript beside its messages. `user_id` has no foreign key: the record keeps
# the name of a person who has since left the team.
notes = Table(
    "notes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("user_name", String(100), nullable=True),
    Column("created_at", Double, nullable=False),
    Index("ix_notes_conversation", "conversation_id", "id"),
)

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("shortcut", String(30), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("workspace_id", "shortcut", name="uq_canned_responses_workspace_shortcut"),
    sqlite_autoincrement=True,
)

# A channel's handoff settings; a channel without a row uses the defaults (core.handoff).
handoff_settings = Table(
    "handoff_settings",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("keywords", JSON, nullable=True),
    Column("auto_reply", Text, nullable=True),
    Column("after_hours_reply", Text, nullable=True),
    # {"mon": "09:00-18:00", ...} in `timezone`: outside them, `after_hours_reply` is sent.
    Column("hours", JSON, nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("pickup_minutes", Integer, nullable=True),
    Column("fallback_reply", Text, nullable=True),
    Column("fallback_to_handler", Boolean, nullable=False, default=False),
    Column("idle_minutes", Integer, nullable=True),
    Column("updated_at", Double, nullable=False),
)
