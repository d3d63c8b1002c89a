"""Removing a channel from its workspace: its Page token goes and its queued replies fail; its
history is kept (the channel stays, marked removed) or deleted with every row that hangs off it,
a bounded batch at a time (`erase_batch`, run by the `erase` job: each batch its own
transaction). Callers own the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import FailureCode, MessageStatus

from .channels import REMOVED
from .tables import channels, jobs, messages, metadata, not_taken

MAX_DEPTH = 10
"""Tables hanging off a channel go a few levels deep (channel → conversation → message); a
deeper chain means a foreign-key cycle, which is a schema bug to be told about."""


async def mark_removed(
    conn: AsyncConnection, channel_id: int, reason: str, now: float, *, erase: bool = False
) -> None:
    """No token, status removed: no events are taken for it, nothing is sent, no banner is
    raised. Its history is kept, or with `erase` marked for deletion (`erase_batch`)."""
    values: dict[str, Any] = {
        "page_token": None,
        "status": REMOVED,
        "status_reason": reason,
        "updated_at": now,
    }
    if erase:
        values["erase_requested_at"] = now
    await conn.execute(update(channels).where(channels.c.id == channel_id).values(**values))


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
        delete(jobs).where(jobs.c.kind == kind, jobs.c.key == key, not_taken())
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


def _key(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


async def _trim(
    conn: AsyncConnection, table: Table, where: ColumnElement[bool], budget: int, depth: int = 0
) -> int:
    """Delete at most `budget` rows of `table` matching `where` and of what hangs off them,
    children first; returns how many. Fewer than `budget` means none is left.

    A table others hang off is taken `budget` rows at a time (by its key): their children go
    first, then those rows once nothing names them. Each query reads at most `budget` rows
    through an index on the foreign key, however many the channel has in all."""
    if depth > MAX_DEPTH:
        raise RuntimeError(f"foreign keys into {table.name} go deeper than {MAX_DEPTH} tables")
    key = _key(table)
    children = _hanging_off(table)
    if not children:
        picked = select(*key).where(where).limit(budget)
        gone = delete(table).where(
            key[0].in_(picked) if len(key) == 1 else tuple_(*key).in_(picked)
        )
        return int((await conn.execute(gone)).rowcount)
    if len(key) != 1:
        raise RuntimeError(f"{table.name} has children but no single-column key")
    ids = [row[0] for row in await conn.execute(select(key[0]).where(where).limit(budget))]
    if not ids:
        return 0
    deleted = 0
    for child, column, target in children:
        if target is not key[0]:
            raise RuntimeError(f"{child.name} names {table.name} by another column than its key")
        deleted += await _trim(conn, child, column.in_(ids), budget - deleted, depth + 1)
        if deleted >= budget:
            return deleted
    # Nothing hangs off these rows any more: as many of them go as the budget allows.
    done = await conn.execute(delete(table).where(key[0].in_(ids[: budget - deleted])))
    return deleted + int(done.rowcount)


async def erase_batch(conn: AsyncConnection, channel_id: int, budget: int) -> bool:
    """Delete at most `budget` rows of the channel's history (contacts, conversations,
    messages and whatever else names them: the schema's foreign keys say what), children
    first, and the channel itself once nothing is left; True when the channel is gone.

    Any batch may be the last one done before a crash: the next picks up where it stopped."""
    if budget < 1:
        raise ValueError("a batch deletes at least one row")
    await _trim(conn, channels, channels.c.id == channel_id, budget)
    left = await conn.execute(select(channels.c.id).where(channels.c.id == channel_id))
    return left.first() is None
