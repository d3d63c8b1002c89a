"""The async engine for SQLite (WAL, embedded) or PostgreSQL (scale-out), from one URL."""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import inloop_sqlite
from .checkpoints import GUARD_PAGES, Checkpointer

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
"""No busy timeout: waiting for another process's write lock is `inloop_sqlite`'s job."""


def async_url(url: str) -> str:
    """`sqlite:///x.db` → aiosqlite, `postgresql://…` → psycopg (3, async)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername.startswith("postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {parsed.drivername!r}")


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic migrations)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return str(parsed.set(drivername="sqlite"))
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database (also
    as a URI: `file::memory:`, `mode=memory`)."""
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    if not parsed.drivername.startswith("sqlite") or ":memory:" in database:
        return None
    return None if parsed.query.get("mode") == "memory" else database


_THREADED: weakref.WeakSet[Engine] = weakref.WeakSet()
"""The engines made with `checkpoint_thread`."""


def checkpointer(engine: AsyncEngine) -> Checkpointer | None:
    """The thread that checkpoints an engine made with `checkpoint_thread=True` (a SQLite
    file's), else None. Start it once the engine has connected (the file exists, in WAL
    mode), stop it before `dispose()`."""
    path = sqlite_file(engine.url.render_as_string())
    if path is None or engine.sync_engine not in _THREADED:
        return None
    return Checkpointer(path)


def create_engine(
    url: str, *, checkpoint_thread: bool = False, guard: int = GUARD_PAGES, **kwargs: Any
) -> AsyncEngine:
    """With `checkpoint_thread`, the engine's SQLite connections leave checkpoints to a
    `checkpointer(engine)` until the log holds `guard` pages (they need one running)."""
    path = sqlite_file(url)
    if path is not None:
        # SQLite has one writer. One connection per process queues transactions in our own
        # event loop, in order, instead of in SQLite's busy handler, which sleeps 1-100 ms
        # between tries and starves the intake (docs/performance.md).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
    if make_url(url).drivername.startswith("sqlite"):
        kwargs.setdefault("async_creator", partial(inloop_sqlite.connect, path or ":memory:"))
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below), so the driver must not.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            if checkpoint_thread:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(guard)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # Take the write lock up front: a read that later writes would otherwise fail
            # with SQLITE_BUSY instead of waiting its turn.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        if checkpoint_thread and path is not None:
            _THREADED.add(engine.sync_engine)
    return engine
