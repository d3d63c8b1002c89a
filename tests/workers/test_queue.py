"""The job queue: order per conversation, parallel across conversations, retries, dead letters,
and leases that let another worker take over a killed one's job."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store.tables import jobs
from frontdesk.workers import queue

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0


async def add(engine: AsyncEngine, *keys: str | None, now: float = NOW) -> None:
    async with engine.begin() as conn:
        for n, key in enumerate(keys):
            await queue.enqueue(conn, "test", {"n": n, "key": key}, key=key, now=now)


async def claim(
    engine: AsyncEngine, worker: str = "w1", limit: int = 10, now: float = NOW
) -> list[queue.Job]:
    async with engine.begin() as conn:
        return await queue.claim(conn, worker, now, limit=limit, lease=30)


async def finish(engine: AsyncEngine, job: queue.Job, worker: str = "w1", now: float = NOW) -> bool:
    async with engine.begin() as conn:
        return await queue.complete(conn, job, worker, now)


async def test_one_job_per_conversation_at_a_time_in_order(engine: AsyncEngine) -> None:
    await add(engine, "p:a", "p:a", "p:b", None, "p:a")
    first = await claim(engine)
    assert [(j.key, j.payload["n"]) for j in first] == [("p:a", 0), ("p:b", 2), (None, 3)]
    assert await claim(engine) == []  # p:a's next job waits for its first
    await finish(engine, first[0])
    second = await claim(engine)
    assert [(j.key, j.payload["n"]) for j in second] == [("p:a", 1)]
    await finish(engine, second[0])
    assert [j.payload["n"] for j in await claim(engine)] == [4]


async def test_a_retry_keeps_later_jobs_of_its_conversation_waiting(engine: AsyncEngine) -> None:
    await add(engine, "p:a", "p:a")
    [job] = await claim(engine, limit=1)
    async with engine.begin() as conn:
        state = await queue.fail(conn, job, "w1", NOW, "boom", delay=10)
    assert state == "ready"
    assert await claim(engine) == []  # the retry is not due yet, and it blocks job 2
    [again] = await claim(engine, now=NOW + 11)
    assert again.id == job.id
    assert again.attempts == 2


async def test_dead_letter_after_the_last_attempt_keeps_the_reason(engine: AsyncEngine) -> None:
    await add(engine, "p:a", "p:a")
    now = NOW
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        [job] = await claim(engine, now=now)
        assert job.attempts == attempt
        async with engine.begin() as conn:
            state = await queue.fail(conn, job, "w1", now, f"failure {attempt}", delay=0)
        now += 1
    assert state == "dead"
    async with engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == job.id))).one()
    assert (row.state, row.last_error) == ("dead", f"failure {queue.MAX_ATTEMPTS}")
    [next_job] = await claim(engine, now=now)  # a dead job no longer blocks its conversation
    assert next_job.payload["n"] == 1


async def test_permanent_failure_goes_straight_to_dead(engine: AsyncEngine) -> None:
    await add(engine, None)
    [job] = await claim(engine)
    async with engine.begin() as conn:
        assert await queue.fail(conn, job, "w1", NOW, "bad payload", retry=False) == "dead"


async def test_lapsed_lease_is_taken_over_and_the_old_worker_cannot_finish(
    engine: AsyncEngine,
) -> None:
    await add(engine, "p:a")
    [job] = await claim(engine, "killed")
    assert await claim(engine, "w2", now=NOW + 10) == []  # lease (30 s) still held
    [taken] = await claim(engine, "w2", now=NOW + 31)
    assert taken.id == job.id
    assert not await finish(engine, job, "killed", NOW + 32)
    assert await finish(engine, taken, "w2", NOW + 32)


async def test_lapsed_leases_are_looked_for_only_when_asked(engine: AsyncEngine) -> None:
    await add(engine, "p:a", "p:b")
    [first, second] = await claim(engine, "killed")
    await add(engine, "p:c")
    async with engine.begin() as conn:
        skipped = await queue.claim(conn, "w2", NOW + 31, limit=10, lease=30, lapsed=False)
    assert [job.payload["key"] for job in skipped] == ["p:c"]  # ready only
    async with engine.begin() as conn:
        taken = await queue.claim(conn, "w2", NOW + 31, limit=10, lease=30, lapsed=True)
    assert [job.id for job in taken] == [first.id, second.id]


async def test_concurrent_workers_never_claim_the_same_job(engine: AsyncEngine) -> None:
    keys = [f"p:{n % 7}" for n in range(60)]
    await add(engine, *keys)
    seen: list[int] = []
    order: dict[str, list[int]] = {}

    async def work(name: str) -> None:
        idle = 0
        while idle < 3:
            claimed = await claim(engine, name, limit=3)
            if not claimed:
                idle += 1
                await asyncio.sleep(0.01)
                continue
            idle = 0
            for job in claimed:
                seen.append(job.id)
                order.setdefault(str(job.key), []).append(job.id)
                assert await finish(engine, job, name)

    await asyncio.gather(*(work(f"w{i}") for i in range(4)))
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 60
    for ids in order.values():
        assert ids == sorted(ids)


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    rng = random.Random(1)
    delays = [queue.backoff(n, rng) for n in range(1, 15)]
    assert 0.5 <= delays[0] <= 1
    assert 4 <= delays[3] <= 8
    assert all(d <= queue.MAX_DELAY for d in delays)
    assert delays[-1] >= queue.MAX_DELAY / 2


async def test_has_unfinished_sees_ready_and_running_jobs_of_its_key_only(
    engine: AsyncEngine,
) -> None:
    await add(engine, "doctor:1")
    async with engine.begin() as conn:
        assert await queue.has_unfinished(conn, "doctor:1")
        assert not await queue.has_unfinished(conn, "doctor:2")
    [job] = await claim(engine)
    async with engine.begin() as conn:
        assert await queue.has_unfinished(conn, "doctor:1")  # running counts
        assert not await queue.has_unfinished(conn, "doctor:1", besides=job.id)
    await finish(engine, job)
    async with engine.begin() as conn:
        assert not await queue.has_unfinished(conn, "doctor:1")


@pytest.mark.parametrize("count", [1, 3, 64, 100, 300])
async def test_a_batch_of_any_size_is_settled_by_a_few_statements(
    engine: AsyncEngine, count: int
) -> None:
    await add(engine, *(f"p:{n}" for n in range(count)))
    async with engine.begin() as conn:
        picked = await queue.pick(conn, NOW, limit=count)
        assert len(picked) == count
        half = count // 2
        await queue.finish_many(conn, picked[:half], "w1", NOW)
        await queue.hold_many(conn, picked[half:], "w1", NOW + 30)
    async with engine.begin() as conn:
        await queue.complete_many(conn, picked[half:], "w1", NOW + 1)
        rows = (await conn.execute(select(jobs.c.state, jobs.c.attempts))).all()
    assert [tuple(row) for row in rows] == [("done", 1)] * count
    # One statement per size, and the sizes are powers of two: however large the batches
    # grow, a handful of statements to compile once and for SQLite to keep prepared.
    sizes = {size for size, _ in queue._sized(picked)}  # noqa: SLF001
    assert sizes <= {1, 2, 4, 8, 16, 32, 64}
    for size, ids in queue._sized(picked):  # noqa: SLF001
        assert len(ids) == size
        assert set(ids.values()) <= {job.id for job in picked}
    assert {v for _, ids in queue._sized(picked) for v in ids.values()} == {  # noqa: SLF001
        job.id for job in picked
    }
