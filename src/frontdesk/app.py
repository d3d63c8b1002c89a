"""The composition root: build the engine, the intake, the worker and the ASGI app from Settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Route

from .settings import Settings
from .store.db import create_engine
from .web.health import Health
from .web.webhook import Intake
from .workers.jobs import job_handlers
from .workers.loop import Worker


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    clock: Callable[[], float] = time.time,
    run_worker: bool | None = None,
) -> Starlette:
    """Frontdesk's web app; on SQLite (or when asked) it also runs a worker in-process."""
    engine = engine or create_engine(settings.database_url)
    intake = Intake(
        engine,
        settings.meta_app_secret,
        settings.meta_verify_token,
        max_body_bytes=settings.max_body_bytes,
        clock=clock,
    )
    health = Health(engine, intake, clock)
    with_worker = settings.runs_worker_in_process if run_worker is None else run_worker
    worker = Worker(
        engine, job_handlers(settings.meta_app_id), concurrency=settings.workers, clock=clock
    )

    if with_worker:
        intake.on_enqueued = worker.wake

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(worker.run(), name="in-process-worker") if with_worker else None
        try:
            yield
        finally:
            if task is not None:
                worker.stop()
                await task
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/webhooks/messenger", intake.verify, methods=["GET"]),
            Route("/webhooks/messenger", intake.receive, methods=["POST"]),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", health.metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.worker = worker
    app.state.intake = intake
    return app
