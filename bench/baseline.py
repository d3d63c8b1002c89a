"""The baseline: a minimal Starlette route that only checks the HMAC and answers 200.

Everything Frontdesk's intake adds on top of this (parsing, the durable store, the queue) is what
`make bench` measures; both are served by the same uvicorn settings (see run.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

SECRET = os.environ.get("FRONTDESK_META_APP_SECRET", "").encode()


async def receive(request: Request) -> Response:
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    given = request.headers.get("x-hub-signature-256", "")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return PlainTextResponse("", status_code=403)
    return PlainTextResponse("EVENT_RECEIVED")


app = Starlette(routes=[Route("/webhooks/messenger", receive, methods=["POST"])])
