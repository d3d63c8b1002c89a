"""Where a customer came from, end to end: Get Started through an m.me link, an existing thread
opened again from an ad, both kept as a line of the transcript (once, however often Meta
delivers it) that the contact panel shows, and in the exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store.tables import notes

from .harness import APP_ID, APP_SECRET, FIELDS, HOUR, PAGE, VERIFY, Desk, connected

pytestmark = pytest.mark.db


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as made:
        # Referrals into an existing thread come in a field of their own (as `frontdesk dev`
        # subscribes: demo.WEBHOOK_FIELDS).
        fields = ",".join([*FIELDS, "messaging_referrals"])
        app = await made.meta.post(
            f"/v25.0/{APP_ID}/subscriptions",
            data={
                "object": "page",
                "callback_url": "http://frontdesk.test/webhooks/messenger",
                "verify_token": VERIFY,
                "fields": fields,
                "access_token": f"{APP_ID}|{APP_SECRET}",
            },
        )
        assert app.json() == {"success": True}, app.text
        page = await made.meta.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"subscribed_fields": fields, "access_token": await made.new_page_token()},
        )
        assert page.json() == {"success": True}, page.text
        yield made


async def referral_lines(desk: Desk) -> list[str]:
    async with desk.engine.connect() as conn:
        found = await conn.execute(
            select(notes.c.text).where(notes.c.kind == "referral").order_by(notes.c.id)
        )
        return [str(row.text) for row in found]


async def test_an_m_me_link_and_an_ad_are_kept_once_each(desk: Desk) -> None:
    token = await desk.new_page_token()
    button = await desk.meta.post(
        "/v25.0/me/messenger_profile",
        json={"get_started": {"payload": "GET_STARTED"}},
        params={"access_token": token},
    )
    assert button.status_code == 200, button.text
    await desk.act("get_started", ref="summer-sale")  # from an m.me link, with a ref
    await desk.settle()
    assert await referral_lines(desk) == ["Came from an m.me link (ref summer-sale)"]
    for _ in range(2):  # the same ad twice in a row: one line
        await desk.act("referral", source="ADS", ad_id="6045246247433", ref="tees")
        await desk.settle()
    assert await referral_lines(desk) == [
        "Came from an m.me link (ref summer-sale)",
        "Came from an ad (ad 6045246247433, ref tees)",
    ]
    await desk.act("referral", source="MESSENGER_CODE")
    await desk.settle()
    assert (await referral_lines(desk))[-1] == "Came from a Messenger QR code"


async def test_a_referral_into_an_existing_thread_opens_the_window_again(desk: Desk) -> None:
    await desk.say("Hi")
    await desk.advance(30 * HOUR)  # the window has closed
    await desk.act("referral", source="ADS", ad_id="6045246247433", ref="tees")
    await desk.settle()
    message_id = await desk.reply("Thanks for coming back! The tees are in stock.")
    await desk.settle()
    [found] = [m for m in await desk.messages() if m["id"] == message_id]
    assert (found["status"], found["messaging_type"]) == ("delivered", "RESPONSE")
