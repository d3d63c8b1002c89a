"""Frontdesk and the emulator wired to each other in-process, the demo Page connected.

Meta's webhooks reach Frontdesk's ASGI app, Frontdesk's Send API calls reach the emulator, and
both read one frozen clock: advancing the emulator's clock is how the 24-hour window closes and
how a retry falls due. Nothing of Frontdesk is replaced; the seam is the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from frontdesk.app import build_sender, create_app
from frontdesk.core import Author, Handler, LinkKind, Reply
from frontdesk.emulator import Clock, Emulator, WebhookSettings, psid_for
from frontdesk.settings import Settings
from frontdesk.store import conversations as store
from frontdesk.store import outbox
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, contacts, conversations, messages
from frontdesk.workers import sending
from frontdesk.workers.jobs import job_handlers
from frontdesk.workers.loop import Worker
from tests.emulator.conftest import page_token

APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
VERIFY = "verify-me"
PAGE = "104857600012345"
ADMIN = "10150000000000001"  # Morgan Reyes, who connected the Page
JOAO = "7100000000000001"
CHLOE = "7100000000000002"
NOW = 1_795_000_000.0
HOUR = 3600.0
FIELDS = [
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "messaging_postbacks",
    "messaging_handovers",
    "standby",
]


class LateApp:
    """An ASGI app bound after construction: the emulator and Frontdesk each need the other."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "Frontdesk is not built yet"
        await self.app(scope, receive, send)


