"""The console over HTTP: Frontdesk's real app (create_app) on a real database, driven through
httpx.ASGITransport by `Browser`s that keep cookies and send forms as a browser does; `wired`
also puts the emulator in Meta's place, in-process both ways."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from frontdesk.app import create_app
from frontdesk.core.people import Role
from frontdesk.emulator import Clock as EmulatorClock
from frontdesk.emulator import Emulator, WebhookSettings
from frontdesk.settings import Settings
from frontdesk.store import accounts
from frontdesk.store import conversations as store
from frontdesk.store.passwords import Passwords
from frontdesk.store.tables import channels
from frontdesk.workers.loop import Worker

ORIGIN = "http://frontdesk.test"
NOW = 1_795_000_000.0
PASSWORD = "correct horse battery staple"
# The same algorithm (argon2id) with small parameters: hundreds of hashes per test run.
CHEAP = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return unescape(found.group(1))


def field_error(html: str, name: str) -> str | None:
    found = re.search(
        rf'id="f-{name}-error"><span class="visually-hidden">Error: </span>([^<]*)<', html
    )
    return unescape(found.group(1)) if found else None


def form_problem(html: str) -> str | None:
    found = re.search(r'id="form-problem">([^<]*)<', html)
    return unescape(found.group(1)) if found else None


@dataclass
class Browser:
    """One browser: its own cookie jar, the Origin header a browser adds to form POSTs."""

    client: httpx.AsyncClient

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(
        self, path: str, data: dict[str, str], *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            path, data=data, headers={"origin": ORIGIN, **(headers or {})}
        )

    async def submit(
        self, page: str, action: str, data: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        """GET `page`, take its CSRF token, POST `data` to `action` as its form would."""
        shown = await self.get(page)
        assert shown.status_code in (200, 201), shown.text
        return await self.post(action, {"csrf_token": csrf_of(shown.text), **data}, **kwargs)

    def cookie(self, name: str) -> str | None:
        return self.client.cookies.get(name)


@dataclass
class Site:
    app: Starlette
    engine: AsyncEngine
    clock: Clock
    settings: Settings
    browsers: list[Browser] = field(default_factory=list)

    def browser(self, ip: str = "127.0.0.1") -> Browser:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        client = httpx.AsyncClient(transport=transport, base_url=ORIGIN)
        opened = Browser(client)
        self.browsers.append(opened)
        return opened

    async def member(
        self, workspace: str, email: str, role: Role = Role.OWNER, name: str = ""
    ) -> accounts.User:
        """A person made straight in the database (first runs are tested on their own)."""
        async with self.engine.begin() as conn:
            found = await accounts.workspace_named(conn, workspace)
            if found is None:
                found = await accounts.create_workspace(conn, workspace, self.clock())
            return await accounts.add_user(
                conn,
                found.id,
                email,
                name or email.split("@")[0].title(),
                role,
                CHEAP.hash(PASSWORD),
                self.clock(),
            )

    async def channel(self, workspace_id: int, page_id: str, name: str) -> int:
        async with self.engine.begin() as conn:
            channel_id = await store.add_channel(conn, page_id, name, self.clock())
            await conn.execute(
                update(channels)
                .where(channels.c.id == channel_id)
                .values(workspace_id=workspace_id)
            )
            return channel_id

    async def signed_in(self, email: str, ip: str = "127.0.0.1") -> Browser:
        browser = self.browser(ip)
        answer = await browser.submit("/login", "/login", {"email": email, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        return browser


def site_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "secret_keys": (Fernet.generate_key().decode(),),
        "public_url": ORIGIN,
        "meta_app_id": "900100200300400",
        "meta_app_secret": "operator-secret-0123456789",
        "meta_verify_token": "operator-verify-token",
        "graph_url": "http://emulator.test",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    settings = site_settings(tmp_path, database_url)
    clock = Clock()
    async with httpx.AsyncClient() as http:
        app = create_app(settings, clock=clock, run_worker=False, http=http, passwords=CHEAP)
        made = Site(app, app.state.engine, clock, settings)
        try:
            yield made
        finally:
            for browser in made.browsers:
                await browser.client.aclose()
            await made.engine.dispose()


# --- the console wired to the emulator ----------------------------------------------------------

APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
VERIFY = "operator-verify-token"
ADMIN = "10150000000000001"  # Morgan Reyes: every task on both Pages, admin of the app
LISBON = "104857600012345"
PORTO = "104857600099999"
JOAO = "7100000000000001"
CHLOE = "7100000000000002"
CALLBACK = f"{ORIGIN}/channels/connect/callback"
SCOPE = ["pages_show_list", "pages_messaging", "pages_manage_metadata", "pages_read_engagement"]


class SharedClock(Clock):
    """The emulator's frozen clock, read by Frontdesk too: one time for both sides."""

    def __init__(self, clock: EmulatorClock) -> None:
        super().__init__(clock.now())
        self.clock = clock

    def __call__(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class LateApp:
    """Frontdesk's ASGI app, bound once built: the emulator and Frontdesk each need the other."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "Frontdesk is not built yet"
        await self.app(scope, receive, send)


@dataclass
class Wired(Site):
    """`Site` whose Meta is the emulator, in-process both ways (Graph calls, webhooks)."""

    emulator: Emulator | None = None
    meta: httpx.AsyncClient | None = None

    @property
    def control(self) -> httpx.AsyncClient:
        assert self.meta is not None
        return self.meta

    async def settle(self) -> None:
        """Deliver every webhook and run every due job until nothing moves."""
        assert self.emulator is not None
        worker: Worker = self.app.state.worker
        for _ in range(100):
            await self.emulator.meta.drain()
            if await worker.run_until_idle() == 0:
                return
        raise AssertionError("Frontdesk and the emulator did not settle")

    async def say(self, text: str, page: str = LISBON, person: str = JOAO) -> None:
        answer = await self.control.post(
            "/_emulator/act/message", json={"page_id": page, "person_id": person, "text": text}
        )
        assert answer.status_code == 200, answer.text
        await self.settle()

    async def world_page(self, page: str) -> dict[str, Any]:
        world = (await self.control.get("/_emulator/world")).json()
        found: dict[str, Any] = next(p for p in world["pages"] if p["id"] == page)
        return found

    async def facebook(
        self,
        browser: Browser,
        start: str = "/channels/connect/facebook",
        *,
        pages: tuple[str, ...] = (LISBON, PORTO),
        person: str = ADMIN,
        action: str = "allow",
    ) -> httpx.Response:
        """Go to the Login dialog from `start`, answer it as `person`, and follow Facebook's
        redirect back into Frontdesk (the callback's own answer is returned)."""
        leaving = await browser.get(start)
        assert leaving.status_code == 303, leaving.text
        dialog = leaving.headers["location"]
        address, _, query = dialog.partition("?")
        assert self.emulator is not None
        assert address.startswith(self.emulator.base_url), address
        form: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        form.update(person_id=person, action=action, page=list(pages), permission=SCOPE)
        granted = await self.control.post(address, data=form)
        assert granted.status_code == 302, granted.text
        back = granted.headers["location"]
        assert back.startswith(CALLBACK), back
        return await browser.get(back.removeprefix(ORIGIN))


@pytest.fixture
async def wired(tmp_path: Path, database_url: str) -> AsyncIterator[Wired]:
    emulator_clock = EmulatorClock(NOW, frozen=True)
    late = LateApp()
    emulator = Emulator(
        clock=emulator_clock,
        transport=httpx.ASGITransport(app=late),
        webhooks=WebhookSettings(retry_delays=[0.0]),
    )
    settings = site_settings(
        tmp_path,
        database_url,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY,
        graph_url=emulator.base_url,
    )
    clock = SharedClock(emulator_clock)
    async with emulator, emulator.client() as meta, emulator.client() as http:
        allowed = await meta.patch(f"/_emulator/apps/{APP_ID}", json={"redirect_uris": [CALLBACK]})
        assert allowed.status_code == 200, allowed.text
        app = create_app(settings, clock=clock, run_worker=False, http=http, passwords=CHEAP)
        late.app = app
        made = Wired(app, app.state.engine, clock, settings, emulator=emulator, meta=meta)
        try:
            yield made
        finally:
            for browser in made.browsers:
                await browser.client.aclose()
            await made.engine.dispose()
