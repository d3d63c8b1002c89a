"""Manage Pages against the emulator: the Login dialog with its state bound to the session, the
person's Pages (some refused, each with its reason), the choice, every Page connected step by
step with its failure shown, and a reconnect that swaps the token and sends what waited."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from frontdesk.core.people import Role
from frontdesk.store.tables import channels, page_logins
from frontdesk.workers.examination import REQUIRED_FIELDS

from .conftest import (
    ADMIN,
    APP_ID,
    LISBON,
    ORIGIN,
    PORTO,
    Browser,
    Wired,
    csrf_of,
)

pytestmark = pytest.mark.db


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


async def owner(
    wired: Wired, email: str = "morgan@lisbon.test", workspace: str = "Lisbon"
) -> Browser:
    await wired.member(workspace, email)
    return await wired.signed_in(email)


async def choose(wired: Wired, browser: Browser, login_path: str, *pages: str) -> None:
    """Tick `pages` on the choice page, Save, then run the progress page's steps as its script
    would, until nothing is left."""
    shown = await browser.get(login_path)
    assert shown.status_code == 200, shown.text
    answer = await browser.post(
        login_path, {"csrf_token": csrf_of(shown.text), **{f"page-{p}": "on" for p in pages}}
    )
    assert answer.status_code == 303, answer.text
    progress = answer.headers["location"]
    for _ in range(10):
        page = await browser.get(progress)
        if "data-auto-submit" not in page.text:
            return
        step = await browser.post(
            progress.replace("/progress", "/next"), {"csrf_token": csrf_of(page.text)}
        )
        assert step.status_code == 303, step.text
    raise AssertionError("the progress page never finished")


async def channel_rows(wired: Wired) -> list[dict[str, Any]]:
    async with wired.engine.connect() as conn:
        rows = await conn.execute(select(channels).order_by(channels.c.page_id))
        return [dict(r._asdict()) for r in rows]


async def test_two_pages_connected_through_the_login_dialog(wired: Wired) -> None:
    browser = await owner(wired)
    back = await wired.facebook(browser)
    assert back.status_code == 303
    login_path = back.headers["location"]
    choice = await browser.get(login_path)
    assert "Lisbon Tees" in choice.text
    assert "Porto Books" in choice.text
    await choose(wired, browser, login_path, LISBON, PORTO)

    done = text_of((await browser.get(login_path + "/progress")).text)
    assert done.count("✓ Connected") == 2
    for step in ("Page token", "Token checked with Meta", "App webhook", "Subscribed", "Saved"):
        assert f"✓ {step}" in done
    rows = await channel_rows(wired)
    assert [(r["page_id"], r["name"], r["status"]) for r in rows] == [
        (LISBON, "Lisbon Tees", "active"),
        (PORTO, "Porto Books", "active"),
    ]
    # Meta's side: the app subscribed to both Pages with the full list, and its webhook set.
    for page in (LISBON, PORTO):
        assert (await wired.world_page(page))["subscribed_apps"][APP_ID] == list(REQUIRED_FIELDS)
    world = (await wired.control.get("/_emulator/world")).json()
    app = next(a for a in world["apps"] if a["id"] == APP_ID)
    assert app["subscription"]["callback_url"] == f"{ORIGIN}/webhooks/messenger"
    assert app["subscription"]["active"] is True
    # The person's Facebook token is not kept once every Page is done.
    async with wired.engine.connect() as conn:
        assert (await conn.execute(select(page_logins.c.user_token))).scalar() is None

    # And the Pages work: a customer's message arrives in the channel.
    await wired.say("Olá! Do you ship to Porto?")
    table = text_of((await browser.get("/")).text)
    assert "Lisbon Tees" in table
    assert "Connected" in table
    assert "Facebook login" in table
    assert "nothing yet" in table  # Porto Books has heard nothing; Lisbon Tees has


async def test_pages_that_cannot_be_connected_are_refused_with_their_reason(wired: Wired) -> None:
    # Morgan can only analyse a third Page; Porto Books is unpublished; another workspace
    # already has one connected.
    made = await wired.control.post(
        "/_emulator/pages", json={"name": "Café Aurora", "roles": {ADMIN: ["ANALYZE"]}}
    )
    assert made.status_code in (200, 201), made.text
    cafe = made.json()["id"]
    unpublished = await wired.control.patch(f"/_emulator/pages/{PORTO}", json={"published": False})
    assert unpublished.status_code == 200, unpublished.text
    theirs = await wired.member("Theirs", "owner@theirs.test")
    await wired.channel(theirs.workspace_id, LISBON, "Lisbon Tees")

    browser = await owner(wired)
    back = await wired.facebook(browser, pages=(LISBON, PORTO, cafe))
    choice = await browser.get(back.headers["location"])
    page = text_of(choice.text)
    assert "Already connected to another Frontdesk workspace" in page
    assert "The Page is unpublished" in page
    assert "You cannot manage this Page's messages (your tasks on it: ANALYZE)" in page
    for refused in (LISBON, PORTO, cafe):
        assert re.search(rf'name="page-{refused}"[^>]*disabled', choice.text), refused
    # A refused Page cannot be forced through the form either.
    forced = await browser.post(
        back.headers["location"], {"csrf_token": csrf_of(choice.text), f"page-{LISBON}": "on"}
    )
    assert forced.status_code == 400
    assert "Choose among the Pages that can be connected." in forced.text
    assert [r["workspace_id"] for r in await channel_rows(wired)] == [theirs.workspace_id]


async def test_a_failing_page_says_why_and_the_others_still_connect(wired: Wired) -> None:
    browser = await owner(wired)
    back = await wired.facebook(browser)
    # Meta refuses the subscription of Porto Books only.
    fault = await wired.control.post(
        "/_emulator/faults",
        json={
            "kind": "error",
            "endpoint": "subscribed_apps",
            "page_id": PORTO,
            "error": {"code": 200, "message": "(#200) Permissions error"},
        },
    )
    assert fault.status_code in (200, 201), fault.text
    await choose(wired, browser, back.headers["location"], LISBON, PORTO)
    progress = text_of((await browser.get(back.headers["location"] + "/progress")).text)
    assert "✓ Connected" in progress
    assert "✗ Not connected" in progress
    assert "Meta refused: (200/-) (#200) Permissions error." in progress
    assert "Try the failed Pages again" in progress
    assert [r["page_id"] for r in await channel_rows(wired)] == [LISBON]

    # Once Meta accepts, trying again connects it.
    await wired.control.delete("/_emulator/faults")
    shown = await browser.get(back.headers["location"] + "/progress")
    retried = await browser.post(
        back.headers["location"] + "/next", {"csrf_token": csrf_of(shown.text), "retry": "failed"}
    )
    assert retried.status_code == 303
    for _ in range(5):
        page = await browser.get(back.headers["location"] + "/progress")
        if "data-auto-submit" not in page.text:
            break
        await browser.post(back.headers["location"] + "/next", {"csrf_token": csrf_of(page.text)})
    assert [r["page_id"] for r in await channel_rows(wired)] == [LISBON, PORTO]


async def test_the_state_must_come_back_to_the_session_that_sent_it(wired: Wired) -> None:
    browser = await owner(wired)
    leaving = await browser.get("/channels/connect/facebook")
    state = re.search(r"state=([^&]+)", leaving.headers["location"])
    assert state is not None
    # Another person of the same workspace, in another browser, cannot use it.
    await wired.member("Lisbon", "admin@lisbon.test", Role.ADMIN)
    other = await wired.signed_in("admin@lisbon.test")
    refused = await other.get(f"/channels/connect/callback?code=AQabc&state={state.group(1)}")
    assert refused.status_code == 400
    assert "It was not started in this browser session" in text_of(refused.text)
    # Nor can a made-up state, a missing one, or a hostile one.
    for query in ("code=AQabc&state=" + "A" * 32, "code=AQabc", "state=%3Cscript%3E&code=x"):
        answer = await browser.get(f"/channels/connect/callback?{query}")
        assert answer.status_code == 400, query
        assert "<script>" not in answer.text
    # The person who started it, cancelling on Facebook: told so, nothing connected.
    back = await wired.facebook(browser, action="cancel")
    cancelled = await browser.get(back.headers["location"])
    assert "Facebook's login was cancelled or refused" in text_of(cancelled.text)
    assert await channel_rows(wired) == []


async def test_an_expired_round_trip_is_refused(wired: Wired) -> None:
    browser = await owner(wired)
    leaving = await browser.get("/channels/connect/facebook")
    state = re.search(r"state=([^&]+)", leaving.headers["location"])
    assert state is not None
    wired.clock.advance(31 * 60)
    answer = await browser.get(f"/channels/connect/callback?code=AQabc&state={state.group(1)}")
    assert answer.status_code == 400
    assert "It took too long." in text_of(answer.text)


async def test_agents_cannot_connect_pages(wired: Wired) -> None:
    await wired.member("Lisbon", "morgan@lisbon.test")
    await wired.member("Lisbon", "ana@lisbon.test", Role.AGENT)
    agent = await wired.signed_in("ana@lisbon.test")
    for path in ("/channels/connect", "/channels/connect/facebook", "/channels/manual"):
        assert (await agent.get(path)).status_code == 403, path
