"""The composer end to end: an agent's forms in the inbox, Frontdesk's worker, and the emulator
as Meta. A reply reaches the customer (quick replies exactly as typed), takes the conversation
and shows its marks; a canned response is sent by its shortcut; a private note never leaves;
the window decides what a reply becomes (and the composer says so first); a failed send shows
its reason and goes again; a file is sent from its signed address; typing and seen reach
Messenger only inside the window. Malformed, oversized and hostile forms are refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import HandoffStage
from frontdesk.core.people import Role
from frontdesk.store import canned, notes
from frontdesk.store.tables import messages
from frontdesk.store.tables import notes as notes_table
from frontdesk.web.console.files import signature
from tests.flows.harness import HOUR

from .agents import Agents, agents_at_work, field_error, sent_messages
from .conftest import ORIGIN, csrf_of

pytestmark = pytest.mark.db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def team(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Agents]:
    async with agents_at_work(database_url, engine, tmp_path) as made:
        await made.member("morgan@example.com", "Morgan Reyes", Role.OWNER)
        await made.member("ana@example.com", "Ana Lima")
        yield made


async def test_a_reply_reaches_the_customer_takes_the_conversation_and_shows_its_marks(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Olá! Do you have the M size?")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    answer = await team.reply(
        ana, "Yes! Which colour?", quick_replies="Black\n White \n\nNavy blue"
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/inbox/{conversation_id}#composer"
    await desk.settle()
    [sent] = sent_messages(desk)
    assert sent["message"]["text"] == "Yes! Which colour?"
    assert sent["message"]["quick_replies"] == [
        {"content_type": "text", "title": title, "payload": title}
        for title in ("Black", "White", "Navy blue")
    ]
    assert sent["messaging_type"] == "RESPONSE"
    assert [m["text"] for m in await desk.on_meta()] == ["Yes! Which colour?"]
    # The agent has the conversation now, and the record says so.
    state = await desk.handoff()
    assert (state.stage, state.assignee) == (
        HandoffStage.HUMAN,
        str(team.people["ana@example.com"].id),
    )
    await desk.act("read")
    await desk.settle()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert '<span class="by">Ana Lima</span>' in page
    assert '<p class="mark mark-read">Seen</p>' in page
    assert "Ana Lima replied and took the conversation." in page
    assert "<li>Navy blue</li>" in page  # the chips, as the customer saw them


async def test_a_canned_response_goes_by_its_shortcut(team: Agents) -> None:
    desk = team.desk
    await desk.say("When are you open?")
    async with desk.engine.begin() as conn:
        workspace = team.people["ana@example.com"].workspace_id
        await canned.save(conn, workspace, "hours", "Mon-Fri 10:00-19:00, Sat 10:00-14:00.", 0.0)
    ana = await team.signed_in("ana@example.com")
    assert (await team.reply(ana, "/hours")).status_code == 303
    refused = await team.reply(ana, "/nope")
    assert refused.status_code == 400
    assert field_error(refused.text, "text") == "There is no canned response /nope."
    assert ">/nope</textarea>" in refused.text  # what was typed is kept
    await desk.settle()
    assert [m["message"]["text"] for m in sent_messages(desk)] == [
        "Mon-Fri 10:00-19:00, Sat 10:00-14:00."
    ]


async def test_a_private_note_is_kept_and_never_sent(team: Agents) -> None:
    desk = team.desk
    await desk.say("My order is late")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    answer = await team.form(
        ana, conversation_id, f"/inbox/{conversation_id}/note", {"text": "VIP: call <back>"}
    )
    assert answer.status_code == 303
    await desk.settle()
    assert sent_messages(desk) == []
    async with desk.engine.connect() as conn:
        written = (await conn.execute(select(notes_table.c.kind, notes_table.c.user_name))).all()
    assert [tuple(row) for row in written] == [(notes.NOTE, "Ana Lima")]
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert "VIP: call &lt;back&gt;" in page
    assert "Private note · Ana Lima" in page
    # A note does not take the conversation.
    assert (await desk.handoff()).stage is HandoffStage.BOT


async def test_the_composer_says_how_a_reply_will_go_and_the_outbox_agrees(team: Agents) -> None:
    desk = team.desk
    await desk.say("Hello?")
    await desk.set_human_agent(True)
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert "Goes as a standard reply, inside the 24-hour window." in page

    await desk.advance(30 * HOUR)
    ana = await team.signed_in("ana@example.com")  # the session idled out meanwhile
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert 'class="how how-human_agent"' in page
    await team.reply(ana, "Sorry for the wait!")
    await desk.settle()
    [tagged] = sent_messages(desk)
    assert (tagged["messaging_type"], tagged["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")

    await desk.advance(7 * 24 * HOUR)
    ana = await team.signed_in("ana@example.com")
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert "Blocked: The customer&#39;s last message was 8 days ago" in page
    await team.reply(ana, "Are you still there?")
    await desk.settle()
    assert len(sent_messages(desk)) == 1  # nothing more went out
    assert (await desk.outbound())[-1] == ("Are you still there?", "blocked")
    shown = (await ana.get(f"/inbox/{conversation_id}")).text
    assert "Blocked: The customer&#39;s last message was 8 days ago; even a human agent" in shown


async def test_a_failed_send_shows_its_reason_and_goes_again(team: Agents) -> None:
    desk = team.desk
    await desk.say("Hi")
    await desk.act("block")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    await team.reply(ana, "Hello João")
    await desk.settle()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    assert '<p class="mark mark-failed">Not sent: Not delivered:' in page
    failed = re.search(rf'action="(/inbox/{conversation_id}/messages/(\d+)/retry)"', page)
    assert failed
    await desk.act("unblock")
    again = await ana.post(failed.group(1), {"csrf_token": csrf_of(page)})
    assert again.status_code == 303
    await desk.settle()
    assert await desk.outbound() == [("Hello João", "failed"), ("Hello João", "delivered")]
    # Only a failed message can go again.
    async with desk.engine.connect() as conn:
        delivered = (
            await conn.execute(select(messages.c.id).where(messages.c.status == "delivered"))
        ).scalar_one()
    refused = await ana.post(
        f"/inbox/{conversation_id}/messages/{delivered}/retry", {"csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 409
    assert "Only a message that failed can be sent again." in refused.text


async def test_a_file_goes_from_its_signed_address_and_shows_in_place(team: Agents) -> None:
    desk = team.desk
    await desk.say("Can you show me the tee?")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    answer = await ana.client.post(
        f"/inbox/{conversation_id}/upload",
        data={"csrf_token": csrf_of(page)},
        files={"file": ("../../tee photo.png", PNG, "text/html")},
        headers={"origin": ORIGIN},
    )
    assert answer.status_code == 303, answer.text
    await desk.settle()
    [sent] = sent_messages(desk)
    attachment = sent["message"]["attachment"]
    assert attachment["type"] == "image"  # what the bytes are, not what the browser said
    url = attachment["payload"]["url"]
    digest = re.fullmatch(r"http://127\.0\.0\.1:8000/files/([0-9a-f]{64})/([0-9a-f]{32})/(.+)", url)
    assert digest, url  # at FRONTDESK_PUBLIC_URL, where Meta can fetch it
    assert digest.group(3) == "tee%20photo.png"
    key = desk.app.state.inbox.files_key
    assert digest.group(2) == signature(key, digest.group(1))
    meta_fetcher = team.desk.app  # Meta fetches it with no session at all
    transport = httpx.ASGITransport(app=meta_fetcher)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as meta:
        fetched = await meta.get(url)
    assert fetched.content == PNG
    shown = (await ana.get(f"/inbox/{conversation_id}")).text
    assert re.search(
        rf'<img src="/inbox/{conversation_id}/messages/\d+/files/0" alt="Image: tee photo.png">',
        shown,
    )


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (
            {"content-type": "multipart/form-data; boundary=x", "content-length": str(30 << 20)},
            b"",
            413,
        ),
        ({"content-type": "application/json"}, b"{}", 400),
        # Cut short: refused as unreadable.
        ({"content-type": "multipart/form-data; boundary=x"}, b"--x\r\nbroken", 400),
    ],
)
async def test_an_upload_that_cannot_be_a_file_is_refused(
    team: Agents, headers: dict[str, str], body: bytes, status: int
) -> None:
    await team.desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await team.desk.conversation_id()
    answer = await ana.client.post(
        f"/inbox/{conversation_id}/upload", content=body, headers={"origin": ORIGIN, **headers}
    )
    assert answer.status_code == status, answer.text
    assert sent_messages(team.desk) == []


async def test_an_upload_without_a_file_or_its_token_sends_nothing(team: Agents) -> None:
    await team.desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await team.desk.conversation_id()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    empty = await ana.client.post(
        f"/inbox/{conversation_id}/upload",
        data={"csrf_token": csrf_of(page)},
        files={"file": ("nothing.png", b"", "image/png")},
        headers={"origin": ORIGIN},
    )
    assert empty.status_code == 400
    assert "Choose a file to send." in empty.text
    forged = await ana.client.post(
        f"/inbox/{conversation_id}/upload",
        data={"csrf_token": "x" * 43},
        files={"file": ("tee.png", PNG, "image/png")},
        headers={"origin": ORIGIN},
    )
    assert forged.status_code == 403
    await team.desk.settle()
    assert sent_messages(team.desk) == []


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"text": ""}, "text", "This is needed."),
        ({"text": "   "}, "text", "reply text is empty."),
        ({"text": "x" * 2000}, "text", "reply text must be under 2000 characters."),
        ({"text": "x" * 5001}, "text", "Use at most 2000 characters."),
        (
            {"text": "Pick", "quick_replies": "\n".join(f"c{n}" for n in range(14))},
            "quick_replies",
            "at most 13 quick replies.",
        ),
        (
            {"text": "Pick", "quick_replies": "A title far longer than twenty"},
            "quick_replies",
            "quick reply title is over 20 characters.",
        ),
    ],
)
async def test_a_reply_meta_would_refuse_is_not_sent(
    team: Agents, data: dict[str, str], field: str, problem: str
) -> None:
    await team.desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await team.desk.conversation_id()
    answer = await team.form(ana, conversation_id, f"/inbox/{conversation_id}/reply", data)
    assert answer.status_code == 400
    assert field_error(answer.text, field) == problem
    await team.desk.settle()
    assert sent_messages(team.desk) == []


async def test_typing_and_seen_reach_messenger_inside_the_window_only(team: Agents) -> None:
    desk = team.desk
    await desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    seen = await team.form(ana, conversation_id, f"/inbox/{conversation_id}/seen", {})
    assert seen.status_code == 303  # the page's script sends it once the page is in view
    typed = await team.form(ana, conversation_id, f"/inbox/{conversation_id}/typing", {})
    assert typed.status_code == 204
    await desk.settle()
    actions = [body["sender_action"] for body in desk.sent if "sender_action" in body]
    assert actions == ["mark_seen", "typing_on"]
    psid = (await desk.contact())["psid"]
    assert all(body["recipient"] == {"id": psid} for body in desk.sent)

    await desk.say("Still there?")
    await desk.advance(25 * HOUR)
    ana = await team.signed_in("ana@example.com")
    await team.form(ana, conversation_id, f"/inbox/{conversation_id}/seen", {})
    await team.form(ana, conversation_id, f"/inbox/{conversation_id}/typing", {})
    await desk.settle()
    assert [body["sender_action"] for body in desk.sent if "sender_action" in body] == actions


async def test_canned_responses_are_managed_by_owners_and_admins(team: Agents) -> None:
    morgan = await team.signed_in("morgan@example.com")
    ana = await team.signed_in("ana@example.com")
    saved = await morgan.submit(
        "/inbox/canned", "/inbox/canned", {"shortcut": "/Hours", "text": "We open at 10."}
    )
    assert saved.status_code == 303
    listing = (await ana.get("/inbox/canned")).text
    assert "<code>/hours</code>" in listing
    assert "We open at 10." in listing
    assert "Remove" not in listing  # an agent uses them, an owner or admin manages them
    refused = await ana.post(
        "/inbox/canned", {"csrf_token": csrf_of(listing), "shortcut": "x", "text": "y"}
    )
    assert refused.status_code == 403
    bad = await morgan.submit(
        "/inbox/canned", "/inbox/canned", {"shortcut": "two words", "text": "y"}
    )
    assert bad.status_code == 400
    assert "Use lowercase letters" in bad.text
    page = (await morgan.get("/inbox/canned")).text
    removal = re.search(r'action="(/inbox/canned/\d+/remove)"', page)
    assert removal
    assert (await ana.post(removal.group(1), {"csrf_token": csrf_of(listing)})).status_code == 403
    assert (await morgan.post(removal.group(1), {"csrf_token": csrf_of(page)})).status_code == 303
    assert "No canned responses yet" in (await morgan.get("/inbox/canned")).text
