"""A workspace's channels (its connected Pages) as the console shows them. Callers own the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import channels

_COLUMNS = (
    channels.c.id,
    channels.c.workspace_id,
    channels.c.page_id,
    channels.c.name,
    channels.c.link,
    channels.c.status,
    channels.c.status_reason,
    channels.c.created_at,
    channels.c.updated_at,
)


@dataclass(frozen=True)
class ChannelSummary:
    id: int
    workspace_id: int
    page_id: str
    name: str
    link: str
    status: str
    status_reason: str | None
    created_at: float
    updated_at: float


def _summary(row: Any) -> ChannelSummary:
    return ChannelSummary(
        int(row.id),
        int(row.workspace_id),
        str(row.page_id),
        str(row.name),
        str(row.link),
        str(row.status),
        row.status_reason,
        float(row.created_at),
        float(row.updated_at),
    )


async def of_workspace(conn: AsyncConnection, workspace_id: int) -> list[ChannelSummary]:
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(channels.c.workspace_id == workspace_id)
        .order_by(channels.c.name, channels.c.id)
    )
    return [_summary(row) for row in rows]


async def in_workspace(
    conn: AsyncConnection, workspace_id: int, channel_id: int
) -> ChannelSummary | None:
    """The channel if it belongs to `workspace_id`; None for another's, an unclaimed one, or
    none at all: the three look the same to the caller."""
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                channels.c.id == channel_id, channels.c.workspace_id == workspace_id
            )
        )
    ).first()
    return None if row is None else _summary(row)
