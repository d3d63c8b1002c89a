"""The emulator as an ASGI app, and `Emulator`: the one object tests and scripts start."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import control, scenario
from .client import Pages
from .clock import Clock
from .dialog import LoginDialog
from .graph import Graph
from .meta import Meta, MetaSettings
from .webhooks import WebhookSettings

PACKAGE = resources.files("frontdesk.emulator")


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(PACKAGE.joinpath("templates"))),
        autoescape=select_autoescape(["html"]),
    )
    return Jinja2Templates(env=env)


def create_app(meta: Meta, *, save_to: str | Path | None = None) -> Starlette:
    """Graph API, Login dialog, control API and the people pages, on one ASGI app."""
    templates = _templates()
    graph = Graph(meta)
    dialog = LoginDialog(meta, templates)
    pages = Pages(meta, templates)

    async def home(request: Request) -> Response:
        return RedirectResponse("/console", status_code=307)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await meta.aclose()
            if save_to is not None:
                threads = list(meta.threads.values())
                scenario.save(save_to, scenario.dump_world(meta.world, threads, meta.clock.now()))

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            *control.routes(meta),
            *pages.routes(),
            Mount("/static", StaticFiles(directory=str(PACKAGE.joinpath("static"))), name="static"),
            Route("/dialog/oauth", dialog.handle, methods=["GET", "POST"]),
            Route("/{version:str}/dialog/oauth", dialog.handle, methods=["GET", "POST"]),
            # PUT and PATCH too, so Graph answers them with its own error rather than a bare 405.
            Route("/{path:path}", graph.handle, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
        ],
        lifespan=lifespan,
    )


def build_meta(
    world_data: dict[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "http://127.0.0.1:8081",
    webhooks: WebhookSettings | None = None,
) -> Meta:
    data = scenario.default_scenario() if world_data is None else world_data
    world, threads = scenario.build_world(data)
    if clock is None:
        # A saved world resumes at its emulated time when that is ahead of the wall clock (it was
        # advanced), so closed windows stay closed and expired tokens stay expired.
        stopped_at = scenario.saved_clock(data)
        clock = (
            Clock(stopped_at) if stopped_at is not None and stopped_at > time.time() else Clock()
        )
    meta = Meta(
        world=world,
        clock=clock,
        settings=MetaSettings(base_url=base_url),
        webhook_settings=webhooks or WebhookSettings(),
        transport=transport,
    )
    for thread in threads:
        meta.threads[(thread.page_id, thread.person_id)] = thread
    return meta


class Emulator:
    """An emulated Meta for one test or script.

    `async with Emulator() as emu:` then talk to `emu.client()` (in-process, no sockets); give
    `transport=` to deliver webhooks in-process too (e.g. `httpx.ASGITransport(your_app)`).
    """

    def __init__(
        self,
        world_data: dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        base_url: str = "http://emulator.test",
        webhooks: WebhookSettings | None = None,
    ) -> None:
        self.base_url = base_url
        self.meta = build_meta(
            world_data, clock=clock, transport=transport, base_url=base_url, webhooks=webhooks
        )
        self.app = create_app(self.meta)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url, **kwargs
        )

    async def __aenter__(self) -> Emulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.meta.aclose()
