"""Pages for people: the Messenger client, the console, the live stream and the media CDN."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .meta import Meta
from .world import PAGE_INBOX_APP_ID

KEEPALIVE_SECONDS = 15.0


class Pages:
    def __init__(self, meta: Meta, templates: Jinja2Templates) -> None:
        self.meta = meta
        self.templates = templates

    async def messenger(self, request: Request) -> Response:
        """The chat for `?person=&page=`; by default the first person without a Page role."""
        world = self.meta.world
        people, pages = list(world.people.values()), list(world.pages.values())
        staff = {person_id for page in pages for person_id in page.roles}
        person_id = request.query_params.get("person")
        if person_id not in world.people:
            person_id = next(
                (p.id for p in people if p.id not in staff), people[0].id if people else None
            )
        page_id = request.query_params.get("page")
        if page_id not in world.pages:
            page_id = pages[0].id if pages else None
        return self.templates.TemplateResponse(
            request,
            "messenger.html",
            {
                "people": people,
                "pages": pages,
                "person_id": person_id,
                "page_id": page_id,
                "page_inbox_app_id": PAGE_INBOX_APP_ID,
            },
        )

    async def personas(self, request: Request) -> Response:
        """A Page's personas, so the client can say who wrote a message (digest §5.2)."""
        page_id = request.query_params.get("page_id")
        return JSONResponse(
            {
                "data": [
                    {"id": p.id, "name": p.name, "profile_picture_url": p.profile_picture_url}
                    for p in self.meta.personas.values()
                    if page_id in (None, p.page_id)
                ]
            }
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
            Route("/_emulator/personas", self.personas, methods=["GET"]),
            Route("/cdn/{media_id}/{name}", self.cdn, methods=["GET"]),
        ]
