"""The worker loop: claim jobs, run each in its own transaction, retry or dead-letter failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from frontdesk.store.tables import worker_heartbeats

from . import queue, retention
from .queue import Job

log = logging.getLogger("frontdesk.worker")
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0
LAPSED_CHECKS = 4
"""Times per lease a running worker looks for jobs whose lease lapsed."""
PRUNE_SECONDS = 600.0


@dataclass(frozen=True)
class Outside(Generic[T]):
    """Work a job must do outside any database transaction (a call to Meta), returned by its
    handler: the loop commits the handler's transaction first, then awaits `call`, then runs
    `record` with the result in a second transaction.

    A call inside the transaction would hold SQLite's one write lock, hence the intake, for as
    long as Meta takes. In exchange, a worker may die between the two transactions: the first
    must leave a mark that lets the job's next run tell that the outcome is unknown.
    `record` runs even when the lease was lost meanwhile: what Meta answered is a fact.
    """

    call: Callable[[], Awaitable[T]]
    record: Callable[[AsyncConnection, T, float], Awaitable[None]]


JobHandler = Callable[[AsyncConnection, Job, float], Awaitable["Outside[Any] | None"]]


class PermanentFailure(Exception):  # noqa: N818 - names the outcome, like StopIteration
    """Raised by a job that must not be retried; it goes straight to the dead letters."""


BATCH_JOBS = 64
"""Jobs one transaction runs at most."""
BATCH_SECONDS = {"sqlite": 0.004, "postgresql": 0.025}
"""A transaction takes no further job after running jobs this long (wall time). On SQLite the
intake's next commit waits for it, and in `frontdesk serve` the whole event loop does: a few
milliseconds keep acknowledgements fast while costing the batch little (docs/performance.md).
On PostgreSQL a batch only holds its own rows, and each statement is a round trip."""
DEFER_MOST = 0.05
DEFER_STEP = 0.001
RETRY_PAUSE = 1.0
"""Seconds a lane waits after its transaction failed for a reason no job explains."""
CALLS_IN_FLIGHT = 256
"""Calls to Meta (`Outside` work) a worker has in flight before its lanes wait for one to
end: a bound on what waits in memory, not a pace (sends are paced per Page before the call).
Sends travel 50 to a Graph batch request and answer together, so a few requests carry
hundreds of calls: at 16, the worker sat idle waiting for answers with the queue full
(docs/performance.md)."""


@dataclass
class _Batch:
    """What one transaction ran: jobs done in it, jobs whose work goes on outside it, and how
    many answers of earlier calls it recorded."""

    done: list[Job]
    outside: list[tuple[Job, Outside[Any]]]
    recorded: int = 0

    def __bool__(self) -> bool:
        return bool(self.done or self.outside or self.recorded)


@dataclass(frozen=True)
class _Answer:
    """What a call outside answered, waiting for the next batch to record it."""

    job: Job
    outside: Outside[Any]
    result: Any


class Worker:
    """Runs jobs, many per transaction. Stop with `stop()`; nothing is lost.

    A job that needs no call outside the database is picked, run and marked done in ONE
    transaction with the other jobs of its batch (`queue.pick`): a transaction's fixed costs
    (begin, claim, commit, and on SQLite the turn at the one write lock) are shared by up to
    BATCH_JOBS jobs, which is most of what a small job costs (docs/performance.md). Jobs of
    one conversation still run one at a time, in order: a batch holds at most one job per
    key, and a key's next job is runnable only once the earlier one is finished.
    If any job of a batch raises, the batch rolls back and its jobs run again one per
    transaction, so the failure is the failing job's alone (retried with backoff, or dead).

    `concurrency` is the number of lanes, each running its batches one after another: on
    PostgreSQL lanes overlap their round trips to the database; on SQLite, one writer, there
    is one lane. `calls`: calls outside (`Outside`) in flight, all lanes together, before the
    lanes wait for one to end (each lane's batch under way may pass it by less than `batch`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        handlers: Mapping[str, JobHandler],
        *,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
        idle_sleep: float = 0.05,
        lease: float = queue.DEFAULT_LEASE,
        keep: retention.Retention | None = None,
        prune_every: float = PRUNE_SECONDS,
        batch: int = BATCH_JOBS,
        batch_seconds: float | None = None,
        defer_to: Callable[[], bool] | None = None,
        calls: int = CALLS_IN_FLIGHT,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.sqlite = engine.dialect.name == "sqlite"
        self.lanes = 1 if self.sqlite else max(1, concurrency)
        self.concurrency = concurrency
        self.clock = clock
        self.idle_sleep = idle_sleep
        self.lease = lease
        self.retention = keep or retention.Retention()
        self.prune_every = prune_every
        self.batch = batch
        default = BATCH_SECONDS.get(engine.dialect.name, BATCH_SECONDS["postgresql"])
        self.batch_seconds = default if batch_seconds is None else batch_seconds
        self.defer_to = defer_to
        if calls < 1:
            raise ValueError("a worker needs room for at least one call in flight")
        self.calls = calls
        self._pick = min(4, batch)
        """Jobs the next batch picks: what batches got through lately, and some room to grow
        (a picked job is read, and on PostgreSQL locked away from other workers, whether the
        time limit lets it run or not)."""
        self.id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._lapsed_checked = -math.inf
        self._calls: set[asyncio.Task[None]] = set()
        self._answers: list[_Answer] = []
        self.processed = 0
        self.failed = 0
        self._turn: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.sqlite else contextlib.nullcontext()
        )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction of this worker's. On SQLite they go one at a time: the database has
        one writer, and a worker holding several places in the connection pool's queue would
        make the webhook intake (one writer of its own) wait behind all of them. One at a time,
        the two alternate, and the intake waits for one transaction at most
        (docs/performance.md). Calls to Meta happen outside transactions, so they still
        overlap."""
        async with self._turn, self.engine.begin() as conn:
            yield conn

    def wake(self) -> None:
        """New jobs were committed: look now instead of after the idle sleep."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        await self._beat()  # visible to /readyz before the first job is claimed
        beat = asyncio.create_task(self._heartbeat(), name="worker-heartbeat")
        tidy = asyncio.create_task(self._housekeeping(), name="worker-housekeeping")
        lanes = [
            asyncio.create_task(self._lane(), name=f"worker-lane-{n}") for n in range(self.lanes)
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            if self._calls:
                await asyncio.gather(*self._calls, return_exceptions=True)
            answers, self._answers = self._answers, []
            for answer in answers:
                await self._record_alone(answer)
            for chore in (beat, tidy):
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            async with self._transaction() as conn:
                await conn.execute(
                    delete(worker_heartbeats).where(worker_heartbeats.c.worker_id == self.id)
                )

    async def _lane(self) -> None:
        while not self._stopping.is_set():
            while len(self._calls) >= self.calls:
                await asyncio.wait(self._calls, return_when=asyncio.FIRST_COMPLETED)
            self._wake.clear()
            await self._give_way()
            try:
                ran = await self._run_batch()
            except Exception:
                # The database, not a job (a job's failure is handled in `_run_batch`): say
                # so, and try again in a moment rather than end the worker.
                log.exception("running a batch of jobs failed; trying again in %g s", RETRY_PAUSE)
                await asyncio.sleep(RETRY_PAUSE)
                continue
            for job, outside in ran.outside:
                call = asyncio.create_task(self._go_outside(job, outside), name=f"job-{job.id}")
                self._calls.add(call)
                call.add_done_callback(self._calls.discard)
            if ran:
                # Between two transactions, let the rest of the process in (in `frontdesk
                # serve`: the intake's requests and its commit).
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle_sleep):
                    await self._wake.wait()

    async def _give_way(self) -> None:
        """While `defer_to` says so (in `frontdesk serve`: webhooks wait for their commit),
        let that go first, for up to DEFER_MOST: an acknowledgement is what Meta waits for, a
        job only makes the backlog a little longer."""
        if self.defer_to is None:
            return
        waited = 0.0
        while self.defer_to() and waited < DEFER_MOST:
            await asyncio.sleep(DEFER_STEP)
            waited += DEFER_STEP

    async def run_until_idle(self) -> int:
        """Process jobs until none is runnable now, calls to Meta included; for tests and
        one-shot runs. Returns the number of jobs run."""
        done = 0
        while True:
            ran = await self._run_batch()
            if ran.outside:
                await asyncio.gather(*(self._go_outside(job, out) for job, out in ran.outside))
            if not ran:
                return done
            done += len(ran.done) + len(ran.outside)

    async def _run_batch(self) -> _Batch:
        """In one transaction: record the answers of calls made since the last batch, then
        pick runnable jobs and run them, until BATCH_JOBS or `batch_seconds`. Should anything
        raise, everything is done again one per transaction (`_one_by_one`), so that only what
        failed fails."""
        now = self.clock()
        # Lapsed leases (a dead worker's calls to Meta) are looked for a few times per lease,
        # not in every batch: one query less.
        lapsed = now - self._lapsed_checked >= self.lease / LAPSED_CHECKS
        # At most a batch's worth of answers: with hundreds of calls in flight, recording
        # them all at once would hold SQLite's one write lock, and the intake, too long.
        answers, self._answers = self._answers[: self.batch], self._answers[self.batch :]
        tried: list[Job] = []
        try:
            async with self._transaction() as conn:
                for answer in answers:
                    await answer.outside.record(conn, answer.result, self.clock())
                await queue.complete_many(conn, [a.job for a in answers], self.id, self.clock())
                picked = await queue.pick(conn, now, limit=self._pick, lapsed=lapsed)
                if lapsed:
                    self._lapsed_checked = now
                started = time.perf_counter()
                ran = _Batch([], [], len(answers))
                for job in picked:
                    if tried and time.perf_counter() - started > self.batch_seconds:
                        break  # the rest stay ready for the next batch
                    tried.append(job)
                    handler = self.handlers.get(job.kind)
                    if handler is None:
                        raise PermanentFailure(f"no handler for job kind {job.kind!r}")
                    outside = await handler(conn, job, self.clock())
                    if outside is None:
                        ran.done.append(job)
                    else:
                        ran.outside.append((job, outside))
                settled = self.clock()
                await queue.finish_many(conn, ran.done, self.id, settled)
                await queue.hold_many(
                    conn, [job for job, _ in ran.outside], self.id, settled + self.lease
                )
        except Exception:
            if not tried and not answers:
                raise  # the batch itself failed (the database), not one of its jobs
            # Rolled back, every job's effects with it.
            return await self._one_by_one(answers, tried)
        self.processed += len(ran.done) + len(answers)
        if len(tried) == self._pick:
            self._pick = min(self.batch, self._pick * 2)  # all ran in time: take more
        elif len(tried) < len(picked):
            self._pick = max(1, len(tried) + 1)  # the time ran out first
        return ran

    async def _one_by_one(self, answers: list[_Answer], tried: list[Job]) -> _Batch:
        for answer in answers:
            await self._record_alone(answer)
        claimed: list[Job] = []
        if tried:
            async with self._transaction() as conn:
                claimed = await queue.claim_ids(
                    conn, self.id, [job.id for job in tried], self.clock(), lease=self.lease
                )
            for job in claimed:
                await self._run_job(job)
        # Counted as done: the loop goes on at once (the next job of a key may be runnable).
        return _Batch(claimed, [], len(answers))

    async def _go_outside(self, job: Job, outside: Outside[Any]) -> None:
        """A batch's job that calls Meta: the call, with no transaction open; its answer is
        recorded by the next batch, in that batch's transaction."""
        try:
            result = await outside.call()
        except Exception as err:
            await self._failed(job, err)
            return
        self._answers.append(_Answer(job, outside, result))
        # The answer waits for a batch, and then the next job of this conversation is runnable.
        self._wake.set()

    async def _record_alone(self, answer: _Answer) -> None:
        """Record one call's answer in a transaction of its own."""
        try:
            async with self._transaction() as conn:
                await answer.outside.record(conn, answer.result, self.clock())
                await queue.complete(conn, answer.job, self.id, self.clock())
            self.processed += 1
            self._wake.set()
        except Exception as err:
            await self._failed(answer.job, err)

    async def _run_job(self, job: Job) -> None:
        """One claimed job in a transaction of its own (and its call outside, if any)."""
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"no handler for job kind {job.kind!r}")
            async with self._transaction() as conn:
                outside = await handler(conn, job, self.clock())
                if outside is None:
                    held = await queue.complete(conn, job, self.id, self.clock())
                else:
                    held = await queue.extend(conn, job, self.id, self.clock() + self.lease)
                if not held:
                    # The lease ran out and another worker has the job: undo our effects.
                    raise _LeaseLost
            if outside is not None:
                result = await outside.call()
                async with self._transaction() as conn:
                    await outside.record(conn, result, self.clock())
                    await queue.complete(conn, job, self.id, self.clock())
            self.processed += 1
            self._wake.set()
        except _LeaseLost:
            log.warning("job %s lost its lease; another worker runs it", job.id)
        except Exception as err:
            await self._failed(job, err)

    async def _failed(self, job: Job, err: Exception) -> None:
        self.failed += 1
        permanent = isinstance(err, PermanentFailure)
        async with self._transaction() as conn:
            state = await queue.fail(
                conn,
                job,
                self.id,
                self.clock(),
                f"{type(err).__name__}: {err}",
                retry=not permanent,
            )
        log.warning(
            "job %s (%s) failed, now %s: %s",
            job.id,
            job.kind,
            state,
            err,
            exc_info=not permanent,
        )

    async def _beat(self) -> None:
        async with self._transaction() as conn:
            now = self.clock()
            changed = await conn.execute(
                update(worker_heartbeats)
                .where(worker_heartbeats.c.worker_id == self.id)
                .values(seen_at=now)
            )
            if changed.rowcount == 0:
                await conn.execute(insert(worker_heartbeats).values(worker_id=self.id, seen_at=now))

    async def _housekeeping(self) -> None:
        """Prune finished jobs and old webhook bodies (`retention`) every `prune_every`
        seconds, a batch per short transaction. A failure is logged and tried again next time: the
        queue works the same with more rows in it."""
        while True:
            await asyncio.sleep(self.prune_every)
            try:
                while True:
                    async with self._transaction() as conn:
                        removed = await retention.prune(conn, self.clock(), self.retention)
                    if removed == 0:
                        break
                    await asyncio.sleep(0)  # let jobs and the intake in between batches
            except Exception:
                log.exception("pruning finished jobs and old webhook bodies failed")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._beat()


class _LeaseLost(Exception):  # noqa: N818 - internal control flow
    pass
