"""The outbox and the `send` job against the emulator: the exact Send API bodies, the policy at
enqueue and at send time, one send per message whatever is retried, and each of Meta's answers
ending where a person can see it."""

from __future__ import annotations

import bisect
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import Attachment, Author, QuickReply, Reply
from frontdesk.core.models import FailureCode, MessageStatus
from frontdesk.core.policy import BlockCode
from frontdesk.emulator import PAGE_INBOX_APP_ID, psid_for
from frontdesk.messenger import TokenBroken, classify
from frontdesk.store import outbox
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, jobs
from frontdesk.workers import queue, sending
from frontdesk.workers.loop import Outside, Worker
from tests.flows.harness import APP_ID, CHLOE, HOUR, JOAO, PAGE, Desk, connected

pytestmark = pytest.mark.db


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        await connected_desk.say("Hi, a question about my order")
        yield connected_desk


async def queue_reply(desk: Desk, reply: Reply, person: str = JOAO) -> int:
    conversation_id = await desk.conversation_id(person)
    async with desk.engine.begin() as conn:
        return await sending.queue_reply(
            conn, conversation_id, reply, Author.AGENT, desk.clock.now()
        )


async def message(desk: Desk, message_id: int) -> dict[str, object]:
    [found] = [m for m in await desk.messages() if m["id"] == message_id]
    return found


async def send_jobs(desk: Desk) -> list[tuple[str, float]]:
    async with desk.engine.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.state, jobs.c.run_at).where(jobs.c.kind == "send").order_by(jobs.c.id)
        )
        return [(r.state, r.run_at) for r in rows]


# --- what goes out ---------------------------------------------------------------------------


async def test_the_send_api_bodies_are_exact(desk: Desk) -> None:
    chips = (QuickReply("Small", "SIZE_S"), QuickReply(content_type="user_email"))
    first = await queue_reply(desk, Reply(text="Which size?", quick_replies=chips))
    template = {
        "template_type": "button",
        "text": "Track your parcel",
        "buttons": ({"type": "web_url", "title": "Track", "url": "https://t.example/1042"},),
    }
    second = await queue_reply(desk, Reply(template=template))
    third = await queue_reply(
        desk, Reply(attachment=Attachment("image", url="https://files.example/tee.jpg"))
    )
    await desk.settle()
    recipient = {"id": psid_for(PAGE, JOAO)}
    assert desk.sent == [
        {
            "recipient": recipient,
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Which size?",
                "quick_replies": [
                    {"content_type": "text", "title": "Small", "payload": "SIZE_S"},
                    {"content_type": "user_email"},
                ],
                "metadata": f"fd:{first}",
            },
        },
        {
            "recipient": recipient,
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "Track your parcel",
                        "buttons": [
                            {"type": "web_url", "title": "Track", "url": "https://t.example/1042"}
                        ],
                    },
                },
                "metadata": f"fd:{second}",
            },
        },
        {
            "recipient": recipient,
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "image",
                    "payload": {"url": "https://files.example/tee.jpg"},
                },
                "metadata": f"fd:{third}",
            },
        },
    ]
    await desk.act("read")
    await desk.settle()
    assert await desk.outbound() == [
        ("Which size?", "read"),
        ("Track your parcel", "read"),
        (None, "read"),
    ]


def test_our_metadata_tag_names_the_message() -> None:
    assert sending.message_of_metadata(sending.metadata_for(1042)) == 1042
    for other in (None, "", "fd:", "fd:12a", "fd:-1", "order:12", "fd:" + "9" * 30):
        assert sending.message_of_metadata(other) is None


# --- the policy, at enqueue and at send time -------------------------------------------------


async def test_a_contact_who_never_wrote_is_blocked_and_nothing_is_enqueued(desk: Desk) -> None:
    await desk.set_clock_of_contact(JOAO, None)
    message_id = await queue_reply(desk, Reply(text="Hello from the shop!"))
    found = await message(desk, message_id)
    assert found["status"] == "blocked"
    assert str(found["failure_reason"]).startswith("This customer has never written to the Page")
    assert found["failure_code"] == FailureCode.NEVER_MESSAGED
    assert await send_jobs(desk) == []


