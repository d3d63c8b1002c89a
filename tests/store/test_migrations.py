"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from frontdesk.store.db import sync_url
from frontdesk.store.migrate import downgrade, upgrade
from frontdesk.store.tables import metadata

pytestmark = pytest.mark.db


def test_migrated_database_matches_the_tables(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    downgrade(database_url, "base")
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    with engine.connect() as conn:
        assert {"jobs", "messages", "channels", "users", "sessions", "meta_apps"} <= set(
            inspect(conn).get_table_names()
        )
    engine.dispose()


def test_a_channel_from_before_accounts_survives_the_upgrade_unclaimed(database_url: str) -> None:
    downgrade(database_url, "0001")
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO channels (page_id, name, link, status, has_human_agent, created_at,"
                " updated_at) VALUES ('104857600012345', 'Lisbon Tees', 'inbox', 'active',"
                " false, 1.0, 1.0)"
            )
        )
    upgrade(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT page_id, name, workspace_id FROM channels")).all()
        assert [tuple(row) for row in rows] == [("104857600012345", "Lisbon Tees", None)]
        assert "workspaces" in inspect(conn).get_table_names()
    engine.dispose()


# --- 0009: ids never reused on SQLite ---------------------------------------------------------

NEVER_REUSED = {
    "users",
    "invitations",
    "channels",
    "channel_hooks",
    "page_logins",
    "contacts",
    "conversations",
    "messages",
    "canned_responses",
}

# A workspace of three people, a channel with a conversation, messages by the third person and
# a job still naming a message deleted since: what 0008 holds before the upgrade. Ids are the
# database's own (1, 2, 3 in a new database), as they would be.
BEFORE_0009 = (
    "INSERT INTO workspaces (name, created_at) VALUES ('Lisbon Tees', 1.0)",
    "INSERT INTO users (workspace_id, email, name, role, password_hash, created_at)"
    " VALUES (1, 'morgan@lisbon.test', 'Morgan', 'owner', 'h', 1.0),"
    " (1, 'ana@lisbon.test', 'Ana', 'agent', 'h', 1.0),"
    " (1, 'rui@lisbon.test', 'Rui', 'agent', 'h', 1.0)",
    "INSERT INTO sessions (id, user_id, csrf_token, created_at, seen_at)"
    " VALUES ('" + "a" * 64 + "', 2, 'c', 1.0, 1.0)",
    "INSERT INTO channels (workspace_id, page_id, name, link, status, has_human_agent,"
    " created_at, updated_at) VALUES (1, '104857600012345', 'Lisbon Tees', 'inbox', 'active',"
    " false, 1.0, 1.0)",
    "INSERT INTO contacts (channel_id, psid, created_at) VALUES (1, '7100', 1.0)",
    "INSERT INTO conversations (channel_id, contact_id, status, owner, assignee, created_at,"
    " unread) VALUES (1, 1, 'open', 'human', '3', 1.0, 0)",
    "INSERT INTO messages (conversation_id, channel_id, mid, direction, author, text, status,"
    " created_at, agent_id, agent_name) VALUES (1, 1, 'm.1', 'inbound', 'contact', 'Olá',"
    " 'received', 1.0, NULL, NULL), (1, 1, NULL, 'outbound', 'agent', 'Hi', 'queued', 2.0,"
    " 3, 'Rui'), (1, 1, NULL, 'outbound', 'agent', 'Bye', 'queued', 3.0, 3, 'Rui')",
    "INSERT INTO jobs (kind, key, payload, state, attempts, run_at, created_at)"
    " VALUES ('media', 'media:3', '{\"message_id\": 3, \"index\": 0}', 'ready', 0, 1.0, 1.0)",
    # Rui leaves (his id stays on his message and the conversation he held), and the message
    # a job still names is deleted.
    "DELETE FROM messages WHERE id = 3",
    "DELETE FROM users WHERE id = 3",
)


def _rows(conn: Any, table: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]  # noqa: S608


def test_the_upgrade_to_0009_keeps_every_row_and_hands_out_no_id_still_named(
    database_url: str,
) -> None:
    downgrade(database_url, "0008")
    engine = create_engine(sync_url(database_url))
    try:
        _upgrade_with_data(database_url, engine)
    finally:
        engine.dispose()


def _upgrade_with_data(database_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in BEFORE_0009:
            conn.execute(text(statement))
    with engine.connect() as conn:
        before = {table: _rows(conn, table) for table in NEVER_REUSED}
    upgrade(database_url, "0009")  # later revisions add columns: compare the rows at 0009
    with engine.begin() as conn:
        assert {table: _rows(conn, table) for table in NEVER_REUSED} == before
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        # The next person is not given Rui's id, still on his message and conversation; the
        # next message not the id a queued job names.
        person = conn.execute(
            text(
                "INSERT INTO users (workspace_id, email, name, role, password_hash, created_at)"
                " VALUES (1, 'bo@lisbon.test', 'Bo', 'agent', 'h', 2.0) RETURNING id"
            )
        ).scalar_one()
        message = conn.execute(
            text(
                "INSERT INTO messages (conversation_id, channel_id, direction, author, text,"
                " status, created_at) VALUES (1, 1, 'inbound', 'contact', 'Hm', 'received',"
                " 4.0) RETURNING id"
            )
        ).scalar_one()
    assert (person, message) == (4, 4)
    upgrade(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, metadata) == []


def test_the_tables_whose_ids_outlive_their_rows_count_up_for_ever_on_sqlite(
    sqlite_url: str,
) -> None:
    """(PostgreSQL takes ids from sequences, which never go back.)"""
    engine = create_engine(sync_url(sqlite_url))
    declared = {
        table.name
        for table in metadata.sorted_tables
        if table.dialect_options["sqlite"]["autoincrement"]
    }
    with engine.connect() as conn:
        built = {
            name
            for name, sql in conn.execute(text("SELECT name, sql FROM sqlite_master"))
            if sql is not None and "AUTOINCREMENT" in sql
        }
    engine.dispose()
    # And the live changes a separate worker leaves for the web process (0012): read by id.
    assert declared == built == NEVER_REUSED | {"live_changes"}


def test_a_page_has_one_live_channel_and_any_number_removed_with_their_history(
    database_url: str,
) -> None:
    """0011: the Page's uniqueness moves from every channel to the live ones; the channels,
    and the rows hanging off them, come through the upgrade as they were."""
    downgrade(database_url, "0008")
    engine = create_engine(sync_url(database_url))
    add = text(
        "INSERT INTO channels (page_id, name, link, status, has_human_agent, created_at,"
        " updated_at) VALUES ('104857600012345', 'Lisbon Tees', 'inbox', :status, false, 1.0, 1.0)"
    )
    with engine.begin() as conn:
        conn.execute(add, {"status": "removed"})
        conn.execute(
            text(
                "INSERT INTO contacts (channel_id, psid, created_at)"
                " SELECT id, '7100000000000001', 1.0 FROM channels"
            )
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(add, {"status": "active"})  # before 0011: one channel per Page, whatever
    upgrade(database_url)
    with engine.begin() as conn:
        conn.execute(add, {"status": "active"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(add, {"status": "active"})  # two live channels of one Page: never
    with engine.begin() as conn:
        conn.execute(add, {"status": "removed"})
        rows = conn.execute(text("SELECT status FROM channels ORDER BY id")).scalars().all()
        assert rows == ["removed", "active", "removed"]
        psids = conn.execute(text("SELECT psid FROM contacts")).scalars().all()
        assert psids == ["7100000000000001"]
    engine.dispose()