def sent_in_batch(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Send API calls of a Graph batch request, each as the JSON body it would have had."""
    calls = []
    for item in body.get("batch", ()):
        if str(item.get("relative_url", "")).endswith("/messages"):
            params = {k: v[0] for k, v in parse_qs(item["body"]).items() if k != "access_token"}
            calls.append({k: _json_or_text(v) for k, v in params.items()})
    return calls


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class Desk:
    emulator: Emulator
    meta: httpx.AsyncClient
    """The emulator: Graph and its control API."""
    app: Starlette
    engine: AsyncEngine
    clock: Clock
    secrets: Secrets
    worker: Worker
    channel_id: int
    sent: list[dict[str, Any]] = field(default_factory=list)
    """Every Send API body Frontdesk posted, exactly as it went out."""

    async def settle(self) -> None:
        """Deliver every webhook and run every due job until nothing moves."""
        for _ in range(100):
            await self.emulator.meta.drain()
            if await self.worker.run_until_idle() == 0:
                return
        raise AssertionError("Frontdesk and the emulator did not settle")

    async def advance(self, seconds: float) -> None:
        response = await self.meta.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def act(self, action: str, person: str = JOAO, **body: Any) -> dict[str, Any]:
        response = await self.meta.post(
            f"/_emulator/act/{action}", json={"page_id": PAGE, "person_id": person, **body}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def say(self, text: str, person: str = JOAO) -> None:
        await self.act("message", person, text=text)
        await self.settle()

    async def fault(self, spec: Mapping[str, Any], kind: str | None = None) -> None:
        path = "/_emulator/faults" + (f"/{kind}" if kind else "")
        response = await self.meta.post(path, json=dict(spec))
        assert response.status_code in (200, 201), response.text

    async def conversation_id(self, person: str = JOAO) -> int:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(conversations.c.id)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(contacts.c.psid == psid_for(PAGE, person))
            )
            return int(found.scalar_one())

    async def reply(self, text: str, person: str = JOAO, author: Author = Author.AGENT) -> int:
        """Queue a reply the way the inbox (or a handler) does: one transaction."""
        conversation_id = await self.conversation_id(person)
        async with self.engine.begin() as conn:
            return await sending.queue_reply(
                conn, conversation_id, Reply(text=text), author, self.clock.now()
            )

    async def messages(self, person: str = JOAO) -> list[dict[str, Any]]:
        conversation_id = await self.conversation_id(person)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(messages)
                .where(messages.c.conversation_id == conversation_id)
                .order_by(messages.c.id)
            )
            return [dict(row._asdict()) for row in rows]

    async def outbound(self, person: str = JOAO) -> list[tuple[str | None, str]]:
        """(text, status) of every outgoing message, in order."""
        return [
            (m["text"], m["status"])
            for m in await self.messages(person)
            if m["direction"] == "outbound"
        ]

    async def channel(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(channels).where(channels.c.id == self.channel_id))
            ).one()
            return dict(row._asdict())

    async def contact(self, person: str = JOAO) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(contacts).where(contacts.c.psid == psid_for(PAGE, person))
                )
            ).one()
            return dict(row._asdict())

    async def handoff(self, person: str = JOAO) -> Any:
        conversation_id = await self.conversation_id(person)
        async with self.engine.connect() as conn:
            return await store.handoff_of(conn, conversation_id)

    async def on_meta(self, person: str = JOAO) -> list[dict[str, Any]]:
        """The Page's messages as the person's Messenger shows them."""
        response = await self.meta.get(
            "/_emulator/sent", params={"page_id": PAGE, "person_id": person}
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def set_human_agent(self, allowed: bool) -> None:
        async with self.engine.begin() as conn:
            await outbox.set_human_agent(conn, self.channel_id, allowed)

    async def new_page_token(self) -> str:
        """Log in again through the Login dialog and take the Page's token from me/accounts."""
        return await page_token(self.meta, PAGE, ADMIN)

    async def set_clock_of_contact(self, person: str, last_user_at: float | None) -> None:
        """Move what Frontdesk believes of the window (Meta keeps its own)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(contacts)
                .where(contacts.c.psid == psid_for(PAGE, person))
                .values(last_user_at=last_user_at)
            )


@contextlib.asynccontextmanager
async def connected(
    database_url: str,
    engine: AsyncEngine,
    tmp_path: Path,
    *,
    handlers: Mapping[LinkKind, Handler] | None = None,
    link: LinkKind = LinkKind.INBOX,
) -> AsyncIterator[Desk]:
    """Frontdesk (the real app) and the emulator, the demo Page connected with a fresh token.

    With `handlers`, the worker runs those handlers instead of the default ones (the stories
    of a handler that answers, before the rules/AI/endpoint links exist).
    """
    clock = Clock(NOW, frozen=True)
    late = LateApp()
    emulator = Emulator(
        clock=clock,
        transport=httpx.ASGITransport(app=late),
        webhooks=WebhookSettings(retry_delays=[0.0]),
    )
    sent: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/messages"):
            sent.append(json.loads(request.content))
        elif request.method == "POST" and re.fullmatch(r"/v\d+\.\d+/?", request.url.path):
            sent.extend(sent_in_batch(json.loads(request.content)))  # sends that went together

    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        meta_app_id=APP_ID,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY,
        graph_url=emulator.base_url,
    )
    async with (
        emulator,
        emulator.client() as meta,
        emulator.client(event_hooks={"request": [record]}) as http,
    ):
        app = create_app(settings, engine=engine, clock=clock.now, run_worker=False, http=http)
        late.app = app
        worker: Worker = app.state.worker
        if handlers is not None:
            worker = Worker(
                engine,
                job_handlers(APP_ID, sender=build_sender(settings, http), handlers=handlers),
                clock=clock.now,
            )
        subscribed = await meta.post(
            f"/v25.0/{APP_ID}/subscriptions",
            data={
                "object": "page",
                "callback_url": "http://frontdesk.test/webhooks/messenger",
                "verify_token": VERIFY,
                "fields": ",".join(FIELDS),
                "access_token": f"{APP_ID}|{APP_SECRET}",
            },
        )
        assert subscribed.json() == {"success": True}, subscribed.text
        token = await page_token(meta, PAGE, ADMIN)
        page_subscribed = await meta.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"subscribed_fields": ",".join(FIELDS), "access_token": token},
        )
        assert page_subscribed.json() == {"success": True}, page_subscribed.text
        secrets = Secrets(settings.secret_keys)
        async with engine.begin() as conn:
            channel_id = await store.add_channel(
                conn,
                PAGE,
                "Lisbon Tees",
                clock.now(),
                page_token=secrets.encrypt(token),
                link=link.value,
            )
        try:
            yield Desk(emulator, meta, app, engine, clock, secrets, worker, channel_id, sent)
        finally:
            # Webhooks still on their way (the echo of a send a test made last) reach the
            # intake before the emulator stops: cut off mid-commit, the intake's connection
            # would never go back to its pool, and its collection would fail a later test.
            try:
                async with asyncio.timeout(10):
                    await emulator.meta.drain()
            except TimeoutError:
                raise AssertionError("webhooks still undelivered 10 s after the test") from None