async def test_a_window_that_closed_while_queued_blocks_at_send_time(desk: Desk) -> None:
    message_id = await desk.reply("Yes, size M is in stock.", author=Author.BOT)
    assert (await message(desk, message_id))["status"] == "queued"
    await desk.advance(25 * HOUR)  # before any worker ran
    await desk.settle()
    found = await message(desk, message_id)
    assert found["status"] == "blocked"
    assert "only allows replies within 24 hours" in str(found["failure_reason"])
    assert found["failure_code"] == FailureCode.WINDOW_CLOSED
    assert desk.sent == []


async def test_a_human_agent_reply_is_tagged_when_the_window_closed_while_queued(
    desk: Desk,
) -> None:
    await desk.set_human_agent(True)
    message_id = await desk.reply("Sorry for the wait: yes, it is in stock.")
    assert (await message(desk, message_id))["messaging_type"] == "RESPONSE"
    await desk.advance(30 * HOUR)
    await desk.settle()
    assert [(b["messaging_type"], b.get("tag")) for b in desk.sent] == [
        ("MESSAGE_TAG", "HUMAN_AGENT")
    ]
    found = await message(desk, message_id)
    assert (found["status"], found["messaging_type"], found["tag"]) == (
        "delivered",
        "MESSAGE_TAG",
        "HUMAN_AGENT",
    )


async def test_meta_saying_the_window_is_closed_fails_the_message(desk: Desk) -> None:
    await desk.advance(25 * HOUR)
    # Frontdesk believes the customer wrote just now (a lost receipt, a skewed clock); Meta knows.
    await desk.set_clock_of_contact(JOAO, desk.clock.now())
    message_id = await desk.reply("Here is your tracking number.")
    await desk.settle()
    found = await message(desk, message_id)
    assert (found["status"], found["failure_reason"]) == ("failed", sending.WINDOW_CLOSED)
    assert found["failure_code"] == FailureCode.WINDOW_CLOSED
    assert len(desk.sent) == 1


# --- one send per message --------------------------------------------------------------------


async def begin_send(desk: Desk, lease: float = 60) -> Outside[Any]:
    """What a worker does up to the Send API call: claim, then the job's first transaction."""
    async with desk.engine.begin() as conn:
        [job] = await queue.claim(conn, "doomed-worker", desk.clock.now(), lease=lease)
    async with desk.engine.begin() as conn:
        outside = await desk.worker.handlers["send"](conn, job, desk.clock.now())
    assert outside is not None, "a send calls Meta outside the transaction"
    return outside


async def test_meta_is_called_outside_the_database_transaction(desk: Desk) -> None:
    message_id = await desk.reply("Your parcel left this morning.")
    outside = await begin_send(desk)
    assert desk.sent == []  # nothing went out while the transaction was open
    # The mark is committed before Meta is called: a crash after it leaves a trace.
    found = await message(desk, message_id)
    assert (found["status"], found["outgoing"]["attempt_started"]) == ("queued", desk.clock.now())
    answer = await outside.call()
    assert len(desk.sent) == 1
    async with desk.engine.begin() as conn:
        await outside.record(conn, answer, desk.clock.now())
    found = await message(desk, message_id)
    assert found["status"] == "sent"
    assert "attempt_started" not in found["outgoing"] or found["mid"] is not None


async def test_a_send_whose_answer_was_lost_is_not_sent_again(desk: Desk) -> None:
    """kill -9 between Meta's answer and its record: the echo files the send, the retry skips."""
    message_id = await desk.reply("Your parcel left this morning.")
    outside = await begin_send(desk)
    await outside.call()  # Meta accepts; the process dies before recording the answer
    assert len(desk.sent) == 1
    assert (await message(desk, message_id))["status"] == "queued"

    await desk.settle()  # the echo arrives and carries our tag
    found = await message(desk, message_id)
    assert found["status"] == "delivered"
    [on_meta] = await desk.on_meta()
    assert found["mid"] == on_meta["mid"]

    await desk.advance(61)  # the dead worker's lease runs out; another takes the job over
    await desk.settle()
    assert len(desk.sent) == 1
    assert len(await desk.on_meta()) == 1
    assert [state for state, _ in await send_jobs(desk)] == ["done"]
    assert len([m for m in await desk.messages() if m["direction"] == "outbound"]) == 1


