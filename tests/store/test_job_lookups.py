"""Look-ups of a conversation's jobs by key read the partial `ix_jobs_unfinished`: the
only index by key (migration 0013), so a query that does not ask for unfinished jobs in the
literal form the index is defined with would read the whole jobs table.

The plans are SQLite's (EXPLAIN QUERY PLAN); PostgreSQL applies the same predicate rule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import removal
from frontdesk.workers import checkup, erase, queue

from .plans import Statements, listening, plans

NOW = 1_795_000_000.0


def on_jobs_by_key(sql: str) -> bool:
    """A statement on `jobs` that names a key."""
    return "jobs" in sql and "key" in sql and not sql.lstrip().upper().startswith("INSERT")


@pytest.fixture
def statements(sqlite_engine: AsyncEngine) -> Iterator[Statements]:
    with listening(sqlite_engine, on_jobs_by_key) as seen:
        yield seen


async def test_look_ups_by_key_read_the_index_of_unfinished_jobs(
    sqlite_engine: AsyncEngine, statements: Statements
) -> None:
    async with sqlite_engine.begin() as conn:
        # Finished jobs of the same keys: what the index leaves out.
        await conn.execute(
            text(
                "INSERT INTO jobs (kind, key, payload, state, attempts, run_at, created_at) "
                "VALUES ('doctor', 'doctor:1', '{}', 'done', 1, 0, 0), "
                "('erase', 'erase:1', '{}', 'done', 1, 0, 0)"
            )
        )
        await checkup.watch(conn, 1, NOW)
        await erase.start(conn, 1, NOW)
        await removal.cancel_waiting_jobs(conn, checkup.DOCTOR, checkup.doctor_key(1))
        await queue.pick(conn, NOW, limit=10)

    found = await plans(sqlite_engine, statements)
    assert len(found) >= 4, found
    for sql, plan in found:
        assert "ix_jobs_unfinished" in plan, (sql, plan)
        assert "SCAN jobs" not in plan, (sql, plan)
