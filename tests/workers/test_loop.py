"""The worker loop: a job's effects and its completion commit together, or not at all."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from frontdesk.store.tables import jobs, worker_heartbeats
from frontdesk.workers import queue
from frontdesk.workers.loop import Outside, PermanentFailure, Worker
from frontdesk.workers.queue import Job

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0


async def record(conn: AsyncConnection, job: Job, now: float) -> None:
    """A job whose effect is visible: it writes a heartbeat row named after its payload."""
    await conn.execute(
        insert(worker_heartbeats).values(worker_id=f"effect-{job.payload['n']}", seen_at=now)
    )
    if job.payload.get("fail") == "transient":
        raise RuntimeError("upstream hiccup")
    if job.payload.get("fail") == "permanent":
        raise PermanentFailure("this can never work")


async def add(engine: AsyncEngine, *payloads: dict[str, object], kind: str = "record") -> None:
    async with engine.begin() as conn:
        for payload in payloads:
            await queue.enqueue(conn, kind, dict(payload), key=None, now=NOW)


async def states(engine: AsyncEngine) -> list[tuple[str, int, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.state, jobs.c.attempts, jobs.c.last_error).order_by(jobs.c.id)
        )
        return [(r.state, r.attempts, r.last_error) for r in rows]


async def effects(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(worker_heartbeats.c.worker_id))
        return {r.worker_id for r in rows if r.worker_id.startswith("effect-")}


async def test_success_failure_and_permanent_failure(engine: AsyncEngine) -> None:
    await add(engine, {"n": 1}, {"n": 2, "fail": "transient"}, {"n": 3, "fail": "permanent"})
    worker = Worker(engine, {"record": record}, clock=lambda: NOW)
    assert await worker.run_until_idle() == 3
    assert await states(engine) == [
        ("done", 1, None),
        ("ready", 1, "RuntimeError: upstream hiccup"),
        ("dead", 1, "PermanentFailure: this can never work"),
    ]
    # Only the successful job's effect was committed; the failures rolled back.
    assert await effects(engine) == {"effect-1"}


async def test_unknown_kind_is_dead_lettered_with_the_reason(engine: AsyncEngine) -> None:
    await add(engine, {"n": 1}, kind="mystery")
    await Worker(engine, {"record": record}, clock=lambda: NOW).run_until_idle()
    assert await states(engine) == [
        ("dead", 1, "PermanentFailure: no handler for job kind 'mystery'")
    ]


async def test_run_processes_new_work_and_stops_cleanly(engine: AsyncEngine) -> None:
    worker = Worker(engine, {"record": record}, idle_sleep=0.01)
    task = asyncio.create_task(worker.run())
    await add(engine, {"n": 1}, {"n": 2})
    worker.wake()
    async with asyncio.timeout(10):
        while worker.processed < 2:  # noqa: ASYNC110 - polling a counter under a deadline
            await asyncio.sleep(0.01)
    async with engine.connect() as conn:
        alive = (await conn.execute(select(worker_heartbeats.c.worker_id))).scalars().all()
    assert worker.id in alive
    worker.stop()
    await task
    assert [s for s, _, _ in await states(engine)] == ["done", "done"]
    async with engine.connect() as conn:
        after = (await conn.execute(select(worker_heartbeats.c.worker_id))).scalars().all()
    assert worker.id not in after


async def test_a_finished_job_lets_the_next_of_its_conversation_start_at_once(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        for n in range(3):
            await queue.enqueue(conn, "record", {"n": n}, key="p:a", now=NOW)
    # With an idle sleep of a minute, only the wake-up on completion can finish within the deadline.
    await run_until_processed(Worker(engine, {"record": record}, idle_sleep=60), 3, within=20)
    assert await effects(engine) == {"effect-0", "effect-1", "effect-2"}


async def run_until_processed(worker: Worker, count: int, *, within: float) -> None:
    """Run `worker` until it has processed `count` jobs (failing after `within` s), then stop it."""
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(within):
            while worker.processed < count:  # noqa: ASYNC110 - polling a counter under a deadline
                await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task


def counting_transactions(engine: AsyncEngine) -> list[int]:
    """A list that grows by one at each transaction the engine begins."""
    begun: list[int] = []
    event.listen(engine.sync_engine, "begin", lambda _conn: begun.append(1))
    return begun


async def test_jobs_of_different_conversations_share_one_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for n in range(20):
            await queue.enqueue(conn, "record", {"n": n}, key=f"p:{n}", now=NOW)
    begun = counting_transactions(engine)
    worker = Worker(engine, {"record": record}, clock=lambda: NOW, batch_seconds=60)
    assert await worker.run_until_idle() == 20
    # One transaction ran all twenty (the batch grows 4, 8, 16...: a few), and one found none.
    assert len(begun) <= 5
    assert [s for s, _, _ in await states(engine)] == ["done"] * 20
    assert await effects(engine) == {f"effect-{n}" for n in range(20)}


async def test_a_batch_stops_taking_jobs_when_its_time_is_up(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for n in range(6):
            await queue.enqueue(conn, "record", {"n": n}, key=f"p:{n}", now=NOW)
    begun = counting_transactions(engine)
    worker = Worker(engine, {"record": record}, clock=lambda: NOW, batch_seconds=0)
    assert await worker.run_until_idle() == 6
    assert len(begun) >= 6  # one job per transaction: the time was up after each first job
    assert [s for s, _, _ in await states(engine)] == ["done"] * 6


async def test_a_worker_stopped_mid_batch_leaves_every_job_of_it_ready(
    engine: AsyncEngine,
) -> None:
    """Killed (here: cancelled) while running a batch: the transaction rolls back, so its jobs
    are ready again at once, nothing half done, no lease to wait out."""
    await add(engine, {"n": 1}, {"n": 2}, {"n": 3})

    async def dies_on_two(conn: AsyncConnection, job: Job, now: float) -> None:
        await record(conn, job, now)
        if job.payload["n"] == 2:
            raise asyncio.CancelledError

    # All three in one batch whatever the machine's speed (no time limit to cut it short).
    dying = Worker(engine, {"record": dies_on_two}, clock=lambda: NOW, batch_seconds=60)
    with pytest.raises(asyncio.CancelledError):
        await dying.run_until_idle()
    assert await states(engine) == [("ready", 0, None)] * 3
    assert await effects(engine) == set()
    assert await Worker(engine, {"record": record}, clock=lambda: NOW).run_until_idle() == 3
    assert [(s, a) for s, a, _ in await states(engine)] == [("done", 1)] * 3


async def test_the_worker_gives_way_to_the_intake_but_is_never_starved(
    engine: AsyncEngine,
) -> None:
    """In `frontdesk serve` the worker waits while webhooks wait for their commit; an intake
    that is always busy still leaves it a batch every DEFER_MOST."""
    asked: list[bool] = []

    def intake_busy() -> bool:
        asked.append(True)
        return True

    await add(engine, {"n": 1}, {"n": 2})
    worker = Worker(engine, {"record": record}, idle_sleep=0.01, defer_to=intake_busy)
    await run_until_processed(worker, 2, within=10)
    assert len(asked) > 5  # it did wait, asking again and again, before each batch
    assert await effects(engine) == {"effect-1", "effect-2"}


async def test_calls_outside_overlap_up_to_the_workers_limit(engine: AsyncEngine) -> None:
    """Calls to Meta wait outside any transaction, many at once (a Graph batch answers fifty
    together), but no more than `calls`: the rest of the queue waits for one to end."""
    started: list[int] = []
    release = asyncio.Event()

    async def calling(conn: AsyncConnection, job: Job, now: float) -> Outside[None]:
        async def call() -> None:
            started.append(job.payload["n"])
            await release.wait()

        async def noted(conn: AsyncConnection, _: None, now: float) -> None:
            await record(conn, job, now)

        return Outside(call, noted)

    async with engine.begin() as conn:
        for n in range(60):
            await queue.enqueue(conn, "call", {"n": n}, key=f"p:{n}", now=NOW)
    worker = Worker(
        engine,
        {"call": calling},
        concurrency=1,
        idle_sleep=0.01,
        batch=8,
        batch_seconds=60,
        calls=40,
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while len(started) < 40:  # noqa: ASYNC110 - polling a list under a deadline
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # time enough for all sixty, were the limit not kept
        # The lane looks at the limit before each batch: its last batch may pass it, by less
        # than a batch.
        assert 40 <= len(started) < 48
        release.set()
        async with asyncio.timeout(10):
            while worker.processed < 60:  # noqa: ASYNC110 - polling a counter under a deadline
                await asyncio.sleep(0.01)
    finally:
        release.set()
        worker.stop()
        await task
    assert sorted(started) == list(range(60))
    assert await effects(engine) == {f"effect-{n}" for n in range(60)}


def test_a_worker_keeps_hundreds_of_calls_in_flight_by_default(engine: AsyncEngine) -> None:
    # Sixteen kept a busy worker waiting on answers with its queue full (docs/performance.md).
    assert Worker(engine, {}).calls >= 200