async def test_a_send_cut_off_before_meta_answered_fails_without_a_second_try(
    desk: Desk,
) -> None:
    """Died after marking the attempt, before (or during) the call, and no echo ever comes:
    the message fails with the plain reason, nothing is sent twice, and the conversation goes
    on with its next message."""
    first = await desk.reply("One")
    await begin_send(desk, lease=10)  # ... and the worker dies: the call is never made
    second = await desk.reply("Two")

    await desk.advance(11)  # the lease runs out: the job is taken over, finds the mark
    await desk.settle()
    assert desk.sent == []  # waiting for an echo that might still come
    assert (await message(desk, first))["status"] == "queued"

    await desk.advance(sending.ECHO_GRACE)
    await desk.settle()
    found = await message(desk, first)
    assert (found["status"], found["failure_reason"]) == ("failed", sending.OUTCOME_UNKNOWN)
    assert found["failure_code"] == FailureCode.OUTCOME_UNKNOWN
    assert [m["text"] for m in await desk.on_meta()] == ["Two"]
    assert (await message(desk, second))["status"] == "delivered"


async def test_an_echo_after_giving_up_makes_the_message_sent(desk: Desk) -> None:
    message_id = await desk.reply("One")
    outside = await begin_send(desk)
    await outside.call()  # Meta accepts; the answer is lost
    # Give up on it before the echo is filed (as when Frontdesk was down for a while).
    conversation_id = await desk.conversation_id(JOAO)
    async with desk.engine.begin() as conn:
        item = await outbox.oldest_queued(conn, conversation_id)
        assert item is not None
        await outbox.record_failure(
            conn,
            item.id,
            MessageStatus.FAILED,
            sending.OUTCOME_UNKNOWN,
            FailureCode.OUTCOME_UNKNOWN,
        )
    await desk.settle()  # now the echo is filed
    found = await message(desk, message_id)
    assert (found["status"], found["failure_reason"], found["failure_code"]) == (
        "delivered",
        None,
        None,
    )
    assert len(desk.sent) == 1


async def test_extra_send_jobs_never_send_twice(desk: Desk) -> None:
    await desk.reply("One")
    await desk.reply("Two")
    async with desk.engine.begin() as conn:
        await sending.resume(conn, desk.channel_id, desk.clock.now())  # more jobs than messages
        await sending.resume(conn, desk.channel_id, desk.clock.now())
    await desk.settle()
    assert [m["text"] for m in await desk.on_meta()] == ["One", "Two"]
    assert len(desk.sent) == 2


# --- Meta's answers --------------------------------------------------------------------------


async def test_a_bad_request_fails_without_a_retry(desk: Desk) -> None:
    await desk.fault(
        {
            "kind": "error",
            "endpoint": "messages",
            "error": {"code": 100, "message": "(#100) Invalid parameter"},
            "count": 1,
        }
    )
    message_id = await desk.reply("Hello")
    await desk.settle()
    await desk.advance(HOUR)
    await desk.settle()
    found = await message(desk, message_id)
    assert (found["status"], found["failure_reason"]) == (
        "failed",
        "Not sent: Messenger does not accept this message: (100/-) (#100) Invalid parameter",
    )
    assert found["failure_code"] == FailureCode.BAD_REQUEST
    assert len(desk.sent) == 1


async def test_a_transient_error_retries_the_conversation_in_order(desk: Desk) -> None:
    await desk.say("me too", person=CHLOE)
    await desk.fault(
        {
            "kind": "error",
            "endpoint": "messages",
            "error": {"code": 2, "status": 503, "is_transient": True},
            "count": 1,
        }
    )
    await desk.reply("One")
    await desk.reply("Two")
    await desk.settle()
    assert await desk.on_meta() == []
    await desk.reply("Hi Chloé", person=CHLOE)  # another conversation is not held
    await desk.settle()
    assert [m["text"] for m in await desk.on_meta(CHLOE)] == ["Hi Chloé"]
    for _ in range(4):
        await desk.advance(30)
        await desk.settle()
    assert [m["text"] for m in await desk.on_meta()] == ["One", "Two"]
    assert [b["message"]["text"] for b in desk.sent] == ["One", "Hi Chloé", "One", "Two"]


