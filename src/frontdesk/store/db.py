"""The async engine for SQLite (WAL, embedded) or PostgreSQL (scale-out), from one URL."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import inloop_sqlite

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


def _sqlite_file(url: str) -> str:
    database = make_url(url).database
    return database if database else ":memory:"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if (
        make_url(url).drivername.startswith("sqlite")
        and ":memory:" not in url
        and url != "sqlite://"
    ):
        # SQLite has one writer. One connection per process queues transactions in our own
        # event loop, in order, instead of in SQLite's busy handler, which sleeps 1-100 ms
        # between tries and starves the intake (docs/performance.md).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
    if make_url(url).drivername.startswith("sqlite"):
        kwargs.setdefault("async_creator", partial(inloop_sqlite.connect, _sqlite_file(url)))
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below), so the driver must not.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # Take the write lock up front: a read that later writes would otherwise fail
            # with SQLITE_BUSY instead of waiting its turn.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
