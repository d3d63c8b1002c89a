"""Connecting Pages in headless Chromium, against the emulator, both served on loopback: the first
run, Manage Pages through the emulator's Login dialog (two Pages chosen, one refused with its
reason), a manual setup verified by Meta's GET, switching who answers, a password change on
Facebook (banner, doctor ✗) mended by Reconnect (✓, the waiting reply delivered), and Remove
(the emulator shows the Page unsubscribed).

Screenshots of every page are kept in test-results/console/channels/ (ignored by git), named in
the order the story takes them.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, ConsoleMessage, Response, expect

from frontdesk.app import create_app
from frontdesk.emulator.app import build_meta
from frontdesk.emulator.app import create_app as create_emulator_app
from frontdesk.settings import Settings
from frontdesk.store.migrate import upgrade
from frontdesk.workers.examination import REQUIRED_FIELDS

pytestmark = pytest.mark.browser

T = TypeVar("T")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-results" / "console" / "channels"
PASSWORD = "correct horse battery staple"
APP_ID = "900100200300400"
APP_SECRET = "demo-app-secret-0123456789abcdef"
ADMIN = "10150000000000001"  # Morgan Reyes
LISBON = "104857600012345"
PORTO = "104857600099999"
JOAO = "7100000000000001"
OWN_SECRET = "cafe-aurora-secret-0123456789"
SCOPE = ["pages_show_list", "pages_messaging", "pages_manage_metadata", "pages_read_engagement"]
WAIT = 20.0
"""Seconds to wait for what the servers do by themselves (a webhook, a send, a poll)."""


@dataclass
class Server:
    """An ASGI app served by uvicorn in a thread of its own, on a free loopback port."""

    name: str
    sock: socket.socket
    url: str
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @classmethod
    def bind(cls, name: str) -> Server:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return cls(name, sock, f"http://127.0.0.1:{sock.getsockname()[1]}")

    def start(self, app: Any) -> None:
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name=self.name
        )
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling with a deadline
        assert self.server.started, f"{self.name} did not start"

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(15)
            assert not self.thread.is_alive(), f"{self.name} did not shut down"
        self.sock.close()


@dataclass(frozen=True)
class Served:
    frontdesk: str
    emulator: str

    def meta(self, method: str, path: str, **kwargs: Any) -> Any:
        """The emulator's Graph or control API, as a script (or Meta's own side) would call."""
        with httpx.Client(base_url=self.emulator, timeout=WAIT) as client:
            answer = client.request(method, path, **kwargs)
        assert answer.status_code in (200, 201, 302), answer.text
        return answer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulator and Frontdesk (with its worker) on two loopback ports, wired to each other."""
    data = tmp_path_factory.mktemp("channels")
    database_url = f"sqlite:///{data}/frontdesk.db"
    upgrade(database_url)
    emulator, frontdesk = Server.bind("emulator"), Server.bind("frontdesk")
    settings = Settings(
        data_dir=data,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        public_url=frontdesk.url,
        meta_app_id=APP_ID,
        meta_app_secret=APP_SECRET,
        meta_verify_token="operator-verify-token-0123",
        graph_url=emulator.url,
    )
    try:
        emulator.start(create_emulator_app(build_meta(None, base_url=emulator.url)))
        frontdesk.start(create_app(settings, run_worker=True))
        yield Served(frontdesk.url, emulator.url)
    finally:
        frontdesk.stop()
        emulator.stop()


class Tab:
    """A browser context whose script errors, CSP refusals and failed requests fail the test."""

    def __init__(self, browser: Browser, served: Served) -> None:
        self.served = served
        self.context = browser.new_context(
            base_url=served.frontdesk, viewport={"width": 1200, "height": 900}
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT * 1000)
        self.problems: list[str] = []
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.shots = 0

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def _response(self, answer: Response) -> None:
        if answer.status >= 400:
            self.problems.append(f"{answer.status} for {answer.url}")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], "\n".join(self.problems)


def eventually(what: str, probe: Callable[[], T | None]) -> T:
    """`probe()` once it gives something, within WAIT seconds (the servers work by themselves)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)  # polling with a deadline, not waiting a fixed time
    raise AssertionError(f"{what} did not happen within {WAIT:g} s")


def sent_to_joao(served: Served) -> list[str]:
    answer = served.meta("GET", "/_emulator/sent", params={"page_id": LISBON, "person_id": JOAO})
    return [m["text"] for m in answer.json()["data"]]


def own_page_token(served: Served, app_id: str, page: str) -> str:
    """What the admin copies from their own app's dashboard: a Page token of that app."""
    redirect = "http://127.0.0.1/cb"
    granted = served.meta(
        "POST",
        "/v25.0/dialog/oauth",
        data={
            "client_id": app_id,
            "redirect_uri": redirect,
            "state": "st4te-of-the-admins-own-script",
            "scope": ",".join(SCOPE),
            "person_id": ADMIN,
            "action": "allow",
            "page": [page],
            "permission": SCOPE,
        },
    )
    code = parse_qs(urlsplit(granted.headers["location"]).query)["code"][0]
    app = {"client_id": app_id, "client_secret": OWN_SECRET}
    short = served.meta(
        "GET", "/v25.0/oauth/access_token", params={**app, "redirect_uri": redirect, "code": code}
    ).json()["access_token"]
    long = served.meta(
        "GET",
        "/v25.0/oauth/access_token",
        params={**app, "grant_type": "fb_exchange_token", "fb_exchange_token": short},
    ).json()["access_token"]
    accounts = served.meta("GET", "/v25.0/me/accounts", params={"access_token": long}).json()
    return next(str(p["access_token"]) for p in accounts["data"] if p["id"] == page)


