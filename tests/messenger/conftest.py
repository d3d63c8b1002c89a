"""Fixtures: the emulator in-process, a webhook receiver built on the adapter, a connected Page.

The clients under test get an `httpx.AsyncClient` bound to the emulator's ASGI app through a
`Wire` transport, which keeps every request as sent so tests can assert exact payloads. The
Login dialog is walked with raw HTTP, as a browser would; nothing of the adapter is mocked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from frontdesk.emulator import Clock, Emulator, WebhookSettings, psid_for
from frontdesk.messenger import (
    Batch,
    GraphClient,
    SendClient,
    parse,
    verify_headers,
    verify_subscription,
)

PAYLOADS = Path(__file__).parent.parent / "payloads"
GRAPH = "http://emulator.test"
APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
ADMIN = "10150000000000001"
JOAO = "7100000000000001"
ANA = "7100000000000003"  # a tester of the app: reachable in development mode
PAGE = "104857600012345"
PAGE2 = "104857600099999"
PAGE_INBOX = "263902037430900"
JOAO_PSID = psid_for(PAGE, JOAO)
ANA_PSID = psid_for(PAGE, ANA)
VERIFY_TOKEN = "s3cr3t-verify"
CALLBACK = "http://receiver.test/webhook"
REDIRECT = "http://127.0.0.1:8000/callback"
SCOPE = ("pages_show_list", "pages_messaging", "pages_manage_metadata")
ALL_FIELDS = (
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
)
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()


def payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


class Wire(httpx.AsyncBaseTransport):
    """Passes requests to the emulator and keeps each one, body read, as it went out."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def to(self, path_end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(path_end)]

    def sent_json(self, path_end: str = "/messages") -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.to(path_end)]


@dataclass
class Receiver:
    """A webhook endpoint built on the adapter: handshake, signature over raw bytes, parse."""

    secret: str = APP_SECRET
    allow_sha1: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            if request.method == "GET":
                challenge = verify_subscription(request.query_params, VERIFY_TOKEN)
                if challenge is None:
                    return PlainTextResponse("", status_code=403)
                return PlainTextResponse(challenge)
            raw = await request.body()
            valid = verify_headers(raw, request.headers, self.secret, allow_sha1=self.allow_sha1)
            self.posts.append(
                {"raw": raw, "headers": dict(request.headers), "valid": valid, "batch": parse(raw)}
            )
            return PlainTextResponse("EVENT_RECEIVED", status_code=200 if valid else 403)

        return Starlette(routes=[Route("/webhook", webhook, methods=["GET", "POST"])])

    @property
    def batches(self) -> list[Batch]:
        return [post["batch"] for post in self.posts]


@pytest.fixture
def clock() -> Clock:
    return Clock(START, frozen=True)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def emulator(clock: Clock, receiver: Receiver) -> AsyncIterator[Emulator]:
    settings = WebhookSettings(retry_delays=[0.0], seed=7)
    async with Emulator(
        clock=clock, transport=httpx.ASGITransport(app=receiver.app()), webhooks=settings
    ) as emu:
        yield emu


@pytest.fixture
def wire(emulator: Emulator) -> Wire:
    return Wire(httpx.ASGITransport(app=emulator.app))


@pytest.fixture
async def http(emulator: Emulator, wire: Wire) -> AsyncIterator[httpx.AsyncClient]:
    """The client handed to the adapter, as the composition root would."""
    async with httpx.AsyncClient(transport=wire, base_url=emulator.base_url) as client:
        yield client


@pytest.fixture
async def control(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's own client, for its control API and the Login dialog."""
    async with emulator.client() as client:
        yield client


@pytest.fixture
def sender(http: httpx.AsyncClient) -> SendClient:
    return SendClient(http, GRAPH)


@pytest.fixture
def graph(http: httpx.AsyncClient) -> GraphClient:
    return GraphClient(http, GRAPH)


async def ok(call: Awaitable[httpx.Response]) -> Any:
    response = await call
    assert response.is_success, response.text
    return response.json()


async def login_code(
    control: httpx.AsyncClient, dialog_url: str, person: str = ADMIN, pages: tuple[str, ...] = ()
) -> str:
    """Walk the Login dialog at `dialog_url` as `person`, granting every permission asked."""
    url = urlparse(dialog_url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    shown = await control.get(url.path, params={**query, "as": person})
    assert shown.status_code == 200, shown.text
    form = {
        **query,
        "person_id": person,
        "action": "allow",
        "page": list(pages or (PAGE, PAGE2)),
        "permission": ["public_profile", *query.get("scope", "").split(",")],
    }
    answer = await control.post(url.path, data=form)
    assert answer.status_code == 302, answer.text
    back = parse_qs(urlparse(answer.headers["location"]).query)
    assert back["state"] == [query["state"]]
    return back["code"][0]


async def page_token(control: httpx.AsyncClient, page: str = PAGE, person: str = ADMIN) -> str:
    """A Page token the way Meta hands one out, through raw Graph calls (no adapter code)."""
    dialog = (
        f"{GRAPH}/v25.0/dialog/oauth?client_id={APP_ID}&redirect_uri={REDIRECT}"
        f"&state=st4te&scope={','.join(SCOPE)}"
    )
    code = await login_code(control, dialog, person)
    short = await ok(
        control.get(
            "/v25.0/oauth/access_token",
            params={
                "client_id": APP_ID,
                "client_secret": APP_SECRET,
                "redirect_uri": REDIRECT,
                "code": code,
            },
        )
    )
    long = await ok(
        control.get(
            "/v25.0/oauth/access_token",
            params={
                "grant_type": "fb_exchange_token",
                "client_id": APP_ID,
                "client_secret": APP_SECRET,
                "fb_exchange_token": short["access_token"],
            },
        )
    )
    # From a long-lived user token, so the Page token never expires (digest §8.4).
    accounts = await ok(
        control.get("/v25.0/me/accounts", params={"access_token": long["access_token"]})
    )
    return next(str(p["access_token"]) for p in accounts["data"] if p["id"] == page)


async def act(control: httpx.AsyncClient, action: str, /, **body: Any) -> Any:
    """Act as a person through the control API (João on the Page unless told otherwise)."""
    body.setdefault("page_id", PAGE)
    if "psid" not in body:
        body.setdefault("person_id", JOAO)
    return await ok(control.post(f"/_emulator/act/{action}", json=body))


async def outbox(
    control: httpx.AsyncClient, person: str = JOAO, page_id: str = PAGE
) -> list[dict[str, Any]]:
    """What the Page sent the person, as the emulator recorded it."""
    sent = await ok(
        control.get("/_emulator/sent", params={"page_id": page_id, "person_id": person})
    )
    return list(sent["data"])
