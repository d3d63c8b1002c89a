"""What filing one event costs the worker, in CPU time, on SQLite and PostgreSQL.

`python bench/filing.py [--events N] [--pg-url URL]`: stores N signed text-message bodies for
500 people through the intake (in-process), then lets one `Worker` file them all, and reports
the worker phase's CPU seconds per event (this process, every thread) and events per second.

The loop is uvloop's, as in `frontdesk worker`. CPU time, unlike wall
time, barely moves when other programs share the machine, so this is the figure to compare
between changes. The baseline, measured in the same run on the same database, is the least a
job can cost: a job kind that does nothing, run in batches like any other. The ratio says how
much the filing itself adds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvloop
import webhooks
from sqlalchemy import func, insert, select, text
from starlette.applications import Starlette
from starlette.routing import Route

from frontdesk.store.db import create_engine
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import channels, jobs, messages
from frontdesk.web.webhook import Intake
from frontdesk.workers.jobs import job_handlers
from frontdesk.workers.loop import Worker
from frontdesk.workers.queue import Job, enqueue_many

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


async def _noop(_conn: object, _job: Job, _now: float) -> None:
    return None


async def _drain(worker: Worker, engine: object, done: object) -> tuple[float, float]:
    """Run `worker` until `done()` says so; (wall seconds, CPU seconds) of that phase."""
    wall, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(worker.run())
    while not await done():  # type: ignore[operator]  # noqa: ASYNC110 - polls the database
        await asyncio.sleep(0.05)
    worker.stop()
    await task
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(url: str, events: int) -> dict[str, float]:
    upgrade(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            insert(channels).values(
                page_id=webhooks.PAGE_ID,
                name="Bench Tees",
                link="inbox",
                status="active",
                has_human_agent=False,
                created_at=time.time(),
                updated_at=time.time(),
            )
        )
    intake = Intake(engine, webhooks.APP_SECRET, "bench")
    app = Starlette(routes=[Route("/webhooks/messenger", intake.receive, methods=["POST"])])
    gate = asyncio.Semaphore(64)

    async def post(client: httpx.AsyncClient, body: bytes) -> None:
        async with gate:
            answer = await client.post(
                "/webhooks/messenger",
                content=body,
                headers={"X-Hub-Signature-256": webhooks.signature(body)},
            )
            if answer.status_code != 200:
                raise SystemExit(f"the intake answered {answer.status_code}")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        bodies = [webhooks.body("filing", n) for n in range(events)]
        await asyncio.gather(*(post(client, body) for body in bodies))

    async def count(query: object) -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())  # type: ignore[arg-type]

    async def all_filed() -> bool:
        return await count(select(func.count()).select_from(messages)) >= events

    filing_wall, filing_cpu = await _drain(Worker(engine, job_handlers()), engine, all_filed)

    async with engine.begin() as conn:
        await enqueue_many(
            conn,
            [{"kind": "noop", "key": webhooks.psid(n), "payload": {}} for n in range(events)],
            time.time(),
        )

    async def noops_done() -> bool:
        query = select(func.count()).where(jobs.c.kind == "noop", jobs.c.state != "done")
        return await count(query) == 0

    base_wall, base_cpu = await _drain(Worker(engine, {"noop": _noop}), engine, noops_done)
    await engine.dispose()
    return {
        "filing_cpu_ms": filing_cpu / events * 1000,
        "filing_per_s": events / filing_wall,
        "baseline_cpu_ms": base_cpu / events * 1000,
        "baseline_per_s": events / base_wall,
    }


def postgres_schema(pg_url: str) -> tuple[str, str] | None:
    from sqlalchemy import create_engine as create_sync_engine
    from sqlalchemy.engine import make_url

    from frontdesk.store.db import sync_url

    schema = f"bench_filing_{int(time.time())}"
    try:
        admin = create_sync_engine(sync_url(pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception as err:  # reported; the SQLite figure still stands
        print(f"filing: PostgreSQL skipped: {err}", file=sys.stderr)
        return None
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(pg_url: str, schema: str) -> None:
    from sqlalchemy import create_engine as create_sync_engine

    from frontdesk.store.db import sync_url

    admin = create_sync_engine(sync_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    rows = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="frontdesk-filing-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            rows.append(("SQLite", uvloop.run(measure(url, args.events))))
    if args.only in (None, "postgresql"):
        made = postgres_schema(args.pg_url)
        if made is not None:
            url, schema = made
            try:
                rows.append(("PostgreSQL", uvloop.run(measure(url, args.events))))
            finally:
                drop_schema(args.pg_url, schema)
    print(f"\n{args.events} events, 500 people, one worker (4 lanes on PostgreSQL)\n")
    print("| database | CPU per event filed | ÷ empty job | filed per s | empty jobs per s |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        ratio = r["filing_cpu_ms"] / r["baseline_cpu_ms"]
        print(
            f"| {name} | {r['filing_cpu_ms']:.2f} ms | {ratio:.2f}x "
            f"| {r['filing_per_s']:,.0f}/s | {r['baseline_per_s']:,.0f}/s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
