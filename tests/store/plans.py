"""What SQLite plans for the statements a test's code runs (EXPLAIN QUERY PLAN): how the
look-up tests check that a query reads the index it was written for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Statements:
    """The statements run on an engine that `keep` keeps, with their parameters."""

    def __init__(self, keep: Callable[[str], bool]) -> None:
        self.keep = keep
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if self.keep(sql):
            self.seen.append((sql, params))


@contextmanager
def listening(engine: AsyncEngine, keep: Callable[[str], bool]) -> Iterator[Statements]:
    statements = Statements(keep)
    event.listen(engine.sync_engine, "before_cursor_execute", statements)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statements)


async def plans(engine: AsyncEngine, statements: Statements) -> list[tuple[str, str]]:
    """(statement, its plan) for each statement seen since the last call, the plan as one
    line per step."""
    found = []
    seen, statements.seen = statements.seen, []
    async with engine.connect() as conn:
        for sql, params in seen:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params))
            found.append((sql, "\n".join(str(row[-1]) for row in rows)))
    return found
