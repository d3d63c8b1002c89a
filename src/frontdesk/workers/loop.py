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


class Worker:
    """Runs jobs with at most `concurrency` in flight. Stop with `stop()`; nothing is lost."""

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
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.clock = clock
        self.idle_sleep = idle_sleep
        self.lease = lease
        self.retention = keep or retention.Retention()
        self.prune_every = prune_every
        self.id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.processed = 0
        self.failed = 0
        self._turn: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction of this worker's. On SQLite they go one at a time: the database has
        one writer, and a worker holding several places in the connection pool's queue would
        make the webhook intake (one writer of its own) wait behind all of them. One at a time,
        the two alternate, and the intake waits for one job at most (docs/performance.md).
        Calls to Meta happen outside transactions, so they still overlap."""
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
        running: set[asyncio.Task[None]] = set()
        try:
            lapsed_checked = -math.inf
            while not self._stopping.is_set():
                free = self.concurrency - len(running)
                claimed: list[Job] = []
                if free > 0:
                    now = self.clock()
                    # Lapsed leases (a dead worker's jobs) are looked for a few times per lease,
                    # not on every claim: one query less for each job.
                    lapsed = now - lapsed_checked >= self.lease / LAPSED_CHECKS
                    async with self._transaction() as conn:
                        claimed = await queue.claim(
                            conn, self.id, now, limit=free, lease=self.lease, lapsed=lapsed
                        )
                    if lapsed:
                        lapsed_checked = now
                for job in claimed:
                    task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
                    running.add(task)
                    task.add_done_callback(running.discard)
                if not claimed:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_sleep):
                            await self._wake.wait()
                elif free <= len(claimed):
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            for chore in (beat, tidy):
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            async with self._transaction() as conn:
                await conn.execute(
                    delete(worker_heartbeats).where(worker_heartbeats.c.worker_id == self.id)
                )

    async def run_until_idle(self) -> int:
        """Process jobs until none is runnable now; for tests and one-shot runs."""
        done = 0
        while True:
            async with self._transaction() as conn:
                claimed = await queue.claim(
                    conn, self.id, self.clock(), limit=self.concurrency, lease=self.lease
                )
            if not claimed:
                return done
            await asyncio.gather(*(self._run_job(job) for job in claimed))
            done += len(claimed)

    async def _run_job(self, job: Job) -> None:
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
            # The next job of this conversation may be runnable now: look at once.
            self._wake.set()
        except _LeaseLost:
            log.warning("job %s lost its lease; another worker runs it", job.id)
        except Exception as err:
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
