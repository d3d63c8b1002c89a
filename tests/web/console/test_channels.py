"""A connected Page's life in the console, against the emulator: the checklist's test reply, a
password change on Facebook (banner, doctor ✗, paused replies), Reconnect (✓, the replies go
out), switching who answers, and Remove (unsubscribed on Meta, history kept or deleted)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select, update

from frontdesk.core.handoff import HandoffStage
from frontdesk.core.people import Role
from frontdesk.store import conversations as store
from frontdesk.store.tables import channels, conversations, jobs, messages
from frontdesk.web.botfile import load
from frontdesk.workers import botprofile, erase

from .conftest import ADMIN, APP_ID, CHLOE, JOAO, LISBON, ORIGIN, Browser, Wired, csrf_of
from .test_connect import choose, text_of

pytestmark = pytest.mark.db


async def connected(wired: Wired) -> tuple[Browser, int]:
    """The owner of Lisbon, with Lisbon Tees connected through the Login dialog."""
    await wired.member("Lisbon", "morgan@lisbon.test")
    browser = await wired.signed_in("morgan@lisbon.test")
    back = await wired.facebook(browser, pages=(LISBON,))
    await choose(wired, browser, back.headers["location"], LISBON)
    async with wired.engine.connect() as conn:
        channel_id = (await conn.execute(select(channels.c.id))).scalar_one()
    return browser, int(channel_id)


async def channel(wired: Wired, channel_id: int) -> dict[str, Any]:
    async with wired.engine.connect() as conn:
        row = (await conn.execute(select(channels).where(channels.c.id == channel_id))).one()
        return dict(row._asdict())


async def send_test_reply(browser: Browser, channel_id: int, text: str) -> str:
    page = await browser.get(f"/channels/{channel_id}")
    conversation = re.search(r'<option value="(\d+)">', page.text)
    assert conversation is not None, "no recent contact to send a test reply to"
    sent = await browser.post(
        f"/channels/{channel_id}/test-message",
        {"csrf_token": csrf_of(page.text), "conversation": conversation.group(1), "text": text},
    )
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


async def on_messenger(wired: Wired, page: str = LISBON, person: str = JOAO) -> list[str]:
    sent = await wired.control.get("/_emulator/sent", params={"page_id": page, "person_id": person})
    return [m["text"] for m in sent.json()["data"]]


async def test_the_checklist_sees_the_first_message_and_a_test_reply_delivered(
    wired: Wired,
) -> None:
    browser, channel_id = await connected(wired)
    before = await browser.get(f"/channels/{channel_id}/live")
    assert before.json() == {"last_in": None, "verified": None, "test": None}
    assert "Waiting for the first message" in (await browser.get(f"/channels/{channel_id}")).text

    await wired.say("Olá! Is the blue shirt in stock?")
    live = (await browser.get(f"/channels/{channel_id}/live")).json()
    assert live["last_in"]["text"] == "Olá! Is the blue shirt in stock?"

    shown = await send_test_reply(browser, channel_id, "Test from the console")
    page = await browser.get(shown)
    assert "Waiting to be sent" in page.text
    await wired.settle()
    test_id = re.search(r"test=(\d+)", shown)
    assert test_id is not None
    state = (await browser.get(f"/channels/{channel_id}/live?test={test_id.group(1)}")).json()
    assert state["test"]["status"] == "delivered", state
    assert await on_messenger(wired) == ["Test from the console"]


async def test_password_change_banner_doctor_reconnect_and_the_paused_reply_delivered(
    wired: Wired,
) -> None:
    browser, channel_id = await connected(wired)
    await wired.say("Olá!")
    broke = await wired.control.post("/_emulator/faults/password-change", json={"person_id": ADMIN})
    assert broke.status_code == 200, broke.text

    # A reply meets the broken token: the channel is paused, the reply waits.
    await send_test_reply(browser, channel_id, "Sent after the reconnect")
    await wired.settle()
    assert (await channel(wired, channel_id))["status"] == "reconnect_needed"
    home = text_of((await browser.get("/")).text)
    assert "A Page needs your attention" in home
    assert "Reconnect needed" in home
    doctor = text_of((await browser.get(f"/channels/{channel_id}/doctor")).text)
    assert "✗ Page token" in doctor
    assert "the password of the person who connected the Page was changed (190/460)" in doctor

    # Reconnect: the Login round trip for this Page only, straight to its connection.
    back = await wired.facebook(browser, f"/channels/{channel_id}/reconnect", pages=(LISBON,))
    assert back.headers["location"].endswith("/progress")
    for _ in range(3):
        page = await browser.get(back.headers["location"])
        if "data-auto-submit" not in page.text:
            break
        await browser.post(
            back.headers["location"].replace("/progress", "/next"),
            {"csrf_token": csrf_of(page.text)},
        )
    assert "✓ Connected" in text_of(page.text)
    assert (await channel(wired, channel_id))["status"] == "active"
    await wired.settle()
    assert await on_messenger(wired) == ["Sent after the reconnect"]

    doctor = text_of((await browser.get(f"/channels/{channel_id}/doctor")).text)
    assert "✓ Page token" in doctor
    assert "✗" not in doctor
    assert "needs your attention" not in text_of((await browser.get("/")).text)
    # One channel, its history kept.
    async with wired.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(channels))).scalar() == 1
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 2


async def test_the_doctor_page_changes_nothing_until_the_checks_are_run_again(
    wired: Wired,
) -> None:
    browser, channel_id = await connected(wired)
    broke = await wired.control.post("/_emulator/faults/password-change", json={"person_id": ADMIN})
    assert broke.status_code == 200, broke.text

    # Opening the page (twice: a prefetch, then the person) shows the ✗ and changes nothing.
    for _ in range(2):
        shown = await browser.get(f"/channels/{channel_id}/doctor")
    doctor = text_of(shown.text)
    assert "✗ Page token" in doctor
    assert "does not follow these checks yet" in doctor
    assert (await channel(wired, channel_id))["status"] == "active"
    assert "needs your attention" not in text_of((await browser.get("/")).text)

    # "Run the checks again" is a form like any other: no token, or another site, no change.
    forged = await browser.post(f"/channels/{channel_id}/doctor", {"csrf_token": "x" * 43})
    elsewhere = await browser.post(
        f"/channels/{channel_id}/doctor",
        {"csrf_token": csrf_of(shown.text)},
        headers={"origin": "https://evil.test"},
    )
    assert (forged.status_code, elsewhere.status_code) == (403, 403)
    assert (await channel(wired, channel_id))["status"] == "active"

    ran = await browser.post(f"/channels/{channel_id}/doctor", {"csrf_token": csrf_of(shown.text)})
    assert ran.status_code == 200
    assert "✗ Page token" in text_of(ran.text)
    assert "now follows these checks: Reconnect needed" in text_of(ran.text)
    assert (await channel(wired, channel_id))["status"] == "reconnect_needed"
    assert "Reconnect needed" in text_of((await browser.get("/")).text)


BOT = """\
name: Opening hours
rules:
  - name: Hours
    when:
      keywords:
        contains: [hours]
    do:
      - text: "We're open 10:00 to 19:00."
