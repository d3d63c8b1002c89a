"""Removing a channel from its workspace: its Page token goes and its queued replies fail; its
history is kept (the channel stays, marked removed) or deleted with every row that hangs off it.
Callers own the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import FailureCode, MessageStatus

from .channels import REMOVED
from .tables import channels, jobs, messages, metadata

MAX_DEPTH = 10
"""Tables hanging off a channel go a few levels deep (channel → conversation → message); a
deeper chain means a foreign-key cycle, which is a schema bug to be told about."""


async def mark_removed(conn: AsyncConnection, channel_id: int, reason: str, now: float) -> None:
    """Keep the channel for its history: no token, status removed (no events are taken for it,
    no banner is raised)."""
    await conn.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(page_token=None, status=REMOVED, status_reason=reason, updated_at=now)
    )


async def fail_queued(conn: AsyncConnection, channel_id: int, reason: str) -> int:
    """Replies still waiting to be sent fail with `reason` (code `channel_removed`): the Page
    can no longer send them."""
    done = await conn.execute(
        update(messages)
        .where(
            messages.c.channel_id == channel_id,
            messages.c.direction == "outbound",
            messages.c.status == "queued",
        )
        .values(
            status=MessageStatus.FAILED.value,
            failure_reason=reason,
            failure_code=FailureCode.CHANNEL_REMOVED.value,
        )
    )
    return int(done.rowcount)


async def cancel_waiting_jobs(conn: AsyncConnection, kind: str, key: str) -> int:
    """Jobs of `kind` and `key` not yet taken by a worker are dropped (a removed channel's next
    doctor examination, say)."""
    done = await conn.execute(
        delete(jobs).where(jobs.c.kind == kind, jobs.c.key == key, jobs.c.state == "ready")
    )
    return int(done.rowcount)


def _hanging_off(table: Table) -> list[tuple[Table, Any, Any]]:
    """(child table, its column, the column of `table` it names) for every foreign key into
    `table` whose rows go with the row they name. A key that the database sets to NULL on
    delete names something that outlives it, and is left to the database."""
    found = []
    for child in metadata.sorted_tables:
        for key in child.foreign_keys:
            if key.column.table is table and (key.ondelete or "").upper() != "SET NULL":
                found.append((child, key.parent, key.column))
    return found


async def _delete(
    conn: AsyncConnection, table: Table, where: ColumnElement[bool], depth: int = 0
) -> None:
    if depth > MAX_DEPTH:
        raise RuntimeError(f"foreign keys into {table.name} go deeper than {MAX_DEPTH} tables")
    for child, column, target in _hanging_off(table):
        await _delete(conn, child, and_(column.in_(select(target).where(where))), depth + 1)
    await conn.execute(delete(table).where(where))


async def delete_channel(conn: AsyncConnection, channel_id: int) -> None:
    """The channel and its whole history: contacts, conversations, messages, and whatever else
    names them (the schema's foreign keys say what), children first."""
    await _delete(conn, channels, channels.c.id == channel_id)
