"""Pages for people: the Messenger client, the console, the live stream and the media CDN."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .meta import Meta

KEEPALIVE_SECONDS = 15.0


class Pages:
    def __init__(self, meta: Meta, templates: Jinja2Templates) -> None:
        self.meta = meta
        self.templates = templates

    async def messenger(self, request: Request) -> Response:
        world = self.meta.world
        return self.templates.TemplateResponse(
            request,
            "messenger.html",
            {"people": list(world.people.values()), "pages": list(world.pages.values())},
        )

    async def console(self, request: Request) -> Response:
        return self.templates.TemplateResponse(request, "console.html", {})

    async def stream(self, request: Request) -> Response:
        """Server-sent events: a `change` whenever anything in the world moves."""
        meta = self.meta

        async def events() -> AsyncIterator[str]:
            version = -1
            while True:
                current = meta.version
                if current != version:
                    version = current
                    yield f"event: change\ndata: {json.dumps({'version': version})}\n\n"
                else:
                    yield ": keepalive\n\n"
                if await request.is_disconnected():
                    return
                await meta.wait_for_change(version, KEEPALIVE_SECONDS)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def cdn(self, request: Request) -> Response:
        """Media people sent; links expire like Meta's signed CDN URLs do (digest §3.5)."""
        try:
            media = self.meta.fetch_media(
                request.path_params["media_id"],
                request.query_params.get("oe", ""),
                request.query_params.get("oh", ""),
            )
        except LookupError:
            return JSONResponse({"error": "not found"}, status_code=404)
        except (PermissionError, ValueError) as err:
            return Response(
                str(err) or "URL signature expired", status_code=403, media_type="text/plain"
            )
        return Response(media.content, media_type=media.content_type)

    def routes(self) -> list[Route]:
        return [
            Route("/messenger", self.messenger, methods=["GET"]),
            Route("/console", self.console, methods=["GET"]),
            Route("/_emulator/stream", self.stream, methods=["GET"]),
            Route("/cdn/{media_id}/{name}", self.cdn, methods=["GET"]),
        ]