async def test_a_throttled_page_holds_every_conversation(desk: Desk) -> None:
    await desk.say("me too", person=CHLOE)
    # One job per batch: a batch's sends are all called at once, before any answer is known.
    one_at_a_time = Worker(desk.engine, desk.worker.handlers, batch=1, clock=desk.clock.now)
    desk.worker = one_at_a_time
    await desk.fault({"kind": "error", "endpoint": "messages", "error": {"code": 613}, "count": 1})
    await desk.reply("Hello João")
    await desk.reply("Hello Chloé", person=CHLOE)
    await desk.settle()
    assert len(desk.sent) == 1  # João's throttled send; Chloé's waits for the Page's hold
    held = [run_at for state, run_at in await send_jobs(desk) if state == "ready"]
    assert len(held) == 2  # Chloé's job, and João's successor
    assert min(held) > desk.clock.now()

    await desk.reply("And another thing", person=CHLOE)  # a new send waits for the hold too
    await desk.settle()
    assert len(desk.sent) == 1

    await desk.advance(5)
    await desk.settle()
    assert [m["text"] for m in await desk.on_meta()] == ["Hello João"]
    assert [m["text"] for m in await desk.on_meta(CHLOE)] == ["Hello Chloé", "And another thing"]
    assert len(desk.sent) == 4


async def test_try_later_too_often_fails_the_message(desk: Desk) -> None:
    await desk.fault({"kind": "error", "endpoint": "messages", "error": {"code": 613}, "count": 50})
    message_id = await desk.reply("Hello")
    for _ in range(sending.MAX_TRIES + 2):
        await desk.settle()
        await desk.advance(1000)
    found = await message(desk, message_id)
    assert found["status"] == "failed"
    assert str(found["failure_reason"]).startswith(
        'Not sent: Messenger kept answering "try again later" (10 tries). Last answer: (613/-)'
    )
    assert found["failure_code"] == FailureCode.TRY_LATER
    assert len(desk.sent) == sending.MAX_TRIES


async def test_a_restricted_page_fails_the_message_and_flags_the_channel(desk: Desk) -> None:
    await desk.meta.patch(f"/_emulator/pages/{PAGE}", json={"restricted": True})
    first = await desk.reply("Hello")
    await desk.settle()
    found = await message(desk, first)
    assert (found["status"], found["failure_reason"]) == (
        "failed",
        "Not sent: " + sending.RESTRICTED_PAGE,
    )
    assert found["failure_code"] == FailureCode.PAGE_RESTRICTED
    channel = await desk.channel()
    assert (channel["status"], channel["status_reason"]) == ("restricted", sending.RESTRICTED_PAGE)

    await desk.meta.patch(f"/_emulator/pages/{PAGE}", json={"restricted": False})
    second = await desk.reply("Hello again")
    await desk.settle()
    assert (await message(desk, second))["status"] == "delivered"
    assert (await desk.channel())["status"] == "active"


async def test_development_mode_fails_with_the_explanation(desk: Desk) -> None:
    await desk.meta.patch(f"/_emulator/apps/{APP_ID}", json={"mode": "development"})
    message_id = await desk.reply("Hello")
    await desk.settle()
    found = await message(desk, message_id)
    assert found["status"] == "failed"
    assert found["failure_reason"] == (
        "Not sent: the Meta app is in development mode or lacks Advanced Access for "
        "pages_messaging, so it may only message people with a role on the app (200/2018028)."
    )
    assert found["failure_code"] == FailureCode.DEV_MODE
    assert (await desk.channel())["status"] == "active"


async def test_a_thread_another_app_controls_fails_the_message(desk: Desk) -> None:
    await desk.meta.patch(f"/_emulator/pages/{PAGE}", json={"default_app_id": PAGE_INBOX_APP_ID})
    message_id = await desk.reply("Hello")
    await desk.settle()
    found = await message(desk, message_id)
    assert found["status"] == "failed"
    assert "another app, or a person in Meta's Page Inbox, controls this conversation" in str(
        found["failure_reason"]
    )
    assert found["failure_code"] == FailureCode.THREAD_ELSEWHERE


