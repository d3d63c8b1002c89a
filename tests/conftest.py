"""Shared fixtures: a fresh, migrated database per test — SQLite by default, PostgreSQL when
FRONTDESK_TEST_DATABASE_URL points at one (`make test` runs the database tests both ways)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store.db import create_engine, sync_url
from frontdesk.store.migrate import upgrade

TEST_DATABASE_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL", "")

# The `browser` fixture of the -m browser tests (headless Chromium, launched one way).
pytest_plugins = ("tests.browser",)

# Property tests draw the same examples on every run: CI must not go red on a case that a
# previous run never met. Explore more locally with HYPOTHESIS_PROFILE=explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database that no other test sees."""
    if not TEST_DATABASE_URL:
        yield _migrated_sqlite(tmp_path)
        return
    schema = "t_" + secrets.token_hex(6)
    admin = create_sync_engine(sync_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = make_url(TEST_DATABASE_URL)
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _migrated_sqlite(folder: Path) -> str:
    url = f"sqlite:///{folder}/frontdesk.db"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database whichever database the run is for: the tests of what only
    SQLite does (PostgreSQL has no such thing to test) run in both passes, never skipped."""
    return _migrated_sqlite(tmp_path)


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
