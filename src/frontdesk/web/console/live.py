"""Live updates for inbox pages: one server-sent event stream per open page, carrying the ids
of what changed in the workspace (`store.changes`); the page then asks for the content.

Events: `change` (JSON: `c` the conversation, `k` the kind, `m` a message, `n` a note, `a` its
assignee), `resync` (changes were missed: reload the view), `signed-out` (the session ended:
the stream stops). A comment every `Inbox.heartbeat` seconds keeps proxies from closing a quiet
stream, and each one re-checks the session, so logging out elsewhere closes it within that time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from frontdesk.store import accounts
from frontdesk.store.changes import CLOSED, RESYNC

from .context import Ask, Console
from .inbox import Inbox
from .pages import SECURITY_HEADERS

RETRY_MS = 2000
"""How soon a browser reconnects a dropped stream."""


async def _signed_in(console: Console, token: str | None) -> bool:
    if token is None:
        return False
    limits = console.config
    async with console.engine.begin() as conn:
        session = await accounts.session_for(
            conn, token, console.clock(), idle=limits.session_idle, lifetime=limits.session_lifetime
        )
    return session is not None


async def stream(box: Inbox, console: Console, ask: Ask) -> Response:
    user = ask.user
    token = ask.visit.session_token

    async def events() -> AsyncIterator[str]:
        with box.hub.subscribe(user.workspace_id) as subscription:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            while True:
                try:
                    async with asyncio.timeout(box.heartbeat):
                        item = await subscription.next()
                except TimeoutError:
                    if not await _signed_in(console, token):
                        yield "event: signed-out\ndata: {}\n\n"
                        return
                    yield ": still here\n\n"
                    continue
                if item is CLOSED:
                    return  # the server is stopping; the browser reconnects to the next one
                if item is RESYNC:
                    yield "event: resync\ndata: {}\n\n"
                else:
                    yield f"event: change\ndata: {json.dumps(item.public())}\n\n"

    headers = {**SECURITY_HEADERS, "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
