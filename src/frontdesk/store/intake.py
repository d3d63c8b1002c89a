"""The webhook intake's writes: raw bodies and one `event` job per event, for a whole group of
deliveries in one transaction (`web.webhook`). The caller owns the transaction.

The hottest write path of the service: three statements per group whatever its size (the
known Pages, one multi-row INSERT of bodies, one of jobs: an executemany on SQLite, a multi-row
INSERT on PostgreSQL), each built once. They are SQL of our own, run by the driver:
SQLAlchemy's processing of each row's parameters was ~8 % of the intake's CPU per request.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from .channels import REMOVED


@dataclass(frozen=True, slots=True)
class Body:
    received_at: float
    body: bytes
    state: str
    """`stored`, `unknown_page`, `partly_unknown`, `malformed` or `refused`."""
    note: str | None


@dataclass(frozen=True, slots=True)
class EventJob:
    """One event of a stored body, for the worker: `body` indexes the group's bodies."""

    body: int
    page_id: str
    key: str | None
    event: Any
    """The event's raw JSON value, as Meta sent it."""
    standby: bool


async def known_pages(conn: AsyncConnection, page_ids: Sequence[str]) -> set[str]:
    """Which of `page_ids` have a channel (a removed one does not count)."""
    if not page_ids:
        return set()
    if conn.dialect.name == "postgresql":
        rows = await conn.exec_driver_sql(_KNOWN_ANY, (list(page_ids),))
        return {row[0] for row in rows}
    known: set[str] = set()
    for start in range(0, len(page_ids), ROWS_PER_INSERT):  # SQLite's limit on parameters
        chunk = tuple(page_ids[start : start + ROWS_PER_INSERT])
        known.update(row[0] for row in await conn.exec_driver_sql(_known_in(len(chunk)), chunk))
    return known


_KNOWN = f"SELECT page_id FROM channels WHERE status <> '{REMOVED}' AND page_id "  # noqa: S608
_KNOWN_ANY = _KNOWN + "= ANY(%s)"


@functools.cache
def _known_in(count: int) -> str:
    return _KNOWN + f"IN ({', '.join(['?'] * count)})"


_SQLITE_JOBS = (
    "INSERT INTO jobs (kind, key, payload, state, attempts, run_at, created_at) "
    "VALUES ('event', ?, ?, 'ready', 0, ?, ?)"
)


async def store(
    conn: AsyncConnection, bodies: Sequence[Body], events: Sequence[EventJob], now: float
) -> list[int]:
    """Insert `bodies` and an `event` job for each of `events`; the bodies' ids, in order."""
    dialect = conn.dialect.name
    ids: list[int] = []
    for start in range(0, len(bodies), ROWS_PER_INSERT):
        chunk = bodies[start : start + ROWS_PER_INSERT]
        inserted = await conn.exec_driver_sql(
            _bodies_sql(dialect, len(chunk)),
            tuple(value for b in chunk for value in (b.received_at, b.body, b.state, b.note)),
        )
        # One multi-row INSERT gives ascending ids in VALUES order: SQLite gives each new row
        # the largest rowid + 1 while we hold the write lock, and PostgreSQL draws the
        # sequence row by row. So the sorted ids pair with `bodies` in order.
        ids += sorted(row[0] for row in inserted)
    if events and dialect == "postgresql":
        # One statement per 500 jobs: psycopg's executemany runs one per row, in a pipeline.
        for start in range(0, len(events), ROWS_PER_INSERT):
            jobs = events[start : start + ROWS_PER_INSERT]
            await conn.exec_driver_sql(
                _pg_jobs_sql(len(jobs)),
                (now, *(v for e in jobs for v in (e.key, json.dumps(_payload(e, ids))))),
            )
    elif events:  # SQLite's executemany is one prepared statement, stepped per row
        await conn.exec_driver_sql(
            _SQLITE_JOBS,
            [(e.key, json.dumps(_payload(e, ids)), now, now) for e in events],
        )
    return ids


ROWS_PER_INSERT = 500
"""Bodies per INSERT (4 parameters each), Pages per look-up: well under both databases' limits
on parameters (32,766 and 65,535), whatever a group holds."""


@functools.cache
def _bodies_sql(dialect: str, rows: int) -> str:
    """The multi-row INSERT for `rows` bodies, in the driver's parameter style."""
    mark = "?" if dialect == "sqlite" else "%s"
    row = f"({mark}, {mark}, {mark}, {mark})"
    values = ", ".join([row] * rows)  # placeholders only: every value is a bound parameter
    return (
        f"INSERT INTO webhook_bodies (received_at, body, state, note) VALUES {values} RETURNING id"  # noqa: S608
    )


@functools.cache
def _pg_jobs_sql(rows: int) -> str:
    """PostgreSQL: `rows` event jobs in one INSERT, the time given once."""
    values = ", ".join(["(%s, %s)"] * rows)  # placeholders only: every value is bound
    given = f"(SELECT CAST(%s AS double precision) AS now) AS t, (VALUES {values}) AS v(k, p)"
    columns = "kind, key, payload, state, attempts, run_at, created_at"
    chosen = "'event', k, CAST(p AS json), 'ready', 0, t.now, t.now"
    return f"INSERT INTO jobs ({columns}) SELECT {chosen} FROM {given}"  # noqa: S608


def _payload(event: EventJob, ids: list[int]) -> dict[str, Any]:
    return {
        "body_id": ids[event.body],
        "page_id": event.page_id,
        "event": event.event,
        "standby": event.standby,
    }
