"""Live updates when the worker is a process of its own: `frontdesk serve` (no worker inside)
and `frontdesk worker` on one database. A customer's message, filed by the worker process,
reaches an inbox page open on the server over its live stream: on PostgreSQL through
LISTEN/NOTIFY, on SQLite through the changes the worker leaves for the server to read."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import conversations as store
from tests.flows.processes import Frontdesk, free_port

pytestmark = [pytest.mark.db, pytest.mark.slow]

APP_SECRET = "live-test-app-secret-0123456789"
PAGE = "104857600012345"
LOGIN = {"email": "morgan@example.com", "password": "correct horse battery staple"}
WAIT = 30.0
"""Bound on waiting for the processes, so that a broken build fails instead of hanging."""


@pytest.fixture
async def frontdesk(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Frontdesk]:
    async with engine.begin() as conn:
        # Unclaimed: the workspace made at the first visit adopts it.
        await store.add_channel(conn, PAGE, "Lisbon Tees", 1_795_000_000.0)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    desk = Frontdesk(env, logs)
    env.update(
        FRONTDESK_DATABASE_URL=database_url,
        FRONTDESK_DATA_DIR=str(tmp_path),
        FRONTDESK_PUBLIC_URL=desk.url,
        FRONTDESK_SECRET_KEY=Fernet.generate_key().decode(),
        FRONTDESK_META_APP_SECRET=APP_SECRET,
        FRONTDESK_META_APP_ID="900100200300400",
        # Nothing here answers, so nothing may call out; a closed loopback port if it tried.
        FRONTDESK_GRAPH_URL=f"http://127.0.0.1:{free_port()}",
        FRONTDESK_IN_PROCESS_WORKER="false",
        FRONTDESK_LOG_LEVEL="warning",
    )
    try:
        yield desk
    finally:
        await desk.stop()
        print(desk.log_tail())  # shown when the test failed


async def submit(browser: httpx.AsyncClient, page: str, data: dict[str, str]) -> httpx.Response:
    """A console form as a browser sends it: its CSRF token, and our Origin."""
    shown = await browser.get(page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
    assert token, f"no form on {page}: {shown.status_code}"
    return await browser.post(
        page,
        data={"csrf_token": token.group(1), **data},
        headers={"origin": str(browser.base_url).rstrip("/")},
    )


def message_body(text: str) -> str:
    event = {
        "sender": {"id": "7100000000000001"},
        "recipient": {"id": PAGE},
        "timestamp": 1_795_000_000_000,
        "message": {"mid": "m_live_1", "text": text},
    }
    return json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]})


async def test_what_the_worker_process_files_reaches_the_open_inbox_live(
    frontdesk: Frontdesk,
) -> None:
    async with httpx.AsyncClient(base_url=frontdesk.url, timeout=WAIT) as browser:
        await frontdesk.start_server(browser)
        await frontdesk.start_worker()
        made = await submit(
            browser,
            "/setup",
            {"workspace": "Lisbon Tees", "name": "Morgan Reyes", **LOGIN,
             "confirm": LOGIN["password"]},
        )  # fmt: skip
        assert made.status_code == 303, made.text
        assert (await submit(browser, "/login", LOGIN)).status_code == 303

        async with browser.stream("GET", "/inbox/live") as live:
            assert live.status_code == 200
            lines = live.aiter_lines()
            assert await anext(lines) == "retry: 2000"  # subscribed: what follows is heard
            body = message_body("Olá! Is my order on its way?").encode()
            digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
            delivered = await browser.post(
                "/webhooks/messenger",
                content=body,
                headers={"x-hub-signature-256": f"sha256={digest}"},
            )
            assert delivered.status_code == 200, delivered.text
            heard: list[str] = []
            async with asyncio.timeout(WAIT):
                async for line in lines:
                    heard.append(line)
                    if line.startswith("data: ") and '"k": "inbound"' in line:
                        break
    assert "event: change" in heard, heard
    change = json.loads(heard[-1].removeprefix("data: "))
    assert change["k"] == "inbound"
    assert isinstance(change["m"], int)
