"""The in-loop SQLite driver: waiting for another process's write lock never blocks the loop,
and gives up with SQLite's own error after its busy wait."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from frontdesk.store import inloop_sqlite
from frontdesk.store.db import create_engine


def holder(path: Path) -> sqlite3.Connection:
    """Another process's connection, as far as SQLite can tell: it takes the write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('theirs')")
    return other


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "frontdesk.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return path


async def test_a_write_waits_for_another_writer_while_the_loop_runs_on(database: Path) -> None:
    engine = create_engine(f"sqlite:///{database}")
    other = holder(database)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    beat = asyncio.create_task(ticker())
    release = asyncio.create_task(release_later())
    try:
        async with engine.begin() as conn:
            waited_ticks = ticks
            await conn.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
        bodies = [row[0] for row in other.execute("SELECT body FROM notes ORDER BY id")]
    finally:
        beat.cancel()
        await release
        other.close()
        await engine.dispose()
    assert bodies == ["theirs", "ours"]  # ours began only after theirs committed
    assert waited_ticks >= 20  # the loop kept running the whole 0.3 s it waited


async def test_a_write_lock_never_released_ends_in_sqlites_own_error(database: Path) -> None:
    engine = create_engine(
        f"sqlite:///{database}",
        async_creator=partial(inloop_sqlite.connect, str(database), busy_wait=0.2),
    )
    other = holder(database)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
        other.execute("COMMIT")
        async with engine.begin() as conn:  # the lock is free again: the engine still works
            await conn.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
            count = (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one()
    finally:
        other.close()
        await engine.dispose()
    assert count == 2


async def test_errors_other_than_a_busy_lock_are_not_retried(database: Path) -> None:
    engine = create_engine(f"sqlite:///{database}")
    try:
        async with engine.begin() as conn:
            with pytest.raises(OperationalError, match="no such table"):
                await conn.execute(text("SELECT * FROM nowhere"))
    finally:
        await engine.dispose()
