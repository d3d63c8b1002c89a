"""How long the queue's finished jobs and the raw webhook bodies are kept, and their pruning.

Neither is the record of a conversation (that is `messages`): a finished job is bookkeeping,
and a raw body is kept for inspection (an unknown Page, a malformed body, the doctor's evidence).
Without pruning both grow with every event for ever. A dead job is kept longer than a done one:
it is how a person finds out what failed, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store.tables import jobs, webhook_bodies

DAY = 24 * 3600.0


@dataclass(frozen=True)
class Retention:
    done_jobs: float = 1 * DAY
    dead_jobs: float = 30 * DAY
    webhook_bodies: float = 14 * DAY
    batch: int = 1000
    """Rows deleted per statement: each call is a short transaction, never a long lock."""


async def prune(conn: AsyncConnection, now: float, keep: Retention) -> int:
    """Delete the expired rows among the oldest `keep.batch` of each kind; returns how many
    went (call again until it returns 0).

    Only the oldest rows are read, through an index in id order: a finished job's id and time,
    like a body's, grow together closely enough, and a filter on the time alone would read the
    whole table whenever nothing has expired yet.
    """
    removed = 0
    for state, kept_for in (("done", keep.done_jobs), ("dead", keep.dead_jobs)):
        oldest = (
            select(jobs.c.id, jobs.c.finished_at)
            .where(jobs.c.state == state)
            .order_by(jobs.c.id)
            .limit(keep.batch)
        )
        removed += await _delete(conn, jobs.c.id, await _expired(conn, oldest, now - kept_for))
    oldest = (
        select(webhook_bodies.c.id, webhook_bodies.c.received_at)
        .order_by(webhook_bodies.c.id)
        .limit(keep.batch)
    )
    expired = await _expired(conn, oldest, now - keep.webhook_bodies)
    removed += await _delete(conn, webhook_bodies.c.id, expired)
    return removed


async def _expired(conn: AsyncConnection, oldest: Select[Any], cut: float) -> list[int]:
    return [row[0] for row in await conn.execute(oldest) if row[1] is not None and row[1] < cut]


async def _delete(conn: AsyncConnection, id_column: Any, ids: list[int]) -> int:
    if ids:
        await conn.execute(delete(id_column.table).where(id_column.in_(ids)))
    return len(ids)
