"""The `erase` job: a removed channel's whole history deleted in batches of bounded size, each
its own transaction, going on after a crash, and nothing of another channel touched."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from frontdesk.store import conversations as store
from frontdesk.store import notes, removal
from frontdesk.store.tables import (
    bot_versions,
    bots,
    channels,
    contact_fields,
    contact_tags,
    handler_states,
    handoff_settings,
    jobs,
    messages,
    metadata,
)
from frontdesk.workers import erase
from frontdesk.workers.loop import Worker

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0
PEOPLE = 30
MESSAGES = 20
"""Per person: 30 people, 600 messages, and a few rows more of each kind per person."""


async def history(conn: AsyncConnection, page_id: str) -> int:
    """A channel with people, conversations, messages, notes, memory, a bot and settings."""
    channel_id = await store.add_channel(conn, page_id, "Lisbon Tees", NOW)
    for person in range(PEOPLE):
        thread = await store.thread_for(conn, channel_id, f"{page_id}{person:04d}", NOW)
        await conn.execute(
            insert(messages),
            [
                {
                    "conversation_id": thread.conversation_id,
                    "channel_id": channel_id,
                    "mid": f"m.{page_id}.{person}.{n}",
                    "direction": "inbound",
                    "author": "contact",
                    "text": "hello",
                    "status": "received",
                    "created_at": NOW + n,
                }
                for n in range(MESSAGES)
            ],
        )
        await notes.add(conn, thread.conversation_id, notes.NOTE, "a regular", NOW)
        await conn.execute(
            insert(handler_states).values(
                conversation_id=thread.conversation_id, state={"step": 1}, updated_at=NOW
            )
        )
        for name in ("size", "city"):
            await conn.execute(
                insert(contact_fields).values(
                    contact_id=thread.contact_id, name=name, value="M", updated_at=NOW
                )
            )
        await conn.execute(
            insert(contact_tags).values(contact_id=thread.contact_id, tag="vip", created_at=NOW)
        )
    bot_id = (
        await conn.execute(
            insert(bots)
            .values(channel_id=channel_id, name="Shop", created_at=NOW, updated_at=NOW)
            .returning(bots.c.id)
        )
    ).scalar_one()
    for number in (1, 2):
        await conn.execute(
            insert(bot_versions).values(
                bot_id=bot_id,
                number=number,
                format="yaml",
                source="rules: []",
                definition={},
                digest="0" * 64,
                created_at=NOW,
            )
        )
    await conn.execute(insert(handoff_settings).values(channel_id=channel_id, updated_at=NOW))
    return int(channel_id)


async def rows_of(engine: AsyncEngine) -> dict[str, int]:
    """Rows in every table of the schema but the queue's."""
    async with engine.connect() as conn:
        found = {}
        for table in metadata.sorted_tables:
            if table is not jobs:
                count = select(func.count()).select_from(table)
                found[table.name] = int((await conn.execute(count)).scalar_one())
        return found


async def two_channels(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.begin() as conn:
        doomed = await history(conn, "104857600012345")
        kept = await history(conn, "104857600099999")
        await removal.mark_removed(conn, doomed, "being deleted", NOW, erase=True)
    return doomed, kept


def of_channel(table: Table) -> bool:
    return "channel_id" in table.c


async def test_each_batch_deletes_at_most_its_size_and_the_channel_goes_last(
    engine: AsyncEngine,
) -> None:
    doomed, _ = await two_channels(engine)
    before = await rows_of(engine)
    one_channel = {name: count // 2 for name, count in before.items()}
    batches = 0
    while True:
        async with engine.begin() as conn:
            gone = await removal.erase_batch(conn, doomed, 70)
        batches += 1
        now = await rows_of(engine)
        deleted = sum(before.values()) - sum(now.values())
        assert 0 < deleted <= 70, (batches, deleted)
        if not gone:
            assert now["channels"] == 2, "the channel goes last"
        before = now
        if gone:
            break
    # Everything of the doomed channel went, nothing of the other (the same history).
    assert before == one_channel
    total = PEOPLE * (MESSAGES + 1 + 1 + 1 + 2 + 1 + 1) + 1 + 2 + 1 + 1
    assert batches == -(-total // 70)


async def test_the_job_runs_a_batch_per_transaction_until_the_channel_is_gone(
    engine: AsyncEngine,
) -> None:
    doomed, kept = await two_channels(engine)
    async with engine.begin() as conn:
        assert await erase.start(conn, doomed, NOW)
        assert not await erase.start(conn, doomed, NOW)  # one at a time
    worker = Worker(engine, {erase.ERASE: erase.erase_job(batch=100)}, clock=lambda: NOW)
    done = await worker.run_until_idle()
    assert done > 5
    async with engine.connect() as conn:
        left = (await conn.execute(select(channels.c.id))).scalars().all()
        states = (await conn.execute(select(jobs.c.state).where(jobs.c.kind == erase.ERASE))).all()
    assert left == [kept]
    assert {s for (s,) in states} == {"done"}
    assert len(states) == done


async def test_a_crash_mid_batch_loses_only_that_batch(engine: AsyncEngine) -> None:
    doomed, kept = await two_channels(engine)
    async with engine.begin() as conn:
        await removal.erase_batch(conn, doomed, 100)
        await erase.start(conn, doomed, NOW)
    halfway = await rows_of(engine)

    class CrashError(Exception):
        pass

    async def batch_then_die() -> None:
        async with engine.begin() as conn:
            assert not await removal.erase_batch(conn, doomed, 100)
            raise CrashError  # the worker died before its commit

    with pytest.raises(CrashError):
        await batch_then_die()
    assert await rows_of(engine) == halfway
    worker = Worker(engine, {erase.ERASE: erase.erase_job()}, clock=lambda: NOW)
    await worker.run_until_idle()
    async with engine.connect() as conn:
        assert (await conn.execute(select(channels.c.id))).scalars().all() == [kept]


async def test_a_channel_no_longer_marked_is_left_alone(engine: AsyncEngine) -> None:
    doomed, _ = await two_channels(engine)
    async with engine.begin() as conn:
        await erase.start(conn, doomed, NOW)
        await conn.execute(
            update(channels).where(channels.c.id == doomed).values(erase_requested_at=None)
        )
    before = await rows_of(engine)
    await Worker(engine, {erase.ERASE: erase.erase_job()}, clock=lambda: NOW).run_until_idle()
    assert await rows_of(engine) == before


@pytest.mark.parametrize("payload", [{}, {"channel_id": "1; DROP TABLE"}, {"channel_id": True}])
async def test_a_job_without_a_channel_id_goes_to_the_dead_letters(
    engine: AsyncEngine, payload: dict[str, Any]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(jobs).values(
                kind=erase.ERASE,
                key=None,
                payload=payload,
                state="ready",
                attempts=0,
                run_at=0.0,
                created_at=0.0,
            )
        )
    await Worker(engine, {erase.ERASE: erase.erase_job()}, clock=lambda: NOW).run_until_idle()
    async with engine.connect() as conn:
        states = (await conn.execute(select(jobs.c.state))).scalars().all()
    assert states == ["dead"]
