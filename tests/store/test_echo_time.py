"""An echo of a message already filed under its mid: one statement says whether there is one
and keeps Meta's time of the first echo (read receipts go by it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import conversations as store
from frontdesk.store import outbox
from frontdesk.store.tables import messages

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0


async def test_the_first_echos_time_is_kept_and_an_unknown_mid_is_told(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "111", "Page", NOW)
        other_id = await store.add_channel(conn, "222", "Other Page", NOW)
        thread = await store.thread_for(conn, channel_id, "7001", NOW)
        await store.add_message(
            conn,
            thread,
            NOW,
            mid="m.1",
            direction="outbound",
            author="bot",
            text="Hi",
            status="sent",
        )
        assert await outbox.note_echo_time(conn, channel_id, "m.1", 1_795_000_000_500)
        # A redelivered echo, stamped later: the first time stays.
        assert await outbox.note_echo_time(conn, channel_id, "m.1", 1_795_000_009_000)
        # Not filed yet (the send's record is not committed), or another Page's mid.
        assert not await outbox.note_echo_time(conn, channel_id, "m.2", 1_795_000_000_600)
        assert not await outbox.note_echo_time(conn, other_id, "m.1", 1_795_000_000_600)
        stamps = (await conn.execute(select(messages.c.mid, messages.c.meta_timestamp))).all()
    assert [tuple(row) for row in stamps] == [("m.1", 1_795_000_000_500)]
