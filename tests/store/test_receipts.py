"""Delivery and read receipts (`store.mark_outbound`): one statement moves a person's Page
messages forward, by the watermark (Meta's time of each, from its echo) or by mid, never back,
and touches nobody else's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from frontdesk.core.models import MessageStatus
from frontdesk.store import conversations as store
from frontdesk.store.tables import contacts, messages

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0
SENT_MS = 1_795_000_000_000
DELIVERED, READ = MessageStatus.DELIVERED, MessageStatus.READ


async def page_message(
    conn: AsyncConnection,
    thread: store.Thread,
    mid: str | None,
    meta_ms: int | None,
    status: str = "sent",
) -> int:
    return await store.add_message(
        conn,
        thread,
        NOW,
        mid=mid,
        direction="outbound",
        author="bot",
        text=f"message {mid}",
        status=status,
        meta_timestamp=meta_ms,
    )


async def statuses(
    conn: AsyncConnection,
) -> dict[str | None, tuple[str, float | None, float | None]]:
    rows = await conn.execute(
        select(messages.c.mid, messages.c.status, messages.c.delivered_at, messages.c.read_at)
    )
    return {row.mid: (row.status, row.delivered_at, row.read_at) for row in rows}


async def test_the_watermark_and_the_mids_each_move_messages_and_nothing_moves_back(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        channel = await store.add_channel(conn, "111", "Page", NOW)
        ana = await store.thread_for(conn, channel, "7001", NOW)
        bea = await store.thread_for(conn, channel, "7002", NOW)
        await page_message(conn, ana, "m.early", SENT_MS)
        await page_message(conn, ana, "m.late", SENT_MS + 5_000)
        await page_message(conn, ana, "m.no_echo_yet", None)
        await page_message(conn, ana, None, None, status="queued")  # not sent: no receipt
        await page_message(conn, ana, "m.failed", SENT_MS, status="failed")
        await page_message(conn, bea, "m.bea", SENT_MS)

        # Meta's watermark covers m.early; m.no_echo_yet is named.
        assert (
            await store.mark_outbound(
                conn, channel, "7001", SENT_MS + 1_000, DELIVERED, NOW + 1, ("m.no_echo_yet",)
            )
            == 2
        )
        # A read by the watermark alone: what its time covers, delivered or still sent.
        assert await store.mark_outbound(conn, channel, "7001", SENT_MS + 5_000, READ, NOW + 2) == 2
        # A late delivery receipt moves nothing back; a repeated read changes nothing.
        assert (
            await store.mark_outbound(
                conn, channel, "7001", SENT_MS + 9_000, DELIVERED, NOW + 3, ("m.early", "m.late")
            )
            == 0
        )
        assert await store.mark_outbound(conn, channel, "7001", SENT_MS + 9_000, READ, NOW + 4) == 0
        found = await statuses(conn)

    assert found == {
        "m.early": ("read", NOW + 1, NOW + 2),
        "m.late": ("read", None, NOW + 2),
        "m.no_echo_yet": ("delivered", NOW + 1, None),
        None: ("queued", None, None),
        "m.failed": ("failed", None, None),
        "m.bea": ("sent", None, None),  # another person's: untouched
    }


@pytest.mark.parametrize("count", [1, 3, store.MIDS_MOST, store.MIDS_MOST + 6])
async def test_every_named_mid_moves_however_many_a_receipt_names(
    engine: AsyncEngine, count: int
) -> None:
    async with engine.begin() as conn:
        channel = await store.add_channel(conn, "111", "Page", NOW)
        ana = await store.thread_for(conn, channel, "7001", NOW)
        mids = [f"m.{n}" for n in range(count + 2)]
        for mid in mids:
            await page_message(conn, ana, mid, None)
        named = tuple(mids[:count])
        assert await store.mark_outbound(conn, channel, "7001", 0, DELIVERED, NOW, named) == count
        found = await statuses(conn)
    assert sorted(mid for mid, (status, _, _) in found.items() if status == "delivered") == sorted(
        named
    )


async def test_a_receipt_from_someone_never_seen_moves_nothing_and_files_nobody(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        channel = await store.add_channel(conn, "111", "Page", NOW)
        other = await store.add_channel(conn, "222", "Other Page", NOW)
        ana = await store.thread_for(conn, channel, "7001", NOW)
        await page_message(conn, ana, "m.1", SENT_MS)
        assert await store.mark_outbound(conn, channel, "7999", SENT_MS, READ, NOW, ("m.1",)) == 0
        # The same person id on another Page is another person.
        assert await store.mark_outbound(conn, other, "7001", SENT_MS, READ, NOW, ("m.1",)) == 0
        people = (await conn.execute(select(func.count()).select_from(contacts))).scalar_one()
        found = await statuses(conn)
    assert (people, found["m.1"][0]) == (1, "sent")


async def test_a_receipt_moves_messages_to_delivered_or_read_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        channel = await store.add_channel(conn, "111", "Page", NOW)
        with pytest.raises(ValueError, match="delivered or read"):
            await store.mark_outbound(conn, channel, "7001", 0, MessageStatus.SENT, NOW)
