"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
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