async def test_a_customer_who_blocked_the_page_fails_the_message_with_its_code(
    desk: Desk,
) -> None:
    await desk.act("block")
    message_id = await desk.reply("Hello")
    await desk.settle()
    found = await message(desk, message_id)
    assert (found["status"], found["failure_code"]) == ("failed", FailureCode.USER_UNREACHABLE)
    assert str(found["failure_reason"]).startswith("Not delivered: ")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"code": 200, "error_subcode": 2018028}, FailureCode.DEV_MODE),
        ({"code": 10, "error_subcode": 1893063}, FailureCode.PAGE_RESTRICTED),
        ({"code": 10, "error_subcode": 2018300}, FailureCode.THREAD_ELSEWHERE),
        ({"code": 10}, FailureCode.PERMISSION),
        ({"code": 190, "error_subcode": 460}, FailureCode.TOKEN_BROKEN),
        ({"code": 551}, FailureCode.USER_UNREACHABLE),
        ({"code": 10, "error_subcode": 2018278}, FailureCode.WINDOW_CLOSED),
        ({"code": 100}, FailureCode.BAD_REQUEST),
        ({"code": 613}, FailureCode.TRY_LATER),
    ],
)
def test_each_kind_of_graph_error_has_its_failure_code(
    error: dict[str, int], code: FailureCode
) -> None:
    """By code and subcode, through the typed tree: the words Meta prints play no part."""
    refused = classify(400, {"error": {**error, "message": "Bonjour, ceci change sans prévenir"}})
    assert sending.failure_code(refused) is code


def test_every_policy_block_has_a_failure_code() -> None:
    assert {FailureCode(code.value) for code in BlockCode} <= set(FailureCode)


# --- the Page token --------------------------------------------------------------------------


async def test_no_token_or_an_unreadable_one_pauses_the_page(desk: Desk) -> None:
    async with desk.engine.begin() as conn:
        await conn.execute(update(channels).values(page_token=None))
    message_id = await desk.reply("Hello")
    await desk.settle()
    channel = await desk.channel()
    assert (channel["status"], channel["status_reason"]) == (
        "reconnect_needed",
        "No Page token is stored for this Page. Reconnect the Page.",
    )
    assert (await message(desk, message_id))["status"] == "queued"

    stranger = Secrets([Fernet.generate_key().decode()])
    async with desk.engine.begin() as conn:
        await sending.reconnect(conn, stranger, desk.channel_id, "EAAB-elsewhere", desk.clock.now())
    await desk.settle()
    channel = await desk.channel()
    assert channel["status"] == "reconnect_needed"
    assert "encrypted with a secret key that is no longer configured" in channel["status_reason"]
    assert desk.sent == []

    token = await desk.new_page_token()
    async with desk.engine.begin() as conn:
        await sending.reconnect(conn, desk.secrets, desk.channel_id, token, desk.clock.now())
    await desk.settle()
    assert (await message(desk, message_id))["status"] == "delivered"


@pytest.mark.parametrize(
    ("subcode", "why"),
    [
        (460, "the password of the person who connected the Page was changed (190/460)"),
        (463, "it expired (190/463)"),
        (492, "the person who connected the Page no longer has a role on it (190/492)"),
        (None, "Meta no longer accepts it (190)"),
    ],
)
def test_token_problems_read_plainly(subcode: int | None, why: str) -> None:
    error = {"message": "Error validating access token", "code": 190}
    if subcode is not None:
        error["error_subcode"] = subcode
    err = classify(400, {"error": error})
    assert isinstance(err, TokenBroken)
    assert (
        sending.token_problem(err) == f"The Page token stopped working: {why}. Reconnect the Page."
    )


# --- pacing ----------------------------------------------------------------------------------


