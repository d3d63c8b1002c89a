"""The webhook intake's writes: raw bodies and their `event` jobs, for a whole group of
deliveries in one transaction (`web.webhook`). The caller owns the transaction.

A job holds the group's events of one conversation, in order (up to EVENTS_PER_JOB), and an
event that concerns no person has a job of its own: a reply's echo and its delivery receipt
usually arrive together, and each job costs its queue rows and their settling whatever it does
(docs/performance.md). Events of one conversation are still processed in the order Meta sent
them: all of a group's are in its jobs, in order, and the jobs of a key run in order.

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
    """One event of a stored body, for the worker: `body` indexes the group's bodies. Events of
    one `key` share jobs (`store`)."""

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
    """Insert `bodies` and the `event` jobs of `events` (`_jobs`); the bodies' ids, in order."""
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
    rows = [(key, json.dumps(payload)) for key, payload in _jobs(events, ids)]
    if rows and dialect == "postgresql":
        # One statement per 500 jobs: psycopg's executemany runs one per row, in a pipeline.
        for start in range(0, len(rows), ROWS_PER_INSERT):
            some = rows[start : start + ROWS_PER_INSERT]
            await conn.exec_driver_sql(
                _pg_jobs_sql(len(some)), (now, *(v for row in some for v in row))
            )
    elif rows:  # SQLite's executemany is one prepared statement, stepped per row
        await conn.exec_driver_sql(_SQLITE_JOBS, [(*row, now, now) for row in rows])
    return ids


EVENTS_PER_JOB = 16
"""Events of one conversation a job holds at most: a job runs inside one batch's transaction,
and a person who sent hundreds of events at once must not hold it (nor the intake) long."""


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


def _jobs(events: Sequence[EventJob], ids: list[int]) -> list[tuple[str | None, dict[str, Any]]]:
    """(key, payload) of each job: a key's events in order, EVENTS_PER_JOB at most to a job;
    an event without a key alone. Jobs come in the order of their first event."""
    found: list[tuple[str | None, dict[str, Any]]] = []
    open_jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        item = {"body_id": ids[event.body], "event": event.event, "standby": event.standby}
        held = open_jobs.get(event.key) if event.key is not None else None
        if held is not None and len(held) < EVENTS_PER_JOB:
            held.append(item)
            continue
        held = [item]
        found.append((event.key, {"page_id": event.page_id, "events": held}))
        if event.key is not None:
            open_jobs[event.key] = held
    return found
