"""The console on Frontdesk wired to the emulator (tests/flows/harness.py), with a workspace of
people signed in: for stories where agents answer customers through the inbox's forms and Meta
(the emulator) really receives what they send."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core.people import Role
from frontdesk.store import accounts
from tests.flows.harness import JOAO, Desk, connected

from .conftest import CHEAP, ORIGIN, PASSWORD, Browser, csrf_of


@dataclass
class Agents:
    desk: Desk
    browsers: list[Browser] = field(default_factory=list)
    people: dict[str, accounts.User] = field(default_factory=dict)

    async def member(self, email: str, name: str, role: Role = Role.AGENT) -> accounts.User:
        async with self.desk.engine.begin() as conn:
            found = await accounts.workspace_named(conn, "Lisbon Tees")
            if found is None:  # the first workspace adopts the demo Page's channel
                found = await accounts.create_workspace(conn, "Lisbon Tees", self.desk.clock.now())
            person = await accounts.add_user(
                conn, found.id, email, name, role, CHEAP.hash(PASSWORD), self.desk.clock.now()
            )
        self.people[email] = person
        return person

    async def signed_in(self, email: str) -> Browser:
        transport = httpx.ASGITransport(app=self.desk.app, client=("127.0.0.1", 50000))
        browser = Browser(httpx.AsyncClient(transport=transport, base_url=ORIGIN))
        self.browsers.append(browser)
        answer = await browser.submit("/login", "/login", {"email": email, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        return browser

    async def form(
        self, browser: Browser, conversation_id: int, action: str, data: dict[str, str]
    ) -> httpx.Response:
        """Post one of the conversation page's forms, as the page would."""
        page = await browser.get(f"/inbox/{conversation_id}")
        assert page.status_code == 200, page.text
        return await browser.post(action, {"csrf_token": csrf_of(page.text), **data})

    async def reply(
        self, browser: Browser, text: str, person: str = JOAO, **extra: str
    ) -> httpx.Response:
        conversation_id = await self.desk.conversation_id(person)
        return await self.form(
            browser, conversation_id, f"/inbox/{conversation_id}/reply", {"text": text, **extra}
        )


def field_error(html: str, name: str) -> str | None:
    found = re.search(
        rf'id="f-{name}-error">(?:<span class="visually-hidden">Error: </span>)?([^<]*)<', html
    )
    return unescape(found.group(1)) if found else None


def sent_messages(desk: Desk, since: int = 0) -> list[dict[str, Any]]:
    """The Send API bodies Frontdesk posted that carried a message (not a sender action)."""
    return [body for body in desk.sent[since:] if "message" in body]


@contextlib.asynccontextmanager
async def agents_at_work(
    database_url: str, engine: AsyncEngine, tmp_path: Path, **kwargs: Any
) -> AsyncIterator[Agents]:
    async with connected(database_url, engine, tmp_path, **kwargs) as desk:
        made = Agents(desk)
        try:
            yield made
        finally:
            for browser in made.browsers:
                await browser.client.aclose()
