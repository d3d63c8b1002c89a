"""Frontdesk and the emulator on loopback, in one thread's event loop (as `frontdesk dev` runs
them), sharing the emulator's clock: for browser stories with an agent in the inbox on one side
and a customer in the emulator's Messenger client on the other. Moving the emulator's clock
moves Frontdesk's (the 24-hour window, 7 days)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, ConsoleMessage, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.app import Server, create_app
from frontdesk.core.people import Role
from frontdesk.demo import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_PAGE_ID, connect_page
from frontdesk.emulator import Clock
from frontdesk.emulator.app import build_meta
from frontdesk.emulator.app import create_app as create_emulator_app
from frontdesk.settings import Settings
from frontdesk.store import accounts
from frontdesk.store.db import create_engine
from frontdesk.store.migrate import upgrade
from frontdesk.store.passwords import Passwords

T = TypeVar("T")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-results" / "inbox"
JOAO = "7100000000000001"
CHLOE = "7100000000000002"
PASSWORD = "correct horse battery staple"
CHEAP = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Stage:
    frontdesk: str
    emulator: str
    engine: AsyncEngine
    clock: Clock
    loop: asyncio.AbstractEventLoop
    settings: Settings
    page_id: str = DEMO_PAGE_ID

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` in the servers' loop (where the engine lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = httpx.post(f"{self.emulator}/_emulator/{path}", json=body or {}, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def say(self, text: str, person: str = JOAO) -> None:
        """The customer writes, as the Messenger client would."""
        self.control("act/message", {"page_id": self.page_id, "person_id": person, "text": text})

    def advance(self, seconds: float) -> None:
        """Time passes, for Meta and for Frontdesk alike."""
        self.control("clock/advance", {"seconds": seconds})

    def member(self, email: str, name: str, role: Role) -> None:
        async def make() -> None:
            async with self.engine.begin() as conn:
                found = await accounts.workspace_named(conn, "Lisbon Tees")
                if found is None:
                    found = await accounts.create_workspace(conn, "Lisbon Tees", self.clock.now())
                await accounts.add_user(
                    conn, found.id, email, name, role, CHEAP.hash(PASSWORD), self.clock.now()
                )

        self.run(make())

    def database(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async def go() -> T:
            async with self.engine.begin() as conn:
                return await work(conn)

        return self.run(go())


@contextlib.contextmanager
def staged(data: Path) -> Iterator[Stage]:
    """Both servers on free loopback ports, the demo Page connected as `frontdesk dev` does."""
    database_url = f"sqlite:///{data}/frontdesk.db"
    upgrade(database_url)
    sockets = (_socket(), _socket())
    frontdesk_url, emulator_url = (f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    clock = Clock()
    settings = Settings(
        data_dir=data,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        public_url=frontdesk_url,
        meta_app_id=DEMO_APP_ID,
        meta_app_secret=DEMO_APP_SECRET,
        meta_verify_token="stage-verify-token",
        graph_url=emulator_url,
    )
    loop = asyncio.new_event_loop()
    engine: AsyncEngine | None = None
    servers: list[Server] = []

    def build() -> None:
        nonlocal engine
        asyncio.set_event_loop(loop)
        engine = create_engine(database_url)
        apps = (
            create_app(settings, engine=engine, clock=clock.now, run_worker=True, passwords=CHEAP),
            create_emulator_app(build_meta(clock=clock, base_url=emulator_url)),
        )
        for app in apps:
            # The emulator's live stream of a Messenger tab left open never ends: a grace.
            config = uvicorn.Config(
                app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=5
            )
            servers.append(Server(config))

        async def serve() -> None:
            await asyncio.gather(
                *(
                    server.serve(sockets=[sock])
                    for server, sock in zip(servers, sockets, strict=True)
                )
            )

        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()

    thread = threading.Thread(target=build, name="stage")
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (len(servers) == 2 and all(s.started for s in servers)):
            assert thread.is_alive(), "the servers did not start"
            assert time.monotonic() < deadline, "the servers did not start in 20 s"
            time.sleep(0.05)  # polling with a deadline
        assert engine is not None
        stage = Stage(frontdesk_url, emulator_url, engine, clock, loop, settings)

        async def connect() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                await connect_page(http, settings, engine, clock.now())

        stage.run(connect())
        yield stage
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(20)
        for sock in sockets:
            sock.close()
    assert not thread.is_alive(), "the servers did not stop"


RECORD_NOTIFICATIONS = """
(() => {
  const Shown = window.Notification;
  window.shownNotifications = [];
  window.Notification = class extends Shown {
    constructor(title, options) {
      super(title, options);
      window.shownNotifications.push({ title, body: options && options.body });
    }
  };
})();
"""


class Tab:
    """A browser context (its own cookies) whose script errors, CSP refusals and failed
    requests fail the test; `shot` keeps a screenshot in test-results/inbox/."""

    def __init__(self, browser: Browser, url: str, *, notifications: bool = False) -> None:
        self.context = browser.new_context(
            base_url=url,
            viewport={"width": 1280, "height": 860},
            permissions=["notifications"] if notifications else [],
        )
        if notifications:
            # Headless Chromium shows no notifications: keep what the page shows, to look at.
            self.context.add_init_script(RECORD_NOTIFICATIONS)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def _response(self, answer: Response) -> None:
        if answer.status >= 400:
            self.problems.append(f"{answer.status} for {answer.url}")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The inbox fits the window, each column scrolling on its own (a full-page capture
        # would show each column from its top).
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], "\n".join(self.problems)
