"""The inbox list and its search for a workspace with hundreds of Pages: SQLite refuses a
compound SELECT of more than 500 terms, so the per-Page walks are joined in parts."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import accounts, inbox
from frontdesk.store import conversations as store
from frontdesk.store.tables import channels

pytestmark = pytest.mark.db

PAGES = 300
"""Two branches each for the open list (open and pending): 600 terms in one compound."""


async def test_a_workspace_with_hundreds_of_pages_lists_and_searches(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        workspace = await accounts.create_workspace(conn, "Many Pages", 0.0)
        ids = [
            await store.add_channel(conn, f"1000{n:06d}", f"Page {n}", 0.0) for n in range(PAGES)
        ]
        await conn.execute(
            update(channels).where(channels.c.id.in_(ids)).values(workspace_id=workspace.id)
        )
        for n, channel_id in enumerate((ids[0], ids[150], ids[-1])):
            thread = await store.thread_for(conn, channel_id, f"psid-{n}", 10.0 + n)
            await store.add_message(
                conn,
                thread,
                10.0 + n,
                mid=f"m_{n}",
                direction="inbound",
                author="contact",
                text=f"parcel number {n}",
                status="received",
            )
    async with engine.connect() as conn:
        rows, more = await inbox.page(conn, workspace.id, 0, inbox.Filters())
        found, _ = await inbox.page(conn, workspace.id, 0, inbox.Filters(query="parcel"))
    assert [row.channel_id for row in rows] == [ids[-1], ids[150], ids[0]]  # newest first
    assert more is False
    assert {row.channel_id for row in found} == {ids[0], ids[150], ids[-1]}