def log_in_on_facebook(tab: Tab, *, keep: tuple[str, ...], drop: tuple[str, ...] = ()) -> None:
    """The emulator's Login dialog, as Morgan: pick who logs in, choose the Pages, Continue."""
    page = tab.page
    expect(page).to_have_url(re.compile(re.escape(tab.served.emulator) + "/"))
    expect(page.get_by_role("heading", name="is requesting access")).to_be_visible()
    if page.get_by_label("Person").count():  # once logged in, Facebook remembers who
        page.get_by_label("Person").select_option(ADMIN)
        page.get_by_role("button", name="Log in").click()
    expect(page.locator("#grant")).to_contain_text("Continue as Morgan Reyes")
    for page_id in drop:
        page.locator(f'input[name="page"][value="{page_id}"]').uncheck()
    for page_id in keep:
        expect(page.locator(f'input[name="page"][value="{page_id}"]')).to_be_checked()
    tab.shot("facebook-dialog")
    page.get_by_role("button", name="Continue").click()


def test_connect_pages_both_ways_reconnect_and_remove(browser: Browser, served: Served) -> None:
    # Meta's side, as the business has it: a third Page Morgan may only analyse, and a fourth
    # with its own Meta app (for the manual setup).
    braga = served.meta(
        "POST", "/_emulator/pages", json={"name": "Braga Bikes", "roles": {ADMIN: ["ANALYZE"]}}
    ).json()["id"]
    cafe = served.meta(
        "POST",
        "/_emulator/pages",
        json={"name": "Café Aurora", "roles": {ADMIN: ["MANAGE", "MESSAGING", "MODERATE"]}},
    ).json()["id"]
    own_app = served.meta(
        "POST",
        "/_emulator/apps",
        json={
            "name": "Café Aurora Bot",
            "secret": OWN_SECRET,
            "mode": "live",
            "permissions": dict.fromkeys(SCOPE, "advanced"),
            "roles": {ADMIN: "administrator"},
        },
    ).json()["id"]

    tab = Tab(browser, served)
    page = tab.page

    # First run: the owner.
    page.goto("/")
    expect(page).to_have_url(f"{served.frontdesk}/setup")
    page.get_by_label("Workspace name").fill("Lisbon Tees")
    page.get_by_label("Your name").fill("Morgan Reyes")
    page.get_by_label("Your email address").fill("morgan@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password, again").fill(PASSWORD)
    page.get_by_role("button", name="Create the workspace").click()
    page.get_by_label("Email address").fill("morgan@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="No Page is connected yet")).to_be_visible()
    tab.shot("no-page-yet")

    # Manage Pages: the Login dialog, then the choice with Braga Bikes refused.
    page.get_by_role("link", name="Connect a Page").first.click()
    tab.shot("connect")
    page.get_by_role("link", name="Continue with Facebook").click()
    log_in_on_facebook(tab, keep=(LISBON, PORTO, braga), drop=(cafe,))
    expect(page.get_by_role("heading", name="Choose the Pages to connect")).to_be_visible()
    expect(page.get_by_label("Braga Bikes")).to_be_disabled()
    expect(page.locator(f"#page-{braga}-hint")).to_contain_text(
        "You cannot manage this Page's messages (your tasks on it: ANALYZE)"
    )
    tab.shot("choose-pages")
    page.get_by_label("Lisbon Tees").check()
    page.get_by_label("Porto Books").check()
    page.get_by_role("button", name="Save").click()
    # The progress page connects each Page in turn by itself.
    expect(page.get_by_role("heading", name="Your Pages")).to_be_visible()
    expect(page.locator(".progress-done")).to_have_count(2)
    expect(page.locator("ol.progress")).to_contain_text("✓ Subscribed to the Page's messages")
    tab.shot("pages-connected")
    page.get_by_role("link", name="Go to your channels").click()
    table = page.locator("table.channels")
    expect(table).to_contain_text("Lisbon Tees")
    expect(table).to_contain_text("Porto Books")
    expect(table.locator(".status-active")).to_have_count(2)
    tab.shot("channels")

    # Manual setup of Café Aurora with its own app: the URL verified by Meta's GET.
    page.get_by_role("link", name="Connect a Page").click()
    page.get_by_role("link", name="Manual setup").click()
    page.get_by_role("button", name="Start a manual setup").click()
    callback = page.get_by_label("Callback URL").input_value()
    verify = page.get_by_label("Verify token").input_value()
    assert callback.startswith(f"{served.frontdesk}/webhooks/messenger/")
    tab.shot("manual-setup")
    page.get_by_label("App ID").fill(own_app)
    page.get_by_label("App secret").fill(OWN_SECRET)
    page.get_by_label("Page access token").fill(own_page_token(served, own_app, cafe))
    page.get_by_role("button", name="Connect the Page").click()
    expect(page.get_by_role("heading", name="Café Aurora")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Waiting for Meta")
    tab.shot("manual-waiting-for-meta")
    # In the app dashboard the admin saves the Callback URL: Meta checks it with a GET.
    served.meta(
        "POST",
        f"/v25.0/{own_app}/subscriptions",
        data={
            "object": "page",
            "callback_url": callback,
            "verify_token": verify,
            "fields": ",".join(REQUIRED_FIELDS),
            "access_token": f"{own_app}|{OWN_SECRET}",
        },
    )
    expect(page.locator("#hook-state")).to_contain_text("Verified")  # the checklist polls
    page.reload()
    expect(page.locator("dl.facts")).to_contain_text("Connected")
    tab.shot("manual-verified")

    # Who answers Lisbon Tees: the rule bot, then back to the inbox.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="Configure the link of Lisbon Tees").click()
    expect(page.get_by_label("AI agent")).to_be_disabled()
    page.get_by_label("Rule bot").check()
    tab.shot("link")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("the next message is answered the new way")
    expect(page.locator("dl.facts")).to_contain_text("Rule bot")
    page.get_by_role("link", name="Configure link").click()
    page.get_by_label("Inbox (people answer)").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dl.facts")).to_contain_text("Inbox (people answer)")

    # João writes; the checklist sees it arrive.
    served.meta(
        "POST",
        "/_emulator/act/message",
        json={"page_id": LISBON, "person_id": JOAO, "text": "Olá! Is the blue tee back?"},
    )
    expect(page.locator("#last-in")).to_contain_text("Olá! Is the blue tee back?")
    tab.shot("checklist-message-in")

    # Morgan changes their Facebook password: the test reply meets the broken token.
    served.meta("POST", "/_emulator/faults/password-change", json={"person_id": ADMIN})
    page.reload()
    page.get_by_label("Test reply", exact=True).fill("Yes, in every size!")
    page.get_by_role("button", name="Send test message").click()
    # The form answers with a redirect: reloading before it lands races the navigation.
    expect(page).to_have_url(re.compile(r"[?&]done=test"))

    def flagged() -> int:
        page.reload()
        return page.locator(".banner").count()

    eventually("the channel flagged", flagged)
    banner = page.locator(".banner")
    expect(banner).to_contain_text("Lisbon Tees")
    expect(banner).to_contain_text("Reconnect needed")
    tab.shot("banner-reconnect-needed")
    banner.get_by_role("link", name="Open the doctor").click()
    expect(page.locator(".finding-fail").first).to_contain_text("Page token")
    expect(page.locator(".finding-fail").first).to_contain_text("(190/460)")
    tab.shot("doctor-broken")
    page.get_by_role("button", name="Run the checks again").click()
    expect(page.locator("#doctor-applied")).to_contain_text("Reconnect needed")
    expect(page.locator(".finding-fail").first).to_contain_text("Page token")
    expect(page.locator(".banner")).to_contain_text("Reconnect needed")
    assert sent_to_joao(served) == []

    # Reconnect: the Login dialog again; the waiting reply goes out.
    page.get_by_role("link", name="Reconnect Lisbon Tees").click()
    log_in_on_facebook(tab, keep=(LISBON,))
    expect(page.locator(".progress-done")).to_have_count(1)
    tab.shot("reconnected")
    assert eventually("the waiting reply delivered", lambda: sent_to_joao(served)) == [
        "Yes, in every size!"
    ]
    page.goto("/")
    page.get_by_role("link", name="Lisbon Tees", exact=True).click()
    doctor_link = page.get_by_role("link", name="Connection doctor")
    doctor_link.click()
    expect(page.locator(".finding").first).to_contain_text("Page token")
    expect(page.locator(".finding-fail")).to_have_count(0)
    expect(page.locator(".banner")).to_have_count(0)
    tab.shot("doctor-healthy")

    # Remove Lisbon Tees, keeping its history: the emulator shows it unsubscribed.
    page.get_by_role("link", name="Lisbon Tees", exact=True).click()
    page.get_by_role("link", name="Remove", exact=True).click()
    expect(page.get_by_label("Keep them")).to_be_checked()
    tab.shot("remove")
    page.get_by_role("button", name="Remove Lisbon Tees").click()
    expect(page.get_by_role("heading", name="Lisbon Tees was removed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Frontdesk unsubscribed from the Page's messages")
    expect(page.locator("main")).to_contain_text("Business integrations")
    tab.shot("removed")
    world = served.meta("GET", "/_emulator/world").json()
    lisbon = next(p for p in world["pages"] if p["id"] == LISBON)
    assert APP_ID not in lisbon["subscribed_apps"]
    page.get_by_role("link", name="Back to your channels").click()
    expect(page.get_by_role("heading", name="Removed Pages")).to_be_visible()
    tab.shot("channels-after-remove")
    tab.close()
