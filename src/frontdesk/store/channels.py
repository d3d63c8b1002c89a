"""A workspace's channels (its connected Pages) as the console shows them, and the console's
changes to them: connected, adopted, relinked, flagged. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import channels

ACTIVE = "active"
REMOVED = "removed"
"""Removed from the workspace with its history kept: no token, no events, no sends."""
QUIET = frozenset({ACTIVE, REMOVED})
"""Statuses that raise no banner; every other one (a doctor's or the send pipeline's flag) does."""

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
    channels.c.erase_requested_at,
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
    erasing: bool = False
    """Removed, its history being deleted (the `erase` job deletes the channel last)."""


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
        row.erase_requested_at is not None,
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


async def flagged(conn: AsyncConnection, workspace_id: int) -> list[ChannelSummary]:
    """The workspace's channels with a problem, for the banner on every console page."""
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(channels.c.workspace_id == workspace_id, channels.c.status.not_in(QUIET))
        .order_by(channels.c.name, channels.c.id)
    )
    return [_summary(row) for row in rows]


@dataclass(frozen=True)
class Holder:
    """Who has a channel of a Page already: a workspace, or none (not yet claimed)."""

    channel_id: int
    workspace_id: int | None
    status: str
    erasing: bool = False
    """Its history is being deleted: it cannot be connected again until that is done."""


async def holders(
    conn: AsyncConnection, page_ids: list[str], workspace_id: int
) -> dict[str, Holder]:
    """Page id → the channel that connecting it from `workspace_id` meets, for the Pages that
    have one: the Page's live channel, whoever has it; else the workspace's own channel of it
    removed with its history kept (connecting the Page again brings that history back). Another
    workspace's removed channel holds nothing: its history stays there, the Page is free."""
    if not page_ids:
        return {}
    rows = await conn.execute(
        select(
            channels.c.id,
            channels.c.page_id,
            channels.c.workspace_id,
            channels.c.status,
            channels.c.erase_requested_at,
        )
        .where(
            channels.c.page_id.in_(page_ids),
            or_(channels.c.status != REMOVED, channels.c.workspace_id == workspace_id),
        )
        .order_by(channels.c.id)
    )
    found: dict[str, Holder] = {}
    for row in rows:
        page_id = str(row.page_id)
        held = found.get(page_id)
        # The live channel wins over removed ones (there is at most one live), and the newest
        # removed one over older ones.
        if held is None or held.status == REMOVED:
            found[page_id] = Holder(
                int(row.id), row.workspace_id, str(row.status), row.erase_requested_at is not None
            )
    return found


async def add(
    conn: AsyncConnection,
    workspace_id: int,
    page_id: str,
    name: str,
    page_token: bytes,
    now: float,
) -> int:
    """A new channel of the workspace, connected (status active), answered by the inbox."""
    result = await conn.execute(
        insert(channels)
        .values(
            workspace_id=workspace_id,
            page_id=page_id,
            name=name,
            page_token=page_token,
            link="inbox",
            status=ACTIVE,
            has_human_agent=False,
            created_at=now,
            updated_at=now,
        )
        .returning(channels.c.id)
    )
    return int(result.scalar_one())


async def adopt(
    conn: AsyncConnection, channel_id: int, workspace_id: int, name: str, now: float
) -> None:
    """The workspace takes a channel that had none (or keeps its own), with the Page's name as
    Meta gives it now. Its token is replaced apart (`workers.sending.reconnect`)."""
    await conn.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(workspace_id=workspace_id, name=name, updated_at=now)
    )


async def set_link(conn: AsyncConnection, channel_id: int, link: str, now: float) -> None:
    """Who answers the channel from its next event on (the worker reads it per event)."""
    await conn.execute(
        update(channels).where(channels.c.id == channel_id).values(link=link, updated_at=now)
    )
