"""The agent inbox's URL map: its pages behind the console's gate (session, CSRF, Origin, form
limits, errors), and the one address without a session, the signed files Meta fetches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import compose, desk, export, files, handoff_page, inbox, live, replies, uploads
from .context import Ask, Console
from .forms import FormReader, read_plain_form
from .inbox import Inbox
from .routes import gate

InboxView = Callable[[Inbox, Console, Ask], Awaitable[Response]]


def inbox_routes(console: Console, box: Inbox) -> list[BaseRoute]:
    """Every route of the inbox; app.py mounts them beside the console's."""
    inbox.install_filters(console.pages.env)

    def page(
        path: str, view: InboxView, *, methods: list[str], reader: FormReader = read_plain_form
    ) -> Route:
        endpoint = gate(console, partial(view, box), signed_in=True, reader=reader)
        return Route(path, endpoint, methods=methods)

    async def sent_file(request: Request) -> Response:
        return await files.sent_file(box, request)

    conversation = "/inbox/{conversation_id:int}"
    return [
        page("/inbox", inbox.list_page, methods=["GET"]),
        page("/inbox/list", inbox.list_part, methods=["GET"]),
        page("/inbox/live", live.stream, methods=["GET"]),
        page("/inbox/export", export.listed, methods=["GET"]),
        page("/inbox/canned", replies.show, methods=["GET"]),
        page("/inbox/canned", replies.save, methods=["POST"]),
        page("/inbox/canned/{canned_id:int}/remove", replies.remove, methods=["POST"]),
        page("/channels/{channel_id:int}/handoff", handoff_page.show, methods=["GET"]),
        page("/channels/{channel_id:int}/handoff", handoff_page.save, methods=["POST"]),
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
        page(f"{conversation}/export", export.conversation, methods=["GET"]),
        page(f"{conversation}/reply", compose.reply, methods=["POST"]),
        page(f"{conversation}/note", compose.note, methods=["POST"]),
        page(
            f"{conversation}/upload",
            uploads.discarding(compose.upload),
            methods=["POST"],
            reader=uploads.reader(box.media),
        ),
        page(f"{conversation}/typing", compose.typing, methods=["POST"]),
        page(f"{conversation}/seen", compose.seen, methods=["POST"]),
        page(f"{conversation}/messages/{{message_id:int}}/retry", compose.retry, methods=["POST"]),
        page(f"{conversation}/assign", desk.assign, methods=["POST"]),
        page(f"{conversation}/hand-back", desk.hand_back, methods=["POST"]),
        page(f"{conversation}/resolve", desk.resolve, methods=["POST"]),
        page(f"{conversation}/reopen", desk.reopen, methods=["POST"]),
        page(f"{conversation}/snooze", desk.snooze, methods=["POST"]),
        Route("/files/{sha256}/{signature}/{name}", sent_file, methods=["GET"]),
    ]
