"""The send job's and the receipts' look-ups of a conversation's messages read the partial
`ix_messages_conversation_moving` (messages still on their way: migration 0014), not the
conversation's history: they had walked every message of it, three times per message answered,
so a long conversation made each answer slower.

The plans are SQLite's (EXPLAIN QUERY PLAN): the statements spell the index's predicate
literally, which PostgreSQL needs as well, but its plans are not checked here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core.models import MessageStatus, can_advance
from frontdesk.store import conversations as store
from frontdesk.store import outbox
from frontdesk.store.tables import MOVING, MOVING_ROWS
from frontdesk.workers import sending

from .plans import Statements, listening, plans

NOW = 1_795_000_000.0
SENT_MS = 1_795_000_000_000


def by_conversation(sql: str) -> bool:
    """A statement that reads or moves messages by conversation."""
    return "messages.conversation_id" in sql and not sql.lstrip().upper().startswith("INSERT")


@pytest.fixture
def statements(sqlite_engine: AsyncEngine) -> Iterator[Statements]:
    with listening(sqlite_engine, by_conversation) as seen:
        yield seen


async def test_sends_and_receipts_read_the_index_of_messages_on_their_way(
    sqlite_engine: AsyncEngine, statements: Statements
) -> None:
    async with sqlite_engine.begin() as conn:
        channel = await store.add_channel(conn, "111", "Page", NOW)
        ana = await store.thread_for(conn, channel, "7001", NOW)
        for n in range(40):  # a history: answered, read
            await store.add_message(
                conn,
                ana,
                NOW,
                mid=f"m.in{n}",
                direction="inbound",
                author="contact",
                text="hi",
                status="received",
            )
            await store.add_message(
                conn,
                ana,
                NOW,
                mid=f"m.out{n}",
                direction="outbound",
                author="bot",
                text="hello",
                status="read",
                meta_timestamp=SENT_MS,
            )
        await store.add_message(
            conn,
            ana,
            NOW,
            mid=None,
            direction="outbound",
            author="bot",
            text="next",
            status="queued",
        )
        statements.seen.clear()
        queued = await outbox.oldest_queued(conn, ana.conversation_id)
        assert queued is not None
        assert queued.mid is None
        key = sending.send_key(channel, ana.conversation_id)
        assert await sending._NEXT_NEEDED.scalar(  # noqa: SLF001 - the statement under test
            conn, conversation_id=ana.conversation_id, key=key
        )
        for status in (MessageStatus.DELIVERED, MessageStatus.READ):
            for mids in ((), ("m.out1",)):
                await store.mark_outbound(conn, channel, "7001", SENT_MS, status, NOW, mids)

    found = await plans(sqlite_engine, statements)
    assert len(found) == 6, found
    for sql, plan in found:
        assert "ix_messages_conversation_moving" in plan, (sql, plan)
        assert "ix_messages_conversation " not in plan, (sql, plan)


def test_every_status_a_send_or_a_receipt_moves_is_in_the_index() -> None:
    # A receipt's statement reads only the index: a status it may move that the index left
    # out would never be moved.
    for target in (MessageStatus.DELIVERED, MessageStatus.READ):
        moved = {status.value for status in MessageStatus if can_advance(status, target)}
        assert moved <= set(MOVING), target
    assert MessageStatus.QUEUED.value in MOVING
    assert MOVING_ROWS == "status IN ('queued', 'sent', 'delivered')"
