"""Intake end to end: the real emulator delivers signed webhooks to Frontdesk in-process; an event
is acknowledged only once stored, and the worker files each message once, in order."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from frontdesk.app import create_app
from frontdesk.emulator import Clock, Emulator, WebhookSettings, psid_for
from frontdesk.settings import Settings
from frontdesk.store import conversations as store
from frontdesk.store.tables import contacts, jobs, messages, webhook_bodies
from tests.emulator.conftest import page_token

pytestmark = pytest.mark.db

APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
VERIFY = "verify-me"
PAGE = "104857600012345"
PEOPLE = ["7100000000000001", "7100000000000002", "7100000000000003", "10150000000000001"]
NOW = 1_795_000_000.0
FIELDS = [
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "messaging_postbacks",
]


@pytest.fixture
def frontdesk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> Starlette:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        meta_app_id=APP_ID,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY,
    )
    return create_app(settings, engine=engine, clock=lambda: NOW, run_worker=False)


@pytest.fixture
async def client(frontdesk: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=frontdesk), base_url="http://frontdesk.test"
    ) as c:
        yield c


@pytest.fixture
async def meta(frontdesk: Starlette, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator, with the demo Page connected to Frontdesk the way Meta would have it."""
    async with engine.begin() as conn:
        await store.add_channel(conn, PAGE, "Lisbon Tees", NOW)
    emulator = Emulator(
        clock=Clock(NOW, frozen=True),
        transport=httpx.ASGITransport(app=frontdesk),
        webhooks=WebhookSettings(retry_delays=[0.0]),
    )
    async with emulator, emulator.client() as graph:
        app_token = f"{APP_ID}|{APP_SECRET}"
        subscribed = await graph.post(
            f"/v25.0/{APP_ID}/subscriptions",
            data={
                "object": "page",
                "callback_url": "http://frontdesk.test/webhooks/messenger",
                "verify_token": VERIFY,
                "fields": ",".join(FIELDS),
                "access_token": app_token,
            },
        )
        assert subscribed.json() == {"success": True}, subscribed.text
        token = await page_token(graph, PAGE)
        page_subscribed = await graph.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"subscribed_fields": ",".join(FIELDS), "access_token": token},
        )
        assert page_subscribed.json() == {"success": True}
        graph.emulator = emulator  # type: ignore[attr-defined]
        yield graph


async def say(meta: httpx.AsyncClient, person: str, text: str) -> None:
    response = await meta.post(
        "/_emulator/act/message", json={"page_id": PAGE, "person_id": person, "text": text}
    )
    assert response.status_code == 200, response.text


