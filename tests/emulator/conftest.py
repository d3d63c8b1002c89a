"""Fixtures: an emulator in-process, a webhook receiver app, and a connected demo Page.

The receiver is written here from the digest (§1, §2), not from any Frontdesk code, so the
emulator is checked against Meta's documented behaviour alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from frontdesk.emulator import Clock, Emulator, WebhookSettings

APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
ADMIN = "10150000000000001"
JOAO = "7100000000000001"
CHLOE = "7100000000000002"
ANA = "7100000000000003"  # tester of the app
PAGE = "104857600012345"
PAGE2 = "104857600099999"
VERIFY_TOKEN = "s3cr3t-verify"
CALLBACK = "http://receiver.test/webhook"
REDIRECT = "http://127.0.0.1:8000/callback"
ALL_FIELDS = [
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "messaging_postbacks",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "standby",
]
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()


@dataclass
class Receiver:
    """A webhook endpoint that records what arrives, with the verdict of a plain HMAC check."""

    secret: str = APP_SECRET
    status: int = 200
    posts: list[dict[str, Any]] = field(default_factory=list)
    verifications: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            if request.method == "GET":
                q = request.query_params
                self.verifications.append(dict(q))
                if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == VERIFY_TOKEN:
                    return PlainTextResponse(q.get("hub.challenge", ""))
                return PlainTextResponse("", status_code=403)
            raw = await request.body()
            expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
            self.posts.append(
                {
                    "raw": raw,
                    "headers": dict(request.headers),
                    "valid": hmac.compare_digest(
                        expected, request.headers.get("x-hub-signature-256", "")
                    ),
                    "body": json.loads(raw),
                }
            )
            return PlainTextResponse("EVENT_RECEIVED", status_code=self.status)

        return Starlette(routes=[Route("/webhook", webhook, methods=["GET", "POST"])])

    def events(self, channel: str = "messaging") -> list[dict[str, Any]]:
        return [
            event
            for post in self.posts
            for entry in post["body"]["entry"]
            for event in entry.get(channel, [])
        ]

    def of_kind(self, key: str, channel: str = "messaging") -> list[dict[str, Any]]:
        return [e for e in self.events(channel) if key in e]


UNCHECKED: Any = object()


def graph_error(
    response: httpx.Response, code: int, subcode: Any = UNCHECKED, *, status: int = 400
) -> dict[str, Any]:
    """Assert Meta's error envelope (digest §5.7) and return the inner `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert list(body) == ["error"], body
    error: dict[str, Any] = body["error"]
    for key in ("message", "type", "fbtrace_id"):
        assert isinstance(error.get(key), str), error
        assert error[key], error
    assert error["code"] == code, error
    if subcode is not UNCHECKED:
        assert error.get("error_subcode") == subcode, error
    return error


@pytest.fixture
def clock() -> Clock:
    return Clock(START, frozen=True)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def emulator(clock: Clock, receiver: Receiver) -> AsyncIterator[Emulator]:
    settings = WebhookSettings(retry_delays=[0.0, 0.0], seed=7)
    async with Emulator(
        clock=clock, transport=httpx.ASGITransport(app=receiver.app()), webhooks=settings
    ) as emu:
        yield emu


@pytest.fixture
async def graph(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with emulator.client() as client:
        yield client


async def login(
    graph: httpx.AsyncClient,
    person: str = ADMIN,
    scope: str = "pages_show_list,pages_messaging,pages_manage_metadata",
    pages: list[str] | None = None,
    decline: tuple[str, ...] = (),
) -> str:
    """Walk the Login dialog as `person` and return the code from the redirect."""
    query = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "st4te", "scope": scope}
    page = await graph.get("/v25.0/dialog/oauth", params={**query, "as": person})
    assert page.status_code == 200, page.text
    granted = [p for p in ["public_profile", *scope.split(",")] if p not in decline]
    form = {
        **query,
        "person_id": person,
        "action": "allow",
        "page": pages if pages is not None else [PAGE, PAGE2],
        "permission": granted,
    }
    response = await graph.post("/v25.0/dialog/oauth", data=form)
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    query_back = parse_qs(location.query)
    assert query_back["state"] == ["st4te"]
    return query_back["code"][0]


async def user_token(graph: httpx.AsyncClient, person: str = ADMIN, **kwargs: Any) -> str:
    code = await login(graph, person, **kwargs)
    short = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    assert short.status_code == 200, short.text
    long = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "fb_exchange_token": short.json()["access_token"],
        },
    )
    assert long.status_code == 200, long.text
    return str(long.json()["access_token"])


async def page_token(graph: httpx.AsyncClient, page: str = PAGE, person: str = ADMIN) -> str:
    token = await user_token(graph, person)
    accounts = await graph.get("/v25.0/me/accounts", params={"access_token": token})
    assert accounts.status_code == 200, accounts.text
    return next(str(p["access_token"]) for p in accounts.json()["data"] if p["id"] == page)


async def connect(
    graph: httpx.AsyncClient, page: str = PAGE, fields: list[str] | None = None
) -> str:
    """App subscription (verified) + Page subscription; returns the Page token."""
    sub = await graph.post(
        f"/v25.0/{APP_ID}/subscriptions",
        data={
            "object": "page",
            "callback_url": CALLBACK,
            "verify_token": VERIFY_TOKEN,
            "fields": ",".join(ALL_FIELDS),
            "access_token": f"{APP_ID}|{APP_SECRET}",
        },
    )
    assert sub.json() == {"success": True}, sub.text
    token = await page_token(graph, page)
    subscribed = await graph.post(
        f"/v25.0/{page}/subscribed_apps",
        params={"subscribed_fields": ",".join(fields or ALL_FIELDS), "access_token": token},
    )
    assert subscribed.json() == {"success": True}, subscribed.text
    return token


async def say(
    graph: httpx.AsyncClient, text: str, person: str = JOAO, page: str = PAGE
) -> dict[str, Any]:
    response = await graph.post(
        "/_emulator/act/message", json={"page_id": page, "person_id": person, "text": text}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def send(
    graph: httpx.AsyncClient, token: str, body: dict[str, Any], page: str = "me"
) -> httpx.Response:
    return await graph.post(f"/v25.0/{page}/messages", params={"access_token": token}, json=body)
