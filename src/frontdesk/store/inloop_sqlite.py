"""SQLite for SQLAlchemy's asyncio engine, run in the event loop's own thread (aiosqlite's shape).

aiosqlite runs every call in a thread of its own: a statement costs four crossings (open the
cursor, execute, fetch, close), each a queue put, a thread wake-up and a loop wake-up, about
0.5 ms of CPU on our 2-core machine for a statement SQLite itself answers in 5 µs. The worker
runs a dozen statements per event, and the intake a dozen per group commit, so the crossings
were most of their cost (docs/performance.md).

Here each call runs at once, in the caller's thread. That blocks the event loop for as long as
SQLite works: microseconds for the indexed statements Frontdesk runs, so queries must stay
indexed (a slow query now delays every request of the process, not just its own caller).
The one wait that could be long is the write lock held by ANOTHER process (a separate
`frontdesk worker` on the same file): the driver never waits for it inside SQLite (busy timeout
0) but retries `BEGIN IMMEDIATE` with asyncio sleeps, so the loop keeps serving meanwhile.

Only what SQLAlchemy's aiosqlite dialect uses of a connection is provided; `db.create_engine`
plugs `connect` in as the engine's `async_creator`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_WAIT = 5.0
"""Seconds `BEGIN IMMEDIATE` keeps trying while another process holds the write lock."""


def _is_begin(sql: str) -> bool:
    return sql.lstrip()[:5].upper() == "BEGIN"


def _locked(err: sqlite3.OperationalError) -> bool:
    return getattr(err, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_wait: float) -> None:
        self._cursor = cursor
        self._busy_wait = busy_wait

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        if not _is_begin(sql):
            self._cursor.execute(sql, parameters)
            return self
        # Taking the write lock: wait for another process's transaction without blocking
        # the loop (SQLite's own busy handler would sleep inside this thread).
        deadline = time.monotonic() + self._busy_wait
        pause = 0.001
        while True:
            try:
                self._cursor.execute(sql, parameters)
                return self
            except sqlite3.OperationalError as err:
                if not _locked(err) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None


class _RunNow:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses directly to set the
    isolation level: the request runs at once."""

    def put_nowait(self, request: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = request
        try:
            future.set_result(function())
        except Exception as err:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(err)


class Connection:
    def __init__(self, connection: sqlite3.Connection, busy_wait: float) -> None:
        self._conn = connection
        self._tx = _RunNow()
        self._busy_wait = busy_wait

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The connection itself, for statements run without SQLAlchemy (`store.prepared`)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor(), self._busy_wait)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


async def connect(database: str, *, busy_wait: float = BUSY_WAIT, **kwargs: Any) -> Connection:
    """`busy_wait`: seconds to keep trying to begin while another process writes."""
    # The pool may close a connection from the garbage collector's thread.
    kwargs["check_same_thread"] = False
    connection = sqlite3.connect(database, **kwargs)
    connection.execute("PRAGMA busy_timeout=0")  # waits happen in Cursor.execute, not here
    return Connection(connection, busy_wait)