async def drain(meta: httpx.AsyncClient, frontdesk: Starlette) -> None:
    await meta.emulator.meta.drain()  # type: ignore[attr-defined]
    await frontdesk.state.worker.run_until_idle()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_the_verification_handshake(client: httpx.AsyncClient) -> None:
    ok = await client.get(
        "/webhooks/messenger",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = await client.get(
        "/webhooks/messenger",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403


async def test_a_message_is_stored_with_its_contact_and_conversation(
    meta: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    await say(meta, PEOPLE[0], "Olá! Do you ship to Lisbon? 🚚")
    await drain(meta, frontdesk)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(messages.c.text, messages.c.direction, messages.c.author, messages.c.mid)
            )
        ).one()
        contact = (await conn.execute(select(contacts.c.psid, contacts.c.last_user_at))).one()
    assert (row.text, row.direction, row.author) == (
        "Olá! Do you ship to Lisbon? 🚚",
        "inbound",
        "contact",
    )
    assert row.mid.startswith("m_")
    assert contact.psid == psid_for(PAGE, PEOPLE[0])
    assert contact.last_user_at == NOW


async def test_duplicate_deliveries_store_one_message(
    meta: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    await meta.patch("/_emulator/settings", json={"webhooks": {"duplicate_rate": 1.0}})
    await say(meta, PEOPLE[1], "twice?")
    await drain(meta, frontdesk)
    assert await count(engine, webhook_bodies) == 2
    assert await count(engine, messages) == 1


async def test_a_batch_of_50_events_for_5_people_is_filed_in_each_persons_order(
    meta: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    await meta.patch(
        "/_emulator/settings", json={"webhooks": {"batch_size": 50, "batch_window": 0.3}}
    )
    people = [*PEOPLE, "7100000000000004"]
    await meta.post("/_emulator/people", json={"id": people[-1], "name": "Zé Costa"})
    for n in range(10):
        for who, person in enumerate(people):
            await say(meta, person, f"person {who} #{n}")
    await drain(meta, frontdesk)
    assert await count(engine, webhook_bodies) < 10  # batched: several entries per POST
    async with engine.connect() as conn:
        rows = (await conn.execute(select(messages.c.text).order_by(messages.c.id))).scalars().all()
    assert len(rows) == 50
    for who in range(len(people)):
        mine = [text for text in rows if text.startswith(f"person {who} ")]
        assert mine == [f"person {who} #{n}" for n in range(10)]


async def test_a_bad_or_missing_signature_is_403_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = json.dumps({"object": "page", "entry": []}).encode()
    for headers in (
        {},
        signed(body, "wrong-secret"),
        {"x-hub-signature-256": "sha256=zz"},
        {"x-hub-signature-256": "md5=" + "0" * 32},
    ):
        response = await client.post("/webhooks/messenger", content=body, headers=headers)
        assert (response.status_code, response.text) == (403, "")
    assert await count(engine, webhook_bodies) == 0


async def test_oversized_bodies_are_413(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = await client.post("/webhooks/messenger", content=body, headers=signed(body))
    assert response.status_code == 413
    assert await count(engine, webhook_bodies) == 0


async def test_signed_but_broken_json_is_kept_as_dead_and_acknowledged(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = b'{"object": "page", "entry": [ broken'
    response = await client.post("/webhooks/messenger", content=body, headers=signed(body))
    assert (response.status_code, response.text) == (200, "EVENT_RECEIVED")
    async with engine.connect() as conn:
        row = (await conn.execute(select(webhook_bodies.c.state, webhook_bodies.c.body))).one()
    assert (row.state, row.body) == ("malformed", body)
    assert await count(engine, jobs) == 0


async def test_an_unknown_page_is_kept_for_inspection(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    event = {
        "sender": {"id": "1"},
        "recipient": {"id": "999"},
        "timestamp": 1,
        "message": {"mid": "m_1", "text": "hi"},
    }
    body = json.dumps(
        {"object": "page", "entry": [{"id": "999", "time": 1, "messaging": [event]}]}
    ).encode()
    response = await client.post("/webhooks/messenger", content=body, headers=signed(body))
    assert response.status_code == 200
    async with engine.connect() as conn:
        row = (await conn.execute(select(webhook_bodies.c.state, webhook_bodies.c.note))).one()
    assert (row.state, row.note) == ("unknown_page", "no channel for Page 999")
    assert await count(engine, jobs) == 0


async def test_without_an_app_secret_every_post_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="sqlite://",
        secret_keys=(Fernet.generate_key().decode(),),
        meta_verify_token=VERIFY,
    )
    app = create_app(settings, engine=engine, clock=lambda: NOW, run_worker=False)
    body = json.dumps({"object": "page", "entry": []}).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://fd.test"
    ) as c:
        for headers in ({}, signed(body, "")):
            response = await c.post("/webhooks/messenger", content=body, headers=headers)
            assert (response.status_code, response.text) == (403, "")
    assert await count(engine, webhook_bodies) == 0


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Chunked bodies carry no content-length: the limit is counted as the chunks arrive."""
    chunk = b" " * (64 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(40):  # 2.5 MiB in all, over the 1 MiB limit
            yield chunk
        yield b"}"

    response = await client.post(
        "/webhooks/messenger", content=chunks(), headers=signed(b"not what is sent")
    )
    assert response.status_code == 413
    assert await count(engine, webhook_bodies) == 0


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " 12", "99999999999999999999"])
async def test_a_content_length_that_is_not_a_small_number_is_413(
    client: httpx.AsyncClient, engine: AsyncEngine, length: str
) -> None:
    body = json.dumps({"object": "page", "entry": []}).encode()
    request = client.build_request(
        "POST", "/webhooks/messenger", content=body, headers=signed(body)
    )
    request.headers["content-length"] = length
    response = await client.send(request)
    assert response.status_code == 413
    assert await count(engine, webhook_bodies) == 0


async def test_a_client_that_goes_away_mid_body_gets_400_and_nothing_is_stored(
    frontdesk: Starlette, engine: AsyncEngine
) -> None:
    body = json.dumps({"object": "page", "entry": []}).encode()
    messages_in = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages_in.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(k.encode(), v.encode()) for k, v in signed(body).items()]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/messenger",
        "raw_path": b"/webhooks/messenger",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("frontdesk.test", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    await frontdesk(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert await count(engine, webhook_bodies) == 0


async def test_other_methods_are_405(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await client.request(method, "/webhooks/messenger", content=b"{}")
        assert response.status_code == 405
    assert await count(engine, webhook_bodies) == 0
