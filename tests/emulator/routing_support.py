"""Support for the webhook, event and routing tests: more receivers, any app's Login, shortcuts.

Written from the digest like conftest.py: a second app walks the same Login dialog and Graph
calls a real developer would, and receivers are plain ASGI apps reached through httpx.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from .conftest import ADMIN, ALL_FIELDS, JOAO, PAGE, REDIRECT, VERIFY_TOKEN

OTHER_APP_ID = "555666777888999"
OTHER_SECRET = "other-app-secret-fedcba9876543210"
OTHER_PREFIX = "/two"
OTHER_CALLBACK = f"http://receiver.test{OTHER_PREFIX}/webhook"
PAGE_INBOX = "263902037430900"
MESSAGING_SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata"


class Switchboard:
    """One ASGI app in front of several receivers: `/two/...` goes to the second one."""

    def __init__(self, main: ASGIApp, other: ASGIApp) -> None:
        self.main = main
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(OTHER_PREFIX + "/"):
            scope = {**scope, "path": path[len(OTHER_PREFIX) :], "raw_path": None}
            await self.other(scope, receive, send)
            return
        await self.main(scope, receive, send)


class Stall:
    """Wraps a receiver: while `seconds` > 0, every POST hangs that long before it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.seconds > 0:
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def act(graph: httpx.AsyncClient, action: str, /, **body: Any) -> Any:
    """Act as a person through the control API (JOAO on PAGE unless told otherwise)."""
    body.setdefault("page_id", PAGE)
    if "psid" not in body:
        body.setdefault("person_id", JOAO)
    return ok(await graph.post(f"/_emulator/act/{action}", json=body))


async def subscribe_app(
    graph: httpx.AsyncClient,
    app_id: str,
    secret: str,
    callback: str,
    fields: list[str] | None = None,
) -> None:
    """The app-level subscription (`/{app-id}/subscriptions`), verified by the handshake."""
    response = await graph.post(
        f"/v25.0/{app_id}/subscriptions",
        data={
            "object": "page",
            "callback_url": callback,
            "verify_token": VERIFY_TOKEN,
            "fields": ",".join(fields or ALL_FIELDS),
            "access_token": f"{app_id}|{secret}",
        },
    )
    assert ok(response) == {"success": True}


async def app_page_token(
    graph: httpx.AsyncClient, app_id: str, secret: str, page: str = PAGE, person: str = ADMIN
) -> str:
    """Walk the Login dialog for any app and come back with a Page token (digest §8)."""
    query = {
        "client_id": app_id,
        "redirect_uri": REDIRECT,
        "state": "st4te",
        "scope": MESSAGING_SCOPE,
    }
    dialog = await graph.get("/v25.0/dialog/oauth", params={**query, "as": person})
    assert dialog.status_code == 200, dialog.text
    form = {
        **query,
        "person_id": person,
        "action": "allow",
        "page": [page],
        "permission": ["public_profile", *MESSAGING_SCOPE.split(",")],
    }
    redirect = await graph.post("/v25.0/dialog/oauth", data=form)
    assert redirect.status_code == 302, redirect.text
    code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
    client = {"client_id": app_id, "client_secret": secret}
    short = ok(
        await graph.get(
            "/v25.0/oauth/access_token",
            params={**client, "redirect_uri": REDIRECT, "code": code},
        )
    )
    long = ok(
        await graph.get(
            "/v25.0/oauth/access_token",
            params={
                **client,
                "grant_type": "fb_exchange_token",
                "fb_exchange_token": short["access_token"],
            },
        )
    )
    accounts = ok(
        await graph.get("/v25.0/me/accounts", params={"access_token": long["access_token"]})
    )
    return next(str(p["access_token"]) for p in accounts["data"] if p["id"] == page)


async def subscribe_page(
    graph: httpx.AsyncClient, token: str, page: str = PAGE, fields: list[str] | None = None
) -> None:
    response = await graph.post(
        f"/v25.0/{page}/subscribed_apps",
        params={"subscribed_fields": ",".join(fields or ALL_FIELDS), "access_token": token},
    )
    assert ok(response) == {"success": True}


async def event_attempts(graph: httpx.AsyncClient, app_id: str) -> list[dict[str, Any]]:
    """Webhook POST attempts from the delivery log (verification GETs left out)."""
    log = ok(await graph.get("/_emulator/deliveries", params={"app_id": app_id}))
    return [a for a in log["data"] if a["kind"] == "event"]


async def advance(graph: httpx.AsyncClient, seconds: float) -> None:
    ok(await graph.post("/_emulator/clock/advance", json={"seconds": seconds}))
