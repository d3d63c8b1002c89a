"""The change feed on both databases: a change reaches the hub only after its transaction
commits (never after a rollback), once per transaction, to its own workspace only; payloads
from elsewhere are refused; a connection that falls behind is told to reload."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import accounts, changes
from frontdesk.store import conversations as store
from frontdesk.store.changes import RESYNC, Change, Hub, Subscription
from frontdesk.store.db import create_engine
from frontdesk.store.tables import channels, live_changes

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0


async def channel_of(engine: AsyncEngine, workspace: str | None, page_id: str) -> int:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, page_id, page_id, NOW)
        if workspace is not None:
            found = await accounts.workspace_named(conn, workspace)
            if found is None:
                found = await accounts.create_workspace(conn, workspace, NOW)
            await conn.execute(
                update(channels).where(channels.c.id == channel_id).values(workspace_id=found.id)
            )
        return channel_id


async def heard(subscription: Subscription, within: float = 5.0) -> Change | object:
    async with asyncio.timeout(within):
        return await subscription.next()


async def nothing_more(subscription: Subscription) -> None:
    """Nothing arrives: a NOTIFY is delivered at once, so after a round trip of the listener's
    own (a change in another workspace, which it hears and drops) nothing is left unsaid."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await subscription.next()


async def test_a_change_arrives_after_commit_once_and_never_after_rollback(
    engine: AsyncEngine,
) -> None:
    channel_id = await channel_of(engine, "Lisbon Tees", "111")
    hub = Hub()
    async with changes.feed(engine, hub):
        with hub.subscribe(1) as subscription:
            async with engine.begin() as conn:
                thread = await store.thread_for(conn, channel_id, "psid-1", NOW)
                for _ in range(3):  # noted three times in one transaction: said once
                    await changes.note(conn, channel_id, thread.conversation_id, changes.NOTE)
            assert await heard(subscription) == Change(1, thread.conversation_id, changes.NOTE)

            async with engine.connect() as conn:
                await changes.note(conn, channel_id, thread.conversation_id, changes.CONVERSATION)
                await conn.rollback()
            await nothing_more(subscription)

            # A message stored by the worker's own functions is announced with its id.
            async with engine.begin() as conn:
                message_id = await store.add_message(
                    conn, thread, NOW, mid="m.1", direction="inbound", author="contact",
                    text="Olá", status="received",
                )  # fmt: skip
            assert await heard(subscription) == Change(
                1, thread.conversation_id, changes.INBOUND, message_id=message_id
            )


async def test_workspaces_hear_only_their_own_and_an_unclaimed_channel_nobody(
    engine: AsyncEngine,
) -> None:
    ours = await channel_of(engine, "Ours", "111")
    theirs = await channel_of(engine, "Theirs", "222")
    unclaimed = await channel_of(engine, None, "333")
    hub = Hub()
    async with changes.feed(engine, hub):
        with hub.subscribe(1) as mine, hub.subscribe(2) as other:
            async with engine.begin() as conn:
                for channel_id in (unclaimed, theirs, ours):
                    await changes.note(conn, channel_id, 40 + channel_id, changes.CONVERSATION)
            assert await heard(mine) == Change(1, 40 + ours, changes.CONVERSATION)
            assert await heard(other) == Change(2, 40 + theirs, changes.CONVERSATION)
            await nothing_more(mine)
            await nothing_more(other)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "[1, 2]",
        '{"w": 1, "c": 2}',
        '{"w": 1, "c": 2, "k": "dance"}',
        '{"w": true, "c": 2, "k": "note"}',
        '{"w": 1, "c": -2, "k": "note"}',
        '{"w": 1, "c": "2", "k": "note"}',
        '{"w": 1, "c": 2, "k": "note", "m": 1.5, "a": 7}',
        '{"w": 1, "c": 2, "k": "note", "pad": "' + "x" * 2000 + '"}',
    ],
)
def test_a_payload_that_is_not_a_change_is_refused_or_cut_to_what_is_sound(payload: str) -> None:
    found = changes.decode(payload)
    if found is not None:  # the one sound core: ids checked, strange extras dropped
        assert found == Change(1, 2, changes.NOTE)


def test_a_change_survives_its_own_encoding() -> None:
    change = Change(3, 4, changes.INBOUND, message_id=5, assignee="7")
    assert changes.decode(change.encode()) == change
    assert change.public() == {"c": 4, "k": "inbound", "m": 5, "a": "7"}
    with pytest.raises(ValueError, match="no change kind"):
        asyncio.run(changes.note(None, 1, 2, "dance"))  # type: ignore[arg-type]


