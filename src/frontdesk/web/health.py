"""`/healthz` (the process answers), `/readyz` (database and a worker alive), `/metrics`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from frontdesk.store.tables import jobs, messages, worker_heartbeats
from frontdesk.workers import queue

from .webhook import Intake

HEARTBEAT_STALE = 30.0
READY_TIMEOUT = 2.0
"""Seconds the database gets to answer the readiness probe: a hung database is not ready."""
SEND_OUTCOMES = {
    "sent": ("sent", "delivered", "read"),
    "failed": ("failed",),
    "blocked": ("blocked",),
}
"""Outcome label → message statuses. Each outcome only ever grows (delivered and read are sends
that went out; failed and blocked are final), so they count as Prometheus counters."""


@dataclass
class Health:
    engine: AsyncEngine
    intake: Intake
    clock: Callable[[], float] = time.time
    ready_timeout: float = READY_TIMEOUT

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        problems: list[str] = []
        try:
            async with asyncio.timeout(self.ready_timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                newest = (
                    await conn.execute(select(func.max(worker_heartbeats.c.seen_at)))
                ).scalar()
        except TimeoutError:
            problem = f"database: no answer within {self.ready_timeout:g} s"
            return JSONResponse({"status": "unavailable", "problems": [problem]}, status_code=503)
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
            # What Frontdesk sent: outbound messages, less those a person wrote in Meta's Page
            # Inbox (stored from their echoes, never sent by us).
            rows = await conn.execute(
                select(messages.c.status, func.count())
                .where(messages.c.direction == "outbound", messages.c.author != "page_inbox")
                .group_by(messages.c.status)
            )
            by_status: dict[str, int] = {str(status): int(n) for status, n in rows}
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
            "# HELP frontdesk_sends_total Messages Frontdesk sent or gave up on, by outcome.",
            "# TYPE frontdesk_sends_total counter",
        ]
        for outcome, statuses in SEND_OUTCOMES.items():
            total = sum(by_status.get(status, 0) for status in statuses)
            lines.append(f'frontdesk_sends_total{{outcome="{outcome}"}} {total}')
        lines += [
            "# HELP frontdesk_outbox_queued Messages waiting to be sent.",
            "# TYPE frontdesk_outbox_queued gauge",
            f"frontdesk_outbox_queued {by_status.get('queued', 0)}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
