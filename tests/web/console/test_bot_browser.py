"""The rule bot's editor in headless Chromium against `frontdesk dev` (Frontdesk and the emulator
as real processes on loopback): edit a rule, try it in the page, save it, and the emulator's
Messenger client gets the new answer.

Screenshots are kept in test-results/console/ (bot-*.png) to see what people see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from frontdesk.demo import DEMO_PAGE_ID
from tests.flows.test_make_run import Dev, console_form

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-results" / "console"
JOAO = "7100000000000001"
LOGIN = {"email": "morgan@example.com", "password": "correct horse battery staple"}
OLD_HOURS = "We're open Monday to Friday 10:00\u201319:00 and Saturday 10:00\u201314:00"
NEW = "We're open every day from 9:00 to 21:00 (Lisbon time),"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    running = Dev(tmp_path)
    try:
        running.wait_until_ready()
        with httpx.Client(base_url=running.frontdesk, timeout=10) as client:
            made = console_form(
                client,
                "/setup",
                "/setup",
                {"workspace": "Lisbon Tees", "name": "Morgan Reyes", **LOGIN,
                 "confirm": LOGIN["password"]},
            )  # fmt: skip
            assert made.status_code == 303, made.text
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"bot-{name}.png"), full_page=True)


def test_edit_a_rule_try_it_save_it_and_messenger_gets_the_new_answer(
    dev: Dev, browser: Browser
) -> None:
    # Both closed before `frontdesk dev` stops: an open page's live stream would hold it up.
    with (
        browser.new_context(
            base_url=dev.frontdesk, viewport={"width": 1300, "height": 900}
        ) as console,
        browser.new_context(base_url=dev.emulator) as chat,
    ):
        problems: list[str] = []
        page = console.new_page()
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on(
            "console",
            lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        page.goto("/login")
        page.get_by_label("Email address").fill(LOGIN["email"])
        page.get_by_label("Password").fill(LOGIN["password"])
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{dev.frontdesk}/")

        # The demo Page's bot, the shop assistant, linked by `make run`.
        page.goto("/channels/1/bot")
        expect(page.get_by_role("heading", name="Rule bot")).to_be_visible()
        expect(page.locator("#rules")).to_contain_text("Opening hours")
        expect(page.locator(".lead")).to_contain_text(
            "The bot answers Lisbon Tees's conversations."
        )
        shot(page, "01-editor")

        # Edit the rule in the editor, and try it before saving.
        editor = page.locator("#f-source")
        source = editor.input_value()
        edited = source.replace(OLD_HOURS, "We're open every day from 9:00 to 21:00")
        assert edited != source
        editor.fill(edited)
        page.locator("#try-text").fill("what are your opening hours?")
        page.locator("#try-text").press("Enter")
        expect(page.locator("#try-log .try-bot .bubble").last).to_contain_text(NEW)
        expect(page.locator("#try-trace")).to_contain_text('Rule "Opening hours" fired.')
        shot(page, "02-try-it")

        # Save: a new version, and the Page answers with it.
        page.get_by_label("Note").fill("Open every day")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.get_by_role("status")).to_contain_text("Saved as a new version.")
        expect(page.locator("#versions")).to_contain_text("Open every day")
        shot(page, "03-saved")

        messenger = chat.new_page()
        messenger.goto(f"/messenger?person={JOAO}&page={DEMO_PAGE_ID}")
        expect(messenger.locator("#live")).to_have_text("Live")
        messenger.locator("#text").fill("What are your opening hours?")
        messenger.locator("#text").press("Enter")
        expect(messenger.locator(".msg .bubble").filter(has_text=NEW)).to_be_visible(timeout=15_000)
        shot(messenger, "04-messenger")
        assert problems == []
