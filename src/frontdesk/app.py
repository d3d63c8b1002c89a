"""The composition root: build the engine, the intake, the worker and the ASGI app from Settings."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .handlers import default_handlers
from .messenger import GraphClient, SendClient, app_token
from .settings import DEFAULT_GRAPH_URL, Settings
from .store import changes
from .store.changes import Hub
from .store.db import checkpointer, create_engine
from .store.media import MediaStore
from .store.meta_apps import MetaApp
from .store.passwords import Passwords
from .store.secrets import Secrets
from .web.console import Console, ConsoleConfig, console_routes
from .web.console.inbox import Inbox
from .web.console.inbox_routes import inbox_routes
from .web.health import Health
from .web.hooks import ChannelHooks
from .web.webhook import WEBHOOK_PATH, Intake
from .workers.addresses import is_local
from .workers.botprofile import Pusher
from .workers.checkup import Checkup
from .workers.doctor import Doctor
from .workers.download import Downloader
from .workers.enrich import Enricher
from .workers.examination import Setup
from .workers.jobs import job_handlers
from .workers.loop import Worker
from .workers.retention import MediaSweep, Retention
from .workers.sending import PageLimiter, Sender
from .workers.webcall import WebCaller

SEND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
"""For calls to Meta; the Send API answers in well under a second when it is healthy."""


def build_sender(settings: Settings, http: httpx.AsyncClient) -> Sender:
    """The send job's tools: the Send API over `http` (sends that wait together go as one Graph
    batch request, the Pages connected through the operator's app sharing batches under its
    token), and the keys that open Page tokens."""
    app_id, app_secret = settings.meta_app_id, settings.meta_app_secret
    shared = app_token(app_id, app_secret) if app_id and app_secret else None
    return Sender(
        SendClient(http, settings.graph_url, settings.graph_version, batch=True, app_token=shared),
        Secrets(settings.secret_keys),
        limiter=PageLimiter(per_second=settings.sends_per_second),
    )


def build_enricher(settings: Settings, http: httpx.AsyncClient) -> Enricher:
    """The profile and media jobs' tools: Graph over `http`, the Page tokens' keys, and the
    downloader into `<data dir>/media/`."""
    return Enricher(
        GraphClient(http, settings.graph_url, settings.graph_version),
        Secrets(settings.secret_keys),
        Downloader(http, MediaStore(settings.data_dir / "media"), graph_url=settings.graph_url),
    )


def build_retention(settings: Settings) -> Retention:
    """What a worker prunes: the queue's finished jobs, old raw webhook bodies, and kept media
    no row names any more (in `<data dir>/media/`)."""
    return Retention(media=MediaSweep(MediaStore(settings.data_dir / "media")))


def build_pusher(settings: Settings, http: httpx.AsyncClient) -> Pusher:
    """The `messenger_profile` job's tools: Graph over `http`, the Page tokens' keys."""
    return Pusher(
        GraphClient(http, settings.graph_url, settings.graph_version), Secrets(settings.secret_keys)
    )


def build_caller(settings: Settings, http: httpx.AsyncClient) -> WebCaller:
    """A rule bot's HTTP calls: public addresses only, unless Graph itself is local (`frontdesk
    dev` against the emulator), where the whole world is."""
    return WebCaller(http, allow_private=is_local(settings.graph_url))


def doctor_setup(settings: Settings) -> Setup:
    """What the connection doctor checks against: the operator's Meta app (a workspace's own
    app, when it has one, is read with each channel) and this Frontdesk's webhook address."""
    operator = MetaApp(
        settings.meta_app_id,
        settings.meta_app_secret,
        settings.meta_verify_token,
        settings.graph_url,
        settings.graph_version,
    )
    return Setup(operator, f"{settings.public_url}/webhooks/messenger")


def build_checkup(settings: Settings, http: httpx.AsyncClient) -> Checkup:
    """The `doctor` job's tools: the doctor over `http`, and the keys that open Page tokens."""
    return Checkup(Doctor(http, doctor_setup(settings)), Secrets(settings.secret_keys))


def build_console_config(settings: Settings) -> ConsoleConfig:
    """The console's settings: the operator's Meta app, the Graph addresses a workspace's own
    app may use (the instance's, and Meta's), and the link kinds whose handler exists."""
    operator = MetaApp(
        settings.meta_app_id,
        settings.meta_app_secret,
        settings.meta_verify_token,
        settings.graph_url,
        settings.graph_version,
    )
    graph_urls = tuple(dict.fromkeys((settings.graph_url, DEFAULT_GRAPH_URL)))
    links = tuple(kind.value for kind in default_handlers())
    return ConsoleConfig(settings.public_url, operator, graph_urls, link_kinds=links)


class Server(uvicorn.Server):
    """A uvicorn server that, when it stops, first ends the live streams of open inbox pages:
    it waits for open responses before stopping, and those never end on their own."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        box = getattr(state, "inbox", None)
        if isinstance(box, Inbox):
            box.hub.close()
        await super().shutdown(sockets)


def build_inbox(settings: Settings) -> Inbox:
    """The agent inbox's parts: the live hub, the kept media, and a key (from the instance's
    secret key) that signs the addresses of the files agents send."""
    key = settings.secret_keys[0].encode() if settings.secret_keys else b""
    files_key = hmac.new(key, b"frontdesk: files agents send", hashlib.sha256).digest()
    return Inbox(Hub(), MediaStore(settings.data_dir / "media"), files_key)


class _Frontdesk(Starlette):
    """Starlette, but Meta's webhook POSTs go straight to the intake, the busiest path of the
    service: Starlette's middleware and routing cost ~3 % of its throughput. Its `Route` stays
    for everything else (other methods: 405; behind a root path: routed as usual)."""

    def __init__(self, intake: Intake, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == WEBHOOK_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self._intake(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    clock: Callable[[], float] = time.time,
    run_worker: bool | None = None,
    http: httpx.AsyncClient | None = None,
    passwords: Passwords | None = None,
) -> Starlette:
    """Frontdesk's web app; on SQLite (or when asked) it also runs a worker in-process.

    `http` reaches Meta (tests give a client bound to the emulator); without it the app makes
    its own and closes it on shutdown. `passwords` hashes console passwords (argon2id with
    its defaults unless given).
    """
    # SQLite's checkpoints in a thread (`store.checkpoints`), for an engine made for it.
    engine = engine or create_engine(settings.database_url, checkpoint_thread=True)
    checkpoints = checkpointer(engine)
    owned_http = http is None
    http = http or httpx.AsyncClient(timeout=SEND_TIMEOUT)
    intake = Intake(
        engine,
        settings.meta_app_secret,
        settings.meta_verify_token,
        max_body_bytes=settings.max_body_bytes,
        clock=clock,
    )
    health = Health(engine, intake, clock)
    checkup = build_checkup(settings, http)
    with_worker = settings.runs_worker_in_process if run_worker is None else run_worker
    handlers = job_handlers(
        settings.meta_app_id,
        sender=build_sender(settings, http),
        enricher=build_enricher(settings, http),
        doctor=checkup,
        caller=build_caller(settings, http),
        pusher=build_pusher(settings, http),
    )
    worker = Worker(
        engine,
        handlers,
        concurrency=settings.workers,
        clock=clock,
        lease=settings.job_lease_seconds,
        keep=build_retention(settings),
    )

    if with_worker:
        intake.on_enqueued = worker.wake
        worker.defer_to = lambda: intake.in_flight > 0

    box = build_inbox(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            # Live updates first: the worker's changes reach open inbox pages from its first
            # job. (Its first transaction also makes the database file WAL, if new.)
            async with changes.feed(engine, box.hub):
                if checkpoints is not None:
                    checkpoints.start()
                task = (
                    asyncio.create_task(worker.run(), name="in-process-worker")
                    if with_worker
                    else None
                )
                try:
                    yield
                finally:
                    if task is not None:
                        worker.stop()
                        await task
        finally:
            if owned_http:
                await http.aclose()
            if checkpoints is not None:
                await asyncio.to_thread(checkpoints.stop)
            await engine.dispose()

    console = Console(
        engine,
        build_console_config(settings),
        Secrets(settings.secret_keys),
        passwords or Passwords(),
        clock,
        http=http,
        checkup=checkup,
    )
    hooks = ChannelHooks(engine, Secrets(settings.secret_keys), intake, clock)

    app = _Frontdesk(
        intake,
        routes=[
            Route(WEBHOOK_PATH, intake.verify, methods=["GET"]),
            Route(WEBHOOK_PATH, intake, methods=["POST"]),
            Route(ChannelHooks.PATH, hooks.verify, methods=["GET"]),
            Route(ChannelHooks.PATH, hooks.receive, methods=["POST"]),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/metrics", health.metrics, methods=["GET"]),
            *console_routes(console),
            *inbox_routes(console, box),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.worker = worker
    app.state.intake = intake
    app.state.inbox = box
    return app
