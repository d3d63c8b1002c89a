"""The durable job queue, a table in the main database (ARCHITECTURE.md, "Decisions").

Jobs are enqueued in the caller's transaction, so a job exists exactly when the data it is about
was committed. Jobs sharing a `key` (one conversation: Page + PSID) run one at a time in id order;
different keys run in parallel. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite serialises
writers anyway (BEGIN IMMEDIATE). A claim is a lease: a worker killed mid-job loses it when the
lease runs out and another worker takes the job over.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store.prepared import Prepared, padded
from frontdesk.store.tables import jobs, unfinished

DEFAULT_LEASE = 60.0
MAX_ATTEMPTS = 8
BASE_DELAY = 1.0
MAX_DELAY = 15 * 60.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str | None
    payload: dict[str, Any]
    attempts: int


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: 1 s, 2 s, 4 s… capped at 15 min."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


_ENQUEUE = Prepared(
    insert(jobs).values(
        kind=bindparam("kind"),
        key=bindparam("key"),
        payload=bindparam("payload", type_=jobs.c.payload.type),
        state="ready",
        attempts=0,
        run_at=bindparam("run_at", type_=Double),
        created_at=bindparam("created_at", type_=Double),
    )
)
"""Built once and run by the driver (`store.prepared`): every reply enqueues its send."""


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str | None,
    now: float,
    run_at: float | None = None,
) -> None:
    await _ENQUEUE.run(
        conn,
        kind=kind,
        key=key,
        payload=payload,
        run_at=now if run_at is None else run_at,
        created_at=now,
    )


_UNFINISHED_WITH_KEY = Prepared(
    select(
        exists().where(
            and_(jobs.c.key == bindparam("key"), unfinished(), jobs.c.id != bindparam("besides"))
        )
    )
)


async def has_unfinished(conn: AsyncConnection, key: str, *, besides: int | None = None) -> bool:
    """Whether a job of `key` waits or runs (other than job `besides`): how a job that must not
    be queued twice (a profile look-up, the doctor's next visit, an erase) checks."""
    return bool(await _UNFINISHED_WITH_KEY.scalar(conn, key=key, besides=besides or 0))


async def enqueue_many(conn: AsyncConnection, rows: list[dict[str, Any]], now: float) -> None:
    """One INSERT for a batch of jobs (`kind`, `key`, `payload` each)."""
    if not rows:
        return
    await conn.execute(
        insert(jobs),
        [
            {**row, "state": "ready", "attempts": 0, "run_at": now, "created_at": now}
            for row in rows
        ],
    )


def _runnable(state: str, due: Any, oldest_first: Any, columns: tuple[Any, ...]) -> Any:
    """Jobs in `state` that are due, in `oldest_first` order, skipping any whose conversation
    has an earlier unfinished job (what keeps one conversation in order, even across retries:
    the order across conversations does not matter).

    The states are written into the SQL, not bound (`unfinished`): only then can either database
    see that `ix_jobs_unfinished` (a partial index) and the `ix_jobs_claim` range apply,
    whatever the plan cache does with parameters."""
    earlier = jobs.alias("earlier")
    blocked = exists().where(
        and_(
            earlier.c.key == jobs.c.key,
            earlier.c.id < jobs.c.id,
            unfinished(earlier.c.state),
        )
    )
    in_state = jobs.c.state == literal_column(f"'{state}'")
    return (
        select(*columns)
        .where(and_(in_state, due, or_(jobs.c.key.is_(None), ~blocked)))
        .order_by(oldest_first)
        .limit(bindparam("limit", type_=Integer))
    )


# Built once: constructing the correlated EXISTS costs more than running it.
_NOW = bindparam("now", type_=Double)
# Few jobs run at once, so the lapsed ones are few to sort; ready ones are read by due time
# along `ix_jobs_claim` (state, run_at), a range that stops at now: jobs scheduled for later
# (timers, the doctor's hourly look, retries) are never read.
_IDS = (jobs.c.id, jobs.c.key)
_ROWS = (jobs.c.id, jobs.c.kind, jobs.c.key, jobs.c.payload, jobs.c.attempts)
_LAPSED = _runnable("running", jobs.c.locked_until < _NOW, jobs.c.id, _IDS)
_READY = _runnable("ready", jobs.c.run_at <= _NOW, jobs.c.run_at, _IDS)
_LAPSED_ROWS = _runnable("running", jobs.c.locked_until < _NOW, jobs.c.id, _ROWS)
_READY_ROWS = _runnable("ready", jobs.c.run_at <= _NOW, jobs.c.run_at, _ROWS)
_SKIP_LOCKED = {
    query: query.with_for_update(skip_locked=True, of=jobs) for query in (_LAPSED, _READY)
}
# What every batch of the worker reads, run by the driver (`store.prepared`).
_SKIP_LOCKED_JOBS: dict[str, Any] = {"skip_locked": True, "of": jobs}
_PICK_LAPSED = Prepared(_LAPSED_ROWS, lock=_SKIP_LOCKED_JOBS)
_PICK_READY = Prepared(_READY_ROWS, lock=_SKIP_LOCKED_JOBS)


async def claim(
    conn: AsyncConnection,
    worker: str,
    now: float,
    *,
    limit: int = 1,
    lease: float = DEFAULT_LEASE,
    lapsed: bool = True,
) -> list[Job]:
    """Take up to `limit` runnable jobs, at most one per key, under a lease.

    Two queries, each reading a few rows of `ix_jobs_claim`: lapsed leases first (older work;
    skipped with `lapsed=False`), then ready jobs that are due, by due time. One query ORing
    both states would make the database sort every runnable job on each claim
    (docs/performance.md).
    """
    candidates: list[Any] = []
    for query in (_LAPSED, _READY) if lapsed else (_READY,):
        if conn.dialect.name == "postgresql":
            query = _SKIP_LOCKED[query]
        candidates += (await conn.execute(query, {"now": now, "limit": limit * 4})).all()
        if len(candidates) >= limit:
            break
    chosen: list[int] = []
    keys: set[str] = set()
    for row in candidates:
        if row.key is not None:
            if row.key in keys:
                continue
            keys.add(row.key)
        chosen.append(row.id)
        if len(chosen) == limit:
            break
    if not chosen:
        return []
    return await _lease(conn, jobs.c.id.in_(chosen), worker, now + lease)


async def _lease(conn: AsyncConnection, which: Any, worker: str, until: float) -> list[Job]:
    """Mark the jobs `which` selects running under `worker`'s lease; the jobs, by id."""
    rows = await conn.execute(
        update(jobs)
        .where(which)
        .values(
            state="running",
            locked_by=worker,
            locked_until=until,
            attempts=jobs.c.attempts + 1,
        )
        .returning(jobs.c.id, jobs.c.kind, jobs.c.key, jobs.c.payload, jobs.c.attempts)
    )
    claimed = [Job(r.id, r.kind, r.key, dict(r.payload), r.attempts) for r in rows]
    return sorted(claimed, key=lambda job: job.id)


async def pick(conn: AsyncConnection, now: float, *, limit: int, lapsed: bool = True) -> list[Job]:
    """Up to `limit` runnable jobs, at most one per key, for the caller to run in THIS
    transaction and then settle with `finish_many` / `hold_many` before it commits.

    Nothing is marked: the transaction is the claim. On PostgreSQL the rows are locked
    (`FOR UPDATE SKIP LOCKED`) until it ends, so no other worker takes them; SQLite has one
    writer. Should the worker die, the transaction rolls back and the jobs are simply still
    ready: no lease to wait out. `attempts` counts the run when it is settled.
    """
    found: list[Job] = []
    keys: set[str] = set()
    for query in (_PICK_LAPSED, _PICK_READY) if lapsed else (_PICK_READY,):
        for r in await query.all(conn, now=now, limit=limit - len(found)):
            if r.key is not None:
                # Unique already (a later job of a key waits for the earlier one): a guard.
                if r.key in keys:
                    continue
                keys.add(r.key)
            found.append(Job(r.id, r.kind, r.key, dict(r.payload), r.attempts + 1))
        if len(found) >= limit:
            break
    return found


IDS_MOST = 64
"""Ids one settling statement names at most; more go in several."""


def _of_ids(count: int) -> ColumnElement[bool]:
    """`id IN (:id_0, …, :id_<count-1>)`: a prepared statement's SQL cannot grow with a list
    (`store.prepared`), so the statements below are built once per size (`_sized`)."""
    return jobs.c.id.in_([bindparam(f"id_{n}", type_=Integer) for n in range(count)])


def _sized(held: list[Job]) -> Iterator[tuple[int, dict[str, int]]]:
    """The ids of `held`, IDS_MOST at a time and padded (`prepared.padded`): seven statements
    for every size of batch, once batches recorded hundreds of answers."""
    for ids in padded([job.id for job in held], IDS_MOST):
        yield len(ids), {f"id_{n}": job_id for n, job_id in enumerate(ids)}


_AT = bindparam("at", type_=Double)
_PICKED_RUN: dict[str, dict[str, Any]] = {
    # Done `at` that time.
    "done": {"state": "done", "locked_until": None, "finished_at": _AT},
    # Going on outside the transaction, leased until `at`.
    "running": {"state": "running", "locked_until": _AT},
}


@functools.cache
def _settle_picked(count: int, state: str) -> Prepared:
    """`count` jobs from `pick`, their run counted, now in `state` (`_PICKED_RUN`)."""
    return Prepared(
        update(jobs)
        .where(_of_ids(count))
        .values(attempts=jobs.c.attempts + 1, locked_by=bindparam("worker"), **_PICKED_RUN[state])
    )


async def finish_many(conn: AsyncConnection, picked: list[Job], worker: str, now: float) -> None:
    """Mark jobs from `pick` done, in the transaction that ran them."""
    for size, ids in _sized(picked):
        await _settle_picked(size, "done").run(conn, worker=worker, at=now, **ids)


async def hold_many(conn: AsyncConnection, picked: list[Job], worker: str, until: float) -> None:
    """Jobs from `pick` that go on outside the transaction: running, leased to `worker`."""
    for size, ids in _sized(picked):
        await _settle_picked(size, "running").run(conn, worker=worker, at=until, **ids)


async def claim_ids(
    conn: AsyncConnection, worker: str, ids: list[int], now: float, *, lease: float
) -> list[Job]:
    """Claim these jobs, as `claim` would, if they are still runnable (ready, or running on a
    lapsed lease): how a batch whose transaction failed runs its jobs again one at a time."""
    claimable = or_(
        jobs.c.state == "ready", and_(jobs.c.state == "running", jobs.c.locked_until < now)
    )
    return await _lease(conn, and_(jobs.c.id.in_(ids), claimable), worker, now + lease)


_COMPLETE = (
    update(jobs)
    .where(
        and_(
            jobs.c.id == bindparam("job_id"),
            jobs.c.state == "running",
            jobs.c.locked_by == bindparam("worker"),
        )
    )
    .values(state="done", finished_at=bindparam("now"), locked_until=None)
)


@functools.cache
def _complete_many(count: int) -> Prepared:
    return Prepared(
        update(jobs)
        .where(
            and_(
                _of_ids(count),
                jobs.c.state == "running",
                jobs.c.locked_by == bindparam("worker"),
            )
        )
        .values(state="done", finished_at=bindparam("now", type_=Double), locked_until=None)
    )


async def complete_many(conn: AsyncConnection, held: list[Job], worker: str, now: float) -> None:
    """Mark done the jobs `worker` holds among `held` (one whose lease was lost stays with the
    worker that took it over)."""
    for size, ids in _sized(held):
        await _complete_many(size).run(conn, worker=worker, now=now, **ids)


async def complete(conn: AsyncConnection, job: Job, worker: str, now: float) -> bool:
    """Mark done; False when the lease was lost (another worker owns the job now)."""
    result = await conn.execute(_COMPLETE, {"job_id": job.id, "worker": worker, "now": now})
    return result.rowcount == 1


async def extend(conn: AsyncConnection, job: Job, worker: str, until: float) -> bool:
    """Renew the lease to `until`; False when it was lost (another worker owns the job now)."""
    result = await conn.execute(
        update(jobs)
        .where(and_(jobs.c.id == job.id, jobs.c.state == "running", jobs.c.locked_by == worker))
        .values(locked_until=until)
    )
    return result.rowcount == 1


async def fail(
    conn: AsyncConnection,
    job: Job,
    worker: str,
    now: float,
    error: str,
    *,
    retry: bool = True,
    delay: float | None = None,
) -> str:
    """Schedule a retry with backoff, or move the job to the dead letters. Returns the new state."""
    dead = not retry or job.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error[:2000], "locked_until": None}
    if dead:
        values.update(state="dead", finished_at=now)
    else:
        values.update(
            state="ready", run_at=now + (backoff(job.attempts) if delay is None else delay)
        )
    await conn.execute(
        update(jobs)
        .where(and_(jobs.c.id == job.id, jobs.c.state == "running", jobs.c.locked_by == worker))
        .values(**values)
    )
    return "dead" if dead else "ready"


async def bury(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str | None,
    error: str,
    attempts: int,
    now: float,
) -> None:
    """A dead job of its own for work split off a job that goes on without it (one event of
    several that keeps failing): kept, like any dead letter, and blocking nothing."""
    await conn.execute(
        insert(jobs).values(
            kind=kind,
            key=key,
            payload=payload,
            state="dead",
            attempts=attempts,
            run_at=now,
            created_at=now,
            finished_at=now,
            last_error=error[:2000],
        )
    )


async def depth(conn: AsyncConnection) -> dict[str, int]:
    """Jobs per state, for /metrics."""
    rows = await conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
    return {str(row[0]): int(row[1]) for row in rows.all()}
