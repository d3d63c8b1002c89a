"""`/healthz` (the process answers), `/readyz` (database and a worker alive), `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from frontdesk.store.tables import jobs, worker_heartbeats
from frontdesk.workers import queue

from .webhook import Intake

HEARTBEAT_STALE = 30.0


@dataclass
class Health:
    engine: AsyncEngine
    intake: Intake
    clock: Callable[[], float] = time.time

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        problems: list[str] = []
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                newest = (
                    await conn.execute(select(func.max(worker_heartbeats.c.seen_at)))
                ).scalar()
        except Exception as err:  # the probe reports any database failure as not ready
            return JSONResponse(
                {"status": "unavailable", "problems": [f"database: {type(err).__name__}"]},
                status_code=503,
            )
        if newest is None or self.clock() - newest > HEARTBEAT_STALE:
            problems.append("no worker heartbeat in the last 30 s")
        status = 503 if problems else 200
        return JSONResponse(
            {"status": "ready" if not problems else "unavailable", "problems": problems},
            status_code=status,
        )

    async def metrics(self, request: Request) -> Response:
        async with self.engine.connect() as conn:
            depth = await queue.depth(conn)
            oldest = (
                await conn.execute(select(func.min(jobs.c.run_at)).where(jobs.c.state == "ready"))
            ).scalar()
        lag = max(0.0, self.clock() - oldest) if oldest is not None else 0.0
        lines = [
            "# HELP frontdesk_events_received_total Webhook events acknowledged by this process.",
            "# TYPE frontdesk_events_received_total counter",
            f"frontdesk_events_received_total {self.intake.received}",
            "# HELP frontdesk_jobs Jobs in the queue by state.",
            "# TYPE frontdesk_jobs gauge",
        ]
        for state in ("ready", "running", "done", "dead"):
            lines.append(f'frontdesk_jobs{{state="{state}"}} {depth.get(state, 0)}')
        lines += [
            "# HELP frontdesk_queue_lag_seconds Age of the oldest runnable job.",
            "# TYPE frontdesk_queue_lag_seconds gauge",
            f"frontdesk_queue_lag_seconds {lag:.3f}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
