"""A message's attachment outcomes: merged into the object as received, and nothing written for
an attachment or a message that is not there."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import attachments
from frontdesk.store import conversations as store

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0
URL = "https://scontent.xx.fbcdn.net/v/t1.15752-9/123_n.jpg?oe=6A1C32D0"


async def new_message(engine: AsyncEngine, items: object) -> int:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "104857600012345", "Lisbon Tees", NOW)
        thread = await store.thread_for(conn, channel_id, "7301234567890123", NOW)
        return await store.add_message(
            conn,
            thread,
            NOW,
            mid="m_Img0001",
            direction="inbound",
            author="contact",
            attachments=items,
            status="received",
        )


async def test_an_outcome_is_merged_into_its_attachment(engine: AsyncEngine) -> None:
    message_id = await new_message(
        engine, [{"type": "image", "url": URL}, {"type": "file", "url": URL}]
    )
    stored = {"sha256": "a" * 64, "size": 3, "content_type": "image/png", "name": "x.png"}
    async with engine.begin() as conn:
        assert await attachments.record(conn, message_id, 1, {attachments.STORED: stored})
    async with engine.connect() as conn:
        items = await attachments.of_message(conn, message_id)
    assert items == [{"type": "image", "url": URL}, {"type": "file", "url": URL, "stored": stored}]
    assert items is not None
    assert [attachments.settled(item) for item in items] == [False, True]


async def test_nothing_is_written_where_there_is_no_attachment(engine: AsyncEngine) -> None:
    message_id = await new_message(engine, [{"type": "image", "url": URL}, "junk"])
    outcome = {attachments.FAILED: "Not downloaded: the file is no longer there (HTTP 404)."}
    async with engine.begin() as conn:
        for index in (-1, 1, 2):
            assert not await attachments.record(conn, message_id, index, outcome)
        assert not await attachments.record(conn, message_id + 1, 0, outcome)
        assert await attachments.of_message(conn, message_id + 1) is None
        assert await attachments.of_message(conn, message_id) == [
            {"type": "image", "url": URL},
            "junk",
        ]
