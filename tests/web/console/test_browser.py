"""The console in headless Chromium: first run → login → invite an agent → the agent accepts
the link and logs in → logout, as people do it, against Frontdesk served on loopback.

Screenshots of every page are kept in test-results/console/ (ignored by git, removed by
`make clean`), named in the order the story takes them: open them to see what people see.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, ConsoleMessage, Response, expect
from sqlalchemy import create_engine, insert

from frontdesk.app import create_app
from frontdesk.settings import Settings
from frontdesk.store.db import sync_url
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import channels

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-results" / "console"
OWNER_PASSWORD = "correct horse battery staple"
AGENT_PASSWORD = "a quiet river at midnight"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Frontdesk on a free loopback port, SQLite, the demo Page already connected (unclaimed)."""
    data = tmp_path_factory.mktemp("console")
    database_url = f"sqlite:///{data}/frontdesk.db"
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            insert(channels).values(
                page_id="104857600012345",
                name="Lisbon Tees",
                link="inbox",
                status="active",
                has_human_agent=False,
                created_at=time.time(),
                updated_at=time.time(),
            )
        )
    engine.dispose()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        data_dir=data,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        public_url=url,
        meta_app_id="900100200300400",
        meta_app_secret="demo-app-secret-0123456789abcdef",
        graph_url="http://127.0.0.1:8081",
    )
    config = uvicorn.Config(
        create_app(settings, run_worker=False),
        log_level="warning",
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="frontdesk")
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling with a deadline
        assert server.started, "Frontdesk did not start"
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), "Frontdesk did not shut down"


class Tab:
    """A browser context (its own cookies) whose script errors, CSP refusals and failed
    requests fail the test."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.context = browser.new_context(base_url=url, viewport={"width": 1200, "height": 860})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A failed load is reported by _response, which knows which failures are expected.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def _response(self, answer: Response) -> None:
        expected = {"/login": 400, "/setup": 400}  # the steps with a mistake, on purpose
        path = urlparse(answer.url).path
        if answer.status >= 400 and expected.get(path) != answer.status:
            self.problems.append(f"{answer.status} for {answer.url}")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], "\n".join(self.problems)


def test_first_run_login_invite_accept_and_logout(browser: Browser, served: str) -> None:
    owner = Tab(browser, served)
    page = owner.page

    # First run: every page leads to it while nobody has an account.
    page.goto("/")
    expect(page).to_have_url(f"{served}/setup")
    expect(page.get_by_role("heading", name="Welcome to Frontdesk")).to_be_visible()
    expect(page.get_by_label("Workspace name")).to_be_focused()
    owner.shot("01-first-run")
    page.get_by_label("Workspace name").fill("Lisbon Tees")
    page.get_by_label("Your name").fill("Morgan Reyes")
    page.get_by_label("Your email address").fill("morgan@example.com")
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password, again").fill("not the same password")
    page.get_by_role("button", name="Create the workspace").click()
    # The mistake is said next to its field, and the rest stays filled in.
    expect(page.locator("#f-confirm-error")).to_contain_text("The two passwords are not the same.")
    expect(page.get_by_label("Your name")).to_have_value("Morgan Reyes")
    expect(page.get_by_label("Password, again")).to_have_attribute("aria-invalid", "true")
    owner.shot("02-first-run-error")
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password, again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create the workspace").click()

    # Login: a wrong password first, then the right one.
    expect(page).to_have_url(f"{served}/login?done=setup")
    expect(page.get_by_role("status")).to_contain_text("Your workspace is ready.")
    owner.shot("03-login")
    page.get_by_label("Email address").fill("morgan@example.com")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That address and password do not match an account."
    )
    owner.shot("04-login-error")
    page.get_by_label("Email address").fill("morgan@example.com")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The channels: the demo Page, connected before the first run, is this workspace's.
    expect(page).to_have_url(f"{served}/")
    expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    expect(page.get_by_role("link", name="Channels")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("rowheader", name="Lisbon Tees 104857600012345")).to_be_visible()
    owner.shot("05-channels")
    page.get_by_role("link", name="Lisbon Tees", exact=True).click()
    expect(page.get_by_role("heading", name="Lisbon Tees")).to_be_visible()
    owner.shot("06-channel")

    # The Meta app: the operator's by default; our own app gets a verify token.
    page.get_by_role("link", name="Meta app").click()
    expect(page.get_by_label("The operator's app")).to_be_checked()
    owner.shot("07-meta-app")
    page.get_by_label("Our own app").check()
    page.get_by_label("App ID").fill("424242424242")
    page.get_by_label("App secret").fill("0123456789abcdef0123456789abcdef")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("The Meta app settings were saved.")
    expect(page.get_by_label("Verify token")).not_to_be_empty()
    expect(page.locator("body")).not_to_contain_text("0123456789abcdef0123456789abcdef")
    owner.shot("08-meta-app-own")

    # Invite an agent: the link is shown once.
    page.get_by_role("link", name="Team").click()
    page.get_by_label("Their email address").fill("ana@example.com")
    page.get_by_label("Role").select_option("agent")
    page.get_by_role("button", name="Make an invitation link").click()
    expect(page.get_by_role("heading", name="Invitation ready")).to_be_visible()
    link = page.get_by_label("Invitation link").input_value()
    assert link.startswith(f"{served}/invitations/")
    owner.shot("09-team-invited")
    page.get_by_role("link", name="Morgan Reyes").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    owner.shot("10-account")

    # The agent, in a browser of their own, accepts the link and logs in.
    agent = Tab(browser, served)
    their = agent.page
    their.goto(link)
    expect(their.get_by_role("heading", name="Join Lisbon Tees")).to_be_visible()
    expect(their.locator("main")).to_contain_text("ana@example.com")
    agent.shot("11-invitation")
    their.get_by_label("Your name").fill("Ana Lima")
    their.get_by_label("Password", exact=True).fill(AGENT_PASSWORD)
    their.get_by_label("Password, again").fill(AGENT_PASSWORD)
    their.get_by_role("button", name="Join").click()
    expect(their.get_by_role("status")).to_contain_text("Your account is ready.")
    their.get_by_label("Email address").fill("ana@example.com")
    their.get_by_label("Password").fill(AGENT_PASSWORD)
    their.get_by_role("button", name="Log in").click()
    expect(their.get_by_role("link", name="Ana Lima")).to_be_visible()
    expect(their.get_by_role("link", name="Meta app")).to_have_count(0)  # an agent's menu
    expect(their.get_by_role("link", name="Lisbon Tees", exact=True)).to_be_visible()
    agent.shot("12-agent-channels")
    their.get_by_role("link", name="Team").click()
    expect(their.get_by_role("cell", name="ana@example.com")).to_be_visible()
    expect(their.get_by_role("button", name="Make an invitation link")).to_have_count(0)
    agent.shot("13-agent-team")

    # The link worked once.
    with httpx.Client(timeout=10) as http:
        assert http.get(link).status_code == 404

    # Logout, both.
    for tab in (agent, owner):
        tab.page.get_by_role("button", name="Log out").click()
        expect(tab.page.get_by_role("status")).to_have_text("You are logged out.")
        tab.page.goto("/team")
        expect(tab.page).to_have_url(f"{served}/login?next=/team")
    agent.shot("14-logged-out")
    agent.close()
    owner.close()