async def test_a_connection_that_falls_behind_is_told_to_reload() -> None:
    hub = Hub(backlog=3)
    with hub.subscribe(1) as slow, hub.subscribe(2) as idle:
        hub.publish(Change(1, n, changes.CONVERSATION) for n in range(1, 6))
        assert await heard(slow) is RESYNC  # instead of 1-4, lost
        assert await heard(slow) == Change(1, 5, changes.CONVERSATION)
        await nothing_more(slow)
        await nothing_more(idle)
        hub.publish([Change(1, 9, changes.NOTE)])
        assert await heard(slow) == Change(1, 9, changes.NOTE)
        assert hub.connections == 2
    assert hub.connections == 0


async def test_what_another_process_commits_is_heard(
    engine: AsyncEngine, database_url: str
) -> None:
    """Every process hears every other: on PostgreSQL through NOTIFY; on SQLite a process with
    no hub of its own (a separate `frontdesk worker`) leaves its changes in `live_changes` for
    `frontdesk serve` to read. A rolled-back change is never heard, and a payload that is not
    ours is ignored."""
    channel_id = await channel_of(engine, "Lisbon Tees", "111")
    other = create_engine(database_url)  # another process's connections
    hub = Hub()
    try:
        async with changes.feed(engine, hub, every=0.05):
            with hub.subscribe(1) as subscription:
                async with other.connect() as conn:
                    if engine.dialect.name == "postgresql":
                        channel = (
                            await conn.execute(
                                text("SELECT 'frontdesk_' || left(md5(current_schema()), 16)")
                            )
                        ).scalar_one()
                        await conn.execute(text("SELECT pg_notify(:c, 'junk')"), {"c": channel})
                    else:
                        await conn.execute(insert(live_changes).values(payload="junk"))
                    await conn.commit()
                async with other.connect() as conn:
                    await changes.note(conn, channel_id, 77, changes.NOTE)
                    await conn.rollback()
                async with other.begin() as conn:
                    await changes.note(conn, channel_id, 78, changes.NOTE)
                    await changes.note(conn, channel_id, 78, changes.CONVERSATION, assignee="7")
                assert await heard(subscription) == Change(1, 78, changes.NOTE)
                assert await heard(subscription) == Change(
                    1, 78, changes.CONVERSATION, assignee="7"
                )
                await nothing_more(subscription)
    finally:
        await other.dispose()


async def test_on_sqlite_the_process_with_the_pages_writes_nothing_down(
    sqlite_engine: AsyncEngine,
) -> None:
    """`frontdesk serve` (its own worker inside) hands its changes over in memory: the table is
    for the changes of processes without pages of their own. (PostgreSQL: NOTIFY, no table.)"""
    engine = sqlite_engine
    channel_id = await channel_of(engine, "Lisbon Tees", "111")
    hub = Hub()
    async with changes.feed(engine, hub, every=0.05):
        with hub.subscribe(1) as subscription:
            async with engine.begin() as conn:
                await changes.note(conn, channel_id, 5, changes.NOTE)
            assert await heard(subscription) == Change(1, 5, changes.NOTE)
            await nothing_more(subscription)  # not heard a second time from the table
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(live_changes))).scalar() == 0


async def test_on_sqlite_changes_missed_by_a_reader_far_behind_reload_the_pages(
    sqlite_engine: AsyncEngine, sqlite_url: str
) -> None:
    """The writers keep the last `KEPT` changes; a reader that finds a gap where pruned ones
    were says RESYNC, then goes on with what it finds. (PostgreSQL: NOTIFY, no table.)"""
    engine = sqlite_engine
    channel_id = await channel_of(engine, "Lisbon Tees", "111")
    other = create_engine(sqlite_url)
    hub = Hub(backlog=10 * changes.KEPT)  # the page keeps up: only the reader fell behind
    try:
        async with other.begin() as conn:
            await changes.note(conn, channel_id, 1, changes.NOTE)  # read before the feed opens
        async with changes.feed(engine, hub, every=0.05):
            with hub.subscribe(1) as subscription:
                async with other.begin() as conn:
                    for conversation in range(2, 2 + changes.KEPT + 2 * changes.PRUNE_EVERY):
                        await changes.note(conn, channel_id, conversation, changes.NOTE)
                assert await heard(subscription) is RESYNC
                first = await heard(subscription)
                assert isinstance(first, Change)
                assert first.conversation_id > 2  # the oldest were pruned unread
        async with other.connect() as conn:
            kept = (await conn.execute(select(func.count()).select_from(live_changes))).scalar()
        assert kept is not None
        assert changes.KEPT <= kept < changes.KEPT + changes.PRUNE_EVERY
    finally:
        await other.dispose()