def test_the_page_limiter_lets_per_second_sends_through_in_any_second() -> None:
    limiter = sending.PageLimiter(per_second=4)
    assert [limiter.wait("p", 100.0) for _ in range(3)] == [0.0] * 3
    assert limiter.wait("p", 100.4) == 0.0
    assert limiter.wait("p", 100.5) == pytest.approx(0.5)  # until the first leaves the second
    assert limiter.wait("other", 100.5) == 0.0  # each Page has its own
    assert limiter.wait("p", 101.0) == 0.0
    assert limiter.wait("p", 101.0) == 0.0
    assert limiter.wait("p", 101.0) == 0.0
    assert limiter.wait("p", 101.0) == pytest.approx(0.4)


def test_a_clock_stepped_back_does_not_stall_the_page() -> None:
    limiter = sending.PageLimiter(per_second=2)
    assert [limiter.wait("p", 100.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.wait("p", 40.0) == 0.0  # a minute back: not a minute's wait


def test_no_second_ever_holds_more_than_per_second_sends() -> None:
    # However Meta cuts its seconds: a bucket of 4 let 8 through between 100.0 and 101.0.
    limiter = sending.PageLimiter(per_second=4)
    rng = random.Random(7)
    now, went = 100.0, []
    for _ in range(2000):
        now += rng.choice([0.0, 0.0, 0.01, 0.05, 0.3])
        if limiter.wait("p", now) == 0.0:
            went.append(now)
    assert len(went) > 400
    for first, at in enumerate(went):
        within = bisect.bisect_left(went, at + 1.0) - first
        assert within <= 4, f"{within} sends in the second from {at}"


def test_a_hold_stops_the_page_until_it_ends() -> None:
    limiter = sending.PageLimiter(per_second=50)
    limiter.hold("p", 130.0)
    limiter.hold("p", 120.0)  # an earlier end never shortens a hold
    assert limiter.wait("p", 100.0) == pytest.approx(30.0)
    assert limiter.wait("q", 100.0) == 0.0
    assert limiter.wait("p", 130.0) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        sending.PageLimiter(per_second=0)


async def test_a_reply_on_a_removed_channel_fails_without_asking_for_a_reconnect(
    desk: Desk,
) -> None:
    async with desk.engine.begin() as conn:
        await conn.execute(
            update(channels)
            .where(channels.c.id == desk.channel_id)
            .values(status="removed", page_token=None)
        )
    message_id = await desk.reply("Are you still there?")
    await desk.settle()
    found = await message(desk, message_id)
    assert (found["status"], found["failure_reason"]) == ("failed", sending.CHANNEL_REMOVED)
    assert found["failure_code"] == FailureCode.CHANNEL_REMOVED
    assert desk.sent == []
    async with desk.engine.connect() as conn:
        status = (
            await conn.execute(select(channels.c.status).where(channels.c.id == desk.channel_id))
        ).scalar_one()
    assert status == "removed"


@pytest.mark.parametrize(
    ("key", "channel"),
    [
        ("send:12:34", 12),
        (None, None),
        ("send:", None),
        ("send:x1:34", None),
        ("send:١٢:34", None),  # digits, but not ours
        ("p:12:34", None),
        ("send:-1:34", None),
    ],
)
def test_a_send_jobs_key_names_its_channel(key: str | None, channel: int | None) -> None:
    # What the send job needs no query for; anything else is looked up, as before.
    assert sending._channel_of(key) == channel  # noqa: SLF001
    if channel is not None:
        assert sending._channel_of(sending.send_key(channel, 34)) == channel  # noqa: SLF001


async def test_a_send_job_not_keyed_by_its_channel_is_dead_with_the_reason(desk: Desk) -> None:
    await desk.say("Hello?")
    conversation_id = await desk.conversation_id()
    async with desk.engine.begin() as conn:
        await queue.enqueue(
            conn,
            sending.SEND,
            {"conversation_id": conversation_id},
            key="odd",
            now=desk.clock.now(),
        )
    await desk.worker.run_until_idle()
    async with desk.engine.connect() as conn:
        row = (
            await conn.execute(select(jobs.c.state, jobs.c.last_error).where(jobs.c.key == "odd"))
        ).one()
    assert row.state == "dead"
    assert "keyed by its channel, not 'odd'" in row.last_error
