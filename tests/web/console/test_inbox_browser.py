"""The inbox in headless Chromium, the emulator's Messenger client on the other side: the
stories of docs/inbox.md, as an agent and a customer live them. Screenshots of each step are
kept in test-results/inbox/ (ignored by git, removed by `make clean`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from frontdesk.core.people import Role

from .stage import CHLOE, JOAO, PASSWORD, Stage, Tab, staged

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    with staged(Path(tmp_path_factory.mktemp("inbox"))) as made:
        made.member("morgan@example.com", "Morgan Reyes", Role.OWNER)
        made.member("ana@example.com", "Ana Lima", Role.AGENT)
        yield made


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def log_in(tab: Tab, email: str) -> Page:
    page = tab.page
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def row(page: Page, text: str):
    return page.locator("#conversations .row").filter(has_text=text)


def test_a_customer_writes_and_the_open_inbox_shows_it_live(browser: Browser, stage: Stage) -> None:
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    agent.shot("01-inbox-empty")

    stage.say("Olá! Do you have the M size? 👕", person=CHLOE)
    stage.say("Olá! Where is my order?", person=JOAO)
    # No reload: the rows come in as the customers write (the demo Page's bot answers them),
    # the newest first, unread.
    expect(row(page, "João Pereira")).to_be_visible()
    expect(page.locator("#conversations .row").first).to_contain_text("João Pereira")
    expect(row(page, "Chloé Martin")).to_contain_text("Unread: 1")
    agent.shot("02-inbox-live")

    row(page, "João Pereira").get_by_role("link").click()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Olá! Where is my order?")
    expect(page.locator("#window")).to_contain_text(re.compile(r"Replies allowed for 2[34] h"))
    stage.say("Are you there?", person=JOAO)
    expect(transcript).to_contain_text("Are you there?")  # the open conversation, live too
    agent.shot("03-conversation")
    agent.close()
