"""SQLite checkpoints from a thread (`store.checkpoints`): the thread copies the log into the
database file, the writer's own checkpoints wait for the guard, and the log stays bounded under
writes whether the thread keeps up or not. Small guards here: the default's 64 MiB would make
slow tests."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.app import create_app
from frontdesk.settings import Settings
from frontdesk.store.checkpoints import GUARD_PAGES, Checkpointer
from frontdesk.store.db import checkpointer, create_engine, sqlite_file

PAGE = 4096


GUARD = 64
"""The tests' guard, in pages (256 KiB): the log's bound, without writing 64 MiB."""
CHUNK = 16 * PAGE
"""A transaction's blob: 16 pages of log."""


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite file's engine that leaves checkpoints to a thread (up to the guard)."""
    engine = create_engine(f"sqlite:///{tmp_path}/wal.db", checkpoint_thread=True, guard=GUARD)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    yield engine
    await engine.dispose()


async def write(engine: AsyncEngine, transactions: int) -> None:
    """`transactions` transactions, each adding CHUNK to the log."""
    for _ in range(transactions):
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO blobs (data) VALUES (randomblob(:n))"), {"n": CHUNK}
            )


def log_size(engine: AsyncEngine) -> int:
    path = sqlite_file(engine.url.render_as_string())
    assert path is not None
    return os.path.getsize(f"{path}-wal")


async def one_pass(engine: AsyncEngine) -> Checkpointer:
    """The engine's checkpointer, run until it has made one checkpoint (10 s at most)."""
    checkpoints = checkpointer(engine)
    assert checkpoints is not None
    checkpoints.every = 0.01
    checkpoints.start()
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while checkpoints.passes < 1:
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint in 10 s"
            await asyncio.sleep(0.01)
    finally:
        checkpoints.stop()
    return checkpoints


async def test_the_engines_connections_checkpoint_only_at_the_guard(
    guarded: AsyncEngine, tmp_path: Path
) -> None:
    async with guarded.connect() as conn:
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == GUARD
    plain = create_engine(f"sqlite:///{tmp_path}/plain.db")
    try:
        async with plain.connect() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1000
        assert checkpointer(plain) is None  # checkpoints its own way: no thread for it
    finally:
        await plain.dispose()


async def test_the_thread_copies_the_log_into_the_database(tmp_path: Path) -> None:
    # A guard the writes below never reach: only the thread checkpoints.
    engine = create_engine(f"sqlite:///{tmp_path}/wal.db", checkpoint_thread=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
        await write(engine, 8)
        checkpoints = await one_pass(engine)
    finally:
        await engine.dispose()
    assert checkpoints.last is not None
    logged, copied = checkpoints.last
    assert logged >= 8 * CHUNK // PAGE  # nothing copied before the thread's checkpoint...
    assert copied == logged  # ...and all of it by it


@pytest.mark.parametrize("thread", [False, True], ids=["writer alone", "with the thread"])
async def test_the_log_stays_bounded_under_constant_writes(
    guarded: AsyncEngine, thread: bool
) -> None:
    checkpoints = checkpointer(guarded)
    assert checkpoints is not None
    if thread:
        checkpoints.start()
    written = 256  # 4,096 pages of log, 64 times the guard
    try:
        await write(guarded, written)
    finally:
        checkpoints.stop()
    # The log starts over once copied; without the guard it would hold every page written.
    # (The writer's checkpoint may find the thread's under way, and tries again at its next
    # commit: the log may pass the guard by a few transactions, never by half of them.)
    pages = (log_size(guarded) - 32) // (PAGE + 24)
    assert pages < written * CHUNK // PAGE // 2


def test_a_database_it_cannot_open_fails_its_start_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.db"
    checkpoints = Checkpointer(str(missing), every=0.01)
    with pytest.raises(sqlite3.OperationalError):
        checkpoints.start()
    assert not missing.exists()
    checkpoints.stop()  # nothing to stop: harmless


async def test_a_path_with_characters_a_uri_reserves(tmp_path: Path) -> None:
    folder = tmp_path / "a b?c#d%e"
    folder.mkdir()
    # Quoted in the URL, as a URL must be; the engine and the thread both open the same file.
    url = f"sqlite:///{quote(str(folder))}/wal.db"
    assert sqlite_file(url) == f"{folder}/wal.db"
    engine = create_engine(url, checkpoint_thread=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x)"))
        assert (await one_pass(engine)).passes >= 1
    finally:
        await engine.dispose()
    assert sorted(p.name for p in folder.iterdir())[0] == "wal.db"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
    ],
)
async def test_postgresql_and_memory_have_no_checkpointer(url: str) -> None:
    assert sqlite_file(url) is None
    # (An engine of this one SQLAlchemy warns about: the file look-up alone.)
    assert sqlite_file("sqlite:///file:shared?mode=memory&cache=shared&uri=true") is None
    engine = create_engine(url, checkpoint_thread=True)  # asked for, and nothing to do
    try:
        assert checkpointer(engine) is None
    finally:
        await engine.dispose()


def test_a_checkpointer_runs_once_at_a_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        Checkpointer(str(tmp_path / "x.db"), every=0)
    sqlite3.connect(tmp_path / "x.db").close()
    checkpoints = Checkpointer(str(tmp_path / "x.db"), every=0.01)
    checkpoints.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            checkpoints.start()
    finally:
        checkpoints.stop()
    checkpoints.stop()  # stopping again is harmless


async def test_the_app_checkpoints_its_own_sqlite_engine_while_it_runs(sqlite_url: str) -> None:
    settings = Settings(
        data_dir=Path(sqlite_file(sqlite_url) or ".").parent,
        database_url=sqlite_url,
        secret_keys=(Fernet.generate_key().decode(),),
    )
    app = create_app(settings, run_worker=False)

    def running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "sqlite-checkpoints"]

    assert running() == []
    async with app.router.lifespan_context(app):
        assert len(running()) == 1
        async with app.state.engine.connect() as conn:
            limit = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
        assert limit == GUARD_PAGES
    assert running() == []
