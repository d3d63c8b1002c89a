"""Pruning: finished jobs and raw webhook bodies go once expired, oldest first, a batch at a
time; unfinished jobs never; a running worker prunes on its own."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store.tables import jobs, webhook_bodies
from frontdesk.workers import retention
from frontdesk.workers.loop import Worker
from frontdesk.workers.retention import DAY, Retention

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0


async def fill(engine: AsyncEngine) -> None:
    """Jobs and bodies of every age and state, ids in the order of their times."""
    rows = [
        ("done", NOW - 3 * DAY),
        ("done", NOW - 2 * DAY),
        ("dead", NOW - 40 * DAY),
        ("ready", None),  # however old, unfinished work stays
        ("running", None),
        ("done", NOW - 3600),
        ("dead", NOW - 2 * DAY),
    ]
    async with engine.begin() as conn:
        for n, (state, finished) in enumerate(rows):
            await conn.execute(
                insert(jobs).values(
                    kind="event",
                    key=f"k{n}",
                    payload={"n": n},
                    state=state,
                    attempts=1,
                    run_at=NOW - 50 * DAY,
                    created_at=NOW - 50 * DAY,
                    finished_at=finished,
                )
            )
        for age in (20 * DAY, 15 * DAY, 13 * DAY, 60.0):
            await conn.execute(
                insert(webhook_bodies).values(received_at=NOW - age, body=b"{}", state="stored")
            )


async def left(engine: AsyncEngine) -> tuple[list[int], list[float]]:
    async with engine.connect() as conn:
        kept = [row.payload["n"] for row in await conn.execute(select(jobs).order_by(jobs.c.id))]
        ages = [
            round((NOW - row.received_at) / DAY, 2)
            for row in await conn.execute(select(webhook_bodies).order_by(webhook_bodies.c.id))
        ]
    return kept, ages


async def test_expired_rows_go_and_everything_else_stays(engine: AsyncEngine) -> None:
    await fill(engine)
    async with engine.begin() as conn:
        removed = await retention.prune(conn, NOW, Retention())
    assert removed == 5
    kept, ages = await left(engine)
    assert kept == [3, 4, 5, 6]  # ready, running, done an hour ago, dead two days ago
    assert ages == [13.0, 0.0]
    async with engine.begin() as conn:
        assert await retention.prune(conn, NOW, Retention()) == 0


async def test_a_batch_at_a_time_oldest_first(engine: AsyncEngine) -> None:
    await fill(engine)
    keep = Retention(batch=1)
    async with engine.begin() as conn:
        assert await retention.prune(conn, NOW, keep) == 3  # one done, one dead, one body
    kept, ages = await left(engine)
    assert kept == [1, 3, 4, 5, 6]
    assert ages == [15.0, 13.0, 0.0]


async def test_a_running_worker_prunes_on_its_own(engine: AsyncEngine) -> None:
    await fill(engine)
    worker = Worker(engine, {}, clock=lambda: NOW, prune_every=0.01, keep=Retention(batch=2))
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while (await left(engine))[0] != [3, 4, 5, 6]:  # noqa: ASYNC110 - the database
                await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task
    assert (await left(engine))[1] == [13.0, 0.0]
