"""The agent inbox's URL map: its pages behind the console's gate (session, CSRF, Origin, form
limits, errors), and the one address without a session, the signed files Meta fetches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import files, inbox, live
from .context import Ask, Console
from .inbox import Inbox
from .routes import gate

InboxView = Callable[[Inbox, Console, Ask], Awaitable[Response]]


def inbox_routes(console: Console, box: Inbox) -> list[BaseRoute]:
    """Every route of the inbox; app.py mounts them beside the console's."""
    inbox.install_filters(console.pages.env)

    def page(path: str, view: InboxView, *, methods: list[str]) -> Route:
        return Route(path, gate(console, partial(view, box), signed_in=True), methods=methods)

    async def sent_file(request: Request) -> Response:
        return await files.sent_file(box, request)

    conversation = "/inbox/{conversation_id:int}"
    return [
        page("/inbox", inbox.list_page, methods=["GET"]),
        page("/inbox/list", inbox.list_part, methods=["GET"]),
        page("/inbox/live", live.stream, methods=["GET"]),
        page(conversation, inbox.conversation_page, methods=["GET"]),
        page(f"{conversation}/parts", inbox.parts, methods=["GET"]),
        page(f"{conversation}/messages/{{message_id:int}}", inbox.message_part, methods=["GET"]),
        page(f"{conversation}/notes/{{note_id:int}}", inbox.note_part, methods=["GET"]),
        page(
            f"{conversation}/messages/{{message_id:int}}/files/{{index:int}}",
            files.attachment,
            methods=["GET"],
        ),
        page(f"{conversation}/picture", files.picture, methods=["GET"]),
        Route("/files/{sha256}/{signature}/{name}", sent_file, methods=["GET"]),
    ]
