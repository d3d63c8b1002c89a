"""Look-ups of a conversation's jobs by key read the partial `ix_jobs_unfinished`: the
only index by key (migration 0013), so a query that does not ask for unfinished jobs in the
literal form the index is defined with would read the whole jobs table.

The plans are SQLite's (EXPLAIN QUERY PLAN); PostgreSQL applies the same predicate rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import removal
from frontdesk.workers import checkup, erase, queue

NOW = 1_795_000_000.0


class Statements:
    """Every statement on `jobs` that names a key, as run, with its parameters."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if "jobs" in sql and "key" in sql and not sql.lstrip().upper().startswith("INSERT"):
            self.seen.append((sql, params))


@pytest.fixture
def statements(sqlite_engine: AsyncEngine) -> Iterator[Statements]:
    seen = Statements()
    event.listen(sqlite_engine.sync_engine, "before_cursor_execute", seen)
    yield seen
    event.remove(sqlite_engine.sync_engine, "before_cursor_execute", seen)


async def plans(engine: AsyncEngine, statements: Statements) -> list[tuple[str, str]]:
    """(statement, its plan) for each statement seen, the plan as one line per step."""
    found = []
    seen, statements.seen = statements.seen, []
    async with engine.connect() as conn:
        for sql, params in seen:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params))
            found.append((sql, "\n".join(str(row[-1]) for row in rows)))
    return found


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
