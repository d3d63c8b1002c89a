"""The live stream of inbox pages, through the real app and its lifespan (which wires the
change feed): what changes in the workspace arrives as ids, nothing of another workspace
does, a page that fell behind is told to reload, and a session that ends closes the stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from frontdesk.store import changes, notes
from frontdesk.store import conversations as store

from .conftest import Browser, Site, csrf_of

pytestmark = pytest.mark.db


class Stream:
    """One browser's `GET /inbox/live`, called as the ASGI server calls the app, so that the
    response streams (httpx's ASGITransport waits for a response's end)."""

    def __init__(self, site: Site, browser: Browser) -> None:
        self.site = site
        self.cookies = "; ".join(f"{k}={v}" for k, v in browser.client.cookies.items())
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.started = asyncio.Event()
        self._gone = asyncio.Event()
        self._buffer = ""
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not hasattr(self, "_asked"):
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            self.started.set()
            return
        self._buffer += message.get("body", b"").decode()
        while "\n\n" in self._buffer:
            frame, self._buffer = self._buffer.split("\n\n", 1)
            name, data = "message", None
            for line in frame.split("\n"):
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
            if data is not None:
                await self.events.put((name, data))
        if not message.get("more_body", False):
            self.ended.set()

    async def __aenter__(self) -> Stream:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/inbox/live",
            "raw_path": b"/inbox/live",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"frontdesk.test"), (b"cookie", self.cookies.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("frontdesk.test", 80),
        }
        self._task = asyncio.create_task(self.site.app(scope, self._receive, self._send))
        async with asyncio.timeout(5):
            await self.started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._gone.set()
        assert self._task is not None
        async with asyncio.timeout(5):
            await self._task

    async def event(self, within: float = 5.0) -> tuple[str, Any]:
        async with asyncio.timeout(within):
            return await self.events.get()

    async def silence(self, within: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            await self.event(within)


@contextlib.asynccontextmanager
async def running(site: Site) -> AsyncIterator[None]:
    """The app's lifespan: what `frontdesk serve` runs around the requests."""
    async with site.app.router.lifespan_context(site.app):
        yield


async def filed(site: Site, channel_id: int, psid: str, text: str) -> store.Thread:
    async with site.engine.begin() as conn:
        thread = await store.thread_for(conn, channel_id, psid, site.clock())
        await store.add_message(
            conn, thread, site.clock(), mid=f"m.{psid}.{text}", direction="inbound",
            author="contact", text=text, status="received",
        )  # fmt: skip
    return thread


async def test_changes_in_the_workspace_arrive_and_nothing_of_another(site: Site) -> None:
    ours = await site.member("Lisbon Tees", "morgan@example.com")
    theirs = await site.member("Porto Books", "owner@porto.test")
    channel = await site.channel(ours.workspace_id, "111", "Lisbon Tees")
    elsewhere = await site.channel(theirs.workspace_id, "222", "Porto Books")
    browser = await site.signed_in("morgan@example.com")
    async with running(site), Stream(site, browser) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        await filed(site, elsewhere, "p-x", "not for you")
        thread = await filed(site, channel, "p-joao", "Olá")
        name, change = await stream.event()
        assert name == "change"
        assert change["c"] == thread.conversation_id
        assert change["k"] == changes.INBOUND
        assert set(change) == {"c", "k", "m"}  # ids only; no workspace, no content
        async with site.engine.begin() as conn:
            note_id = await notes.add(
                conn, thread.conversation_id, notes.NOTE, "Call back", site.clock()
            )
        assert await stream.event() == (
            "change",
            {"c": thread.conversation_id, "k": changes.NOTE, "n": note_id},
        )
        await stream.silence()


async def test_a_page_that_falls_behind_is_told_to_reload(site: Site) -> None:
    ours = await site.member("Lisbon Tees", "morgan@example.com")
    channel = await site.channel(ours.workspace_id, "111", "Lisbon Tees")
    browser = await site.signed_in("morgan@example.com")
    site.app.state.inbox.hub.backlog = 2
    async with running(site), Stream(site, browser) as stream:
        async with site.engine.begin() as conn:
            for n in range(4):
                thread = await store.thread_for(conn, channel, f"p-{n}", site.clock())
                await changes.note(conn, channel, thread.conversation_id, changes.CONVERSATION)
        # Nobody read while four arrived: the page reloads instead of replaying them.
        assert (await stream.event())[0] == "resync"


async def test_logging_out_closes_the_stream_at_the_next_heartbeat(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    site.app.state.inbox.heartbeat = 0.05
    async with running(site), Stream(site, browser) as stream:
        token = csrf_of((await browser.get("/account")).text)
        answer = await browser.post("/logout", {"csrf_token": token})
        assert answer.status_code == 303
        assert await stream.event() == ("signed-out", {})
        async with asyncio.timeout(5):
            await stream.ended.wait()


async def test_without_a_session_there_is_no_stream(site: Site) -> None:
    browser = site.browser()
    answer = await browser.get("/inbox/live")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/inbox/live"