"""


async def give_bot(wired: Wired, channel_id: int) -> None:
    found = load(BOT, "bot.yaml")
    async with wired.engine.begin() as conn:
        await botprofile.save(
            conn, channel_id, fmt="yaml", source=BOT, definition=found.data, now=wired.clock()
        )


async def switch(browser: Browser, channel_id: int, link: str) -> None:
    form = await browser.get(f"/channels/{channel_id}/link")
    saved = await browser.post(
        f"/channels/{channel_id}/link", {"csrf_token": csrf_of(form.text), "link": link}
    )
    assert saved.status_code == 303, saved.text


async def test_switching_the_link_applies_to_the_next_message_and_spares_human_threads(
    wired: Wired,
) -> None:
    browser, channel_id = await connected(wired)
    await give_bot(wired, channel_id)
    form = await browser.get(f"/channels/{channel_id}/link")
    assert re.search(r'id="link-inbox"[^>]*checked', form.text)
    assert "This Page's bot: <strong>Opening hours</strong>" in form.text
    for coming in ("endpoint", "ai"):
        assert re.search(rf'id="link-{coming}"[^>]*disabled', form.text), coming
    # A kind that is not selectable is refused, whatever the form says.
    for link in ("ai", "endpoint", "<script>", ""):
        refused = await browser.post(
            f"/channels/{channel_id}/link", {"csrf_token": csrf_of(form.text), "link": link}
        )
        assert refused.status_code == 400, link
    assert (await channel(wired, channel_id))["link"] == "inbox"

    # João asks for a person (his conversation is a human's now); Chloé asks for the hours
    # while people answer: nothing automatic.
    await wired.say("human")
    await wired.say("What are your hours?", person=CHLOE)
    assert await on_messenger(wired, person=CHLOE) == []

    await switch(browser, channel_id, "rules")
    assert (await channel(wired, channel_id))["link"] == "rules"
    await wired.say("And your hours today?", person=CHLOE)
    assert await on_messenger(wired, person=CHLOE) == ["We're open 10:00 to 19:00."]
    before = await on_messenger(wired)
    await wired.say("hours?")
    assert await on_messenger(wired) == before  # a person holds João's conversation
    async with wired.engine.connect() as conn:
        ids = [
            r.id
            for r in await conn.execute(select(conversations.c.id).order_by(conversations.c.id))
        ]
        assert (await store.handoff_of(conn, ids[0])).stage is not HandoffStage.BOT

    await switch(browser, channel_id, "inbox")
    await wired.say("hours, again?", person=CHLOE)
    assert await on_messenger(wired, person=CHLOE) == ["We're open 10:00 to 19:00."]
    # Nothing was lost: every message of both is kept.
    async with wired.engine.connect() as conn:
        inbound = (
            select(func.count()).select_from(messages).where(messages.c.direction == "inbound")
        )
        assert (await conn.execute(inbound)).scalar() == 5


async def test_remove_unsubscribes_keeps_history_and_says_the_meta_step(wired: Wired) -> None:
    browser, channel_id = await connected(wired)
    await wired.say("Olá!")
    assert APP_ID in (await wired.world_page(LISBON))["subscribed_apps"]
    form = await browser.get(f"/channels/{channel_id}/remove")
    done = await browser.post(
        f"/channels/{channel_id}/remove", {"csrf_token": csrf_of(form.text), "history": "keep"}
    )
    assert done.status_code == 200, done.text
    said = text_of(done.text)
    assert "Frontdesk unsubscribed from the Page's messages on Meta" in said
    assert "Business integrations" in said
    assert APP_ID in said
    assert APP_ID not in (await wired.world_page(LISBON))["subscribed_apps"]
    row = await channel(wired, channel_id)
    assert (row["status"], row["page_token"]) == ("removed", None)
    home = text_of((await browser.get("/")).text)
    assert "Removed Pages" in home
    assert "needs your attention" not in home
    # Its events are not taken any more (Meta would not send them; a stray one is kept raw).
    await wired.say("Anyone?")
    async with wired.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 1


async def test_remove_with_history_deleted_and_the_app_already_gone(wired: Wired) -> None:
    browser, channel_id = await connected(wired)
    await wired.say("Olá!")
    gone = await wired.control.post(
        "/_emulator/faults/remove-app", json={"page_id": LISBON, "app_id": APP_ID}
    )
    assert gone.status_code == 200, gone.text
    form = await browser.get(f"/channels/{channel_id}/remove")
    done = await browser.post(
        f"/channels/{channel_id}/remove", {"csrf_token": csrf_of(form.text), "history": "delete"}
    )
    assert done.status_code == 200, done.text
    said = text_of(done.text)
    assert "had already been removed from the Page" in said
    assert "are being deleted, in the background" in said
    # The request only marked it: the worker deletes the history, a batch at a time.
    row = await channel(wired, channel_id)
    assert (row["status"], row["page_token"]) == ("removed", None)
    assert row["erase_requested_at"] is not None
    async with wired.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 1
    assert "Removed, history being deleted" in text_of((await browser.get("/")).text)
    page = text_of((await browser.get(f"/channels/{channel_id}")).text)
    assert "Removed, history being deleted" in page
    assert "Reconnect" not in page
    # Connecting it again waits until the history is gone.
    back = await wired.facebook(browser, pages=(LISBON,))
    await choose(wired, browser, back.headers["location"], LISBON)
    assert (await channel(wired, channel_id))["status"] == "removed"
    # Had the job given up (dead), removing it again goes on deleting, whatever is chosen.
    async with wired.engine.begin() as conn:
        await conn.execute(update(jobs).where(jobs.c.kind == erase.ERASE).values(state="dead"))
    form = await browser.get(f"/channels/{channel_id}/remove")
    again = await browser.post(
        f"/channels/{channel_id}/remove", {"csrf_token": csrf_of(form.text), "history": "keep"}
    )
    assert again.status_code == 200, again.text
    await wired.settle()
    async with wired.engine.connect() as conn:
        for table in (channels, conversations, messages):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar() == 0
    assert "history being deleted" not in text_of((await browser.get("/")).text)
    # Then connecting it again starts afresh (Facebook gives the app the Page again).
    back = await wired.facebook(browser, pages=(LISBON,))
    await choose(wired, browser, back.headers["location"], LISBON)
    async with wired.engine.connect() as conn:
        again = (await conn.execute(select(channels.c.id, channels.c.status))).one()
        assert again.status == "active"
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 0


async def test_remove_when_meta_cannot_be_reached_removes_nothing_unless_asked(
    wired: Wired,
) -> None:
    browser, channel_id = await connected(wired)
    await wired.control.post(
        "/_emulator/faults",
        json={
            "kind": "error",
            "endpoint": "subscribed_apps",
            "error": {
                "code": 2,
                "message": "Service temporarily unavailable",
                "is_transient": True,
            },
        },
    )
    form = await browser.get(f"/channels/{channel_id}/remove")
    refused = await browser.post(
        f"/channels/{channel_id}/remove", {"csrf_token": csrf_of(form.text), "history": "keep"}
    )
    assert refused.status_code == 502
    assert "Nothing was removed" in text_of(refused.text)
    assert (await channel(wired, channel_id))["status"] == "active"
    anyway = await browser.post(
        f"/channels/{channel_id}/remove",
        {"csrf_token": csrf_of(form.text), "history": "keep", "anyway": "on"},
    )
    assert anyway.status_code == 200
    assert "Meta could not be reached" in text_of(anyway.text)
    assert (await channel(wired, channel_id))["status"] == "removed"


async def test_agents_see_but_do_not_change(wired: Wired) -> None:
    _, channel_id = await connected(wired)
    await wired.member("Lisbon", "ana@lisbon.test", Role.AGENT)
    agent = await wired.signed_in("ana@lisbon.test")
    assert (await agent.get(f"/channels/{channel_id}")).status_code == 200
    assert (await agent.get(f"/channels/{channel_id}/doctor")).status_code == 200
    token = csrf_of((await agent.get("/account")).text)
    for path in ("link", "remove", "reconnect"):
        assert (await agent.get(f"/channels/{channel_id}/{path}")).status_code == 403, path
    for path, data in (
        ("link", {"link": "inbox"}),
        ("remove", {"history": "keep"}),
        ("test-message", {"conversation": "1", "text": "x"}),
    ):
        answer = await agent.post(f"/channels/{channel_id}/{path}", {"csrf_token": token, **data})
        assert answer.status_code == 403, path
    assert (await channel(wired, channel_id))["status"] == "active"


NEW_FORMS = [
    ("/channels/{id}/test-message", {"conversation": "1", "text": "Hi"}),
    ("/channels/{id}/link", {"link": "inbox"}),
    ("/channels/{id}/remove", {"history": "delete"}),
    ("/channels/manual", {"start": "1"}),
]


@pytest.mark.parametrize(("path", "data"), NEW_FORMS, ids=[p for p, _ in NEW_FORMS])
async def test_every_new_form_needs_its_csrf_token_and_our_origin(
    wired: Wired, path: str, data: dict[str, str]
) -> None:
    browser, channel_id = await connected(wired)
    target = path.format(id=channel_id)
    token = csrf_of((await browser.get(f"/channels/{channel_id}")).text)
    before = await channel(wired, channel_id)
    for form, headers in (
        (data, None),  # no token
        ({**data, "csrf_token": token[:-2] + "xx"}, None),  # a wrong one
        ({**data, "csrf_token": token}, {"origin": "https://evil.example"}),  # another site
    ):
        answer = await browser.post(target, form, headers=headers)
        assert answer.status_code == 403, (target, form.keys(), headers)
    assert await channel(wired, channel_id) == before


async def test_hostile_channel_forms_are_refused_or_escaped(wired: Wired) -> None:
    browser, channel_id = await connected(wired)
    await wired.say("Olá!")
    page = await browser.get(f"/channels/{channel_id}")
    token = csrf_of(page.text)
    conversation = re.search(r'<option value="(\d+)">', page.text)
    assert conversation is not None
    base = {"csrf_token": token, "conversation": conversation.group(1)}
    # Too long, or aimed at a conversation of no channel of ours.
    long = await browser.post(f"/channels/{channel_id}/test-message", {**base, "text": "x" * 641})
    assert long.status_code == 400
    assert "Use at most 640 characters." in long.text
    for aimed in ("999999", "-1", "1e3", "<script>", "1" * 40):
        answer = await browser.post(
            f"/channels/{channel_id}/test-message", {**base, "conversation": aimed, "text": "Hi"}
        )
        assert answer.status_code == 400, aimed
        assert "<script>" not in answer.text
    # A form far over the size limit, or one the console cannot read.
    huge = await browser.post(f"/channels/{channel_id}/link", {**base, "link": "inbox" * 20_000})
    assert huge.status_code == 413
    garbled = await browser.client.post(
        f"/channels/{channel_id}/link",
        content=b"csrf_token=" + token.encode() + b"&link=%ff%fe",
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code == 400
    twice = await browser.client.post(
        f"/channels/{channel_id}/link",
        content=f"csrf_token={token}&link=inbox&link=rules".encode(),
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    # Script in a test reply is shown as text, never run.
    sent = await browser.post(
        f"/channels/{channel_id}/test-message", {**base, "text": "<script>alert(1)</script>"}
    )
    shown = await browser.get(sent.headers["location"])
    assert "<script>alert(1)</script>" not in shown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    assert (await channel(wired, channel_id))["link"] == "inbox"


async def test_a_page_removed_with_its_history_kept_can_be_connected_by_its_new_owner(
    wired: Wired,
) -> None:
    """The Page changed hands: Lisbon removed it keeping its history, Porto connects it. Each
    workspace keeps its own conversations; the Page's events go to Porto's live channel only,
    and Lisbon cannot take the Page back while Porto has it."""
    lisbon, old_id = await connected(wired)
    await wired.say("Olá! Is my order on its way?")
    form = await lisbon.get(f"/channels/{old_id}/remove")
    removed = await lisbon.post(
        f"/channels/{old_id}/remove", {"csrf_token": csrf_of(form.text), "history": "keep"}
    )
    assert removed.status_code == 200, removed.text

    await wired.member("Porto", "rita@porto.test")
    porto = await wired.signed_in("rita@porto.test")
    back = await wired.facebook(porto, pages=(LISBON,))
    choice = await porto.get(back.headers["location"])
    assert "Already connected to another Frontdesk workspace" not in text_of(choice.text)
    await choose(wired, porto, back.headers["location"], LISBON)
    async with wired.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(channels.c.id, channels.c.workspace_id, channels.c.status).order_by(
                    channels.c.id
                )
            )
        ).all()
    assert [(r.id, r.status) for r in rows] == [(old_id, "removed"), (rows[1].id, "active")]
    assert rows[0].workspace_id != rows[1].workspace_id
    new_id = rows[1].id

    await wired.say("Hello, is this the new shop?")
    async with wired.engine.connect() as conn:
        filed = (
            await conn.execute(
                select(messages.c.channel_id, messages.c.text)
                .where(messages.c.direction == "inbound")
                .order_by(messages.c.id)
            )
        ).all()
    assert [tuple(m) for m in filed] == [
        (old_id, "Olá! Is my order on its way?"),
        (new_id, "Hello, is this the new shop?"),
    ]
    theirs = text_of((await porto.get("/inbox")).text)
    assert "Hello, is this the new shop?" in theirs
    assert "Is my order on its way" not in theirs
    async with wired.engine.connect() as conn:
        kept = (
            await conn.execute(
                select(conversations.c.id).where(conversations.c.channel_id == old_id)
            )
        ).scalar_one()
    assert (await porto.get(f"/inbox/{kept}")).status_code == 404
    history = text_of((await lisbon.get(f"/inbox/{kept}")).text)
    assert "Is my order on its way" in history
    assert "Hello, is this the new shop?" not in history

    # Lisbon cannot connect the Page again while Porto has it.
    back = await wired.facebook(lisbon, pages=(LISBON,))
    choice = await lisbon.get(back.headers["location"])
    assert "Already connected to another Frontdesk workspace" in text_of(choice.text)
