"""Conversation stories end to end: Frontdesk (the real app, its worker, its database) and the
emulator playing Meta, in-process. A reply goes out and comes back delivered and read; a password
change pauses the Page and a new token resumes it; a blocked person, a closed window and a
rate-limit burst each end as specified; a person in Meta's Page Inbox takes the conversation over
and the handler goes silent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import (
    Author,
    HandoffRequest,
    HandoffStage,
    InboundEvent,
    LinkKind,
    Outcome,
    Reply,
    Turn,
)
from frontdesk.emulator import PAGE_INBOX_APP_ID, psid_for
from frontdesk.handlers import InboxHandler
from frontdesk.store.tables import jobs
from frontdesk.workers import queue, sending

from .harness import ADMIN, APP_ID, CHLOE, HOUR, JOAO, NOW, PAGE, Desk, connected

pytestmark = pytest.mark.db


class Parrot:
    """A handler that answers every turn, so that its silence can be seen. (The rules, AI and
    endpoint links come in their own issues; this stands for any of them.)"""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def handle(self, turn: Turn) -> Outcome:
        self.turns.append(turn)
        return Outcome(replies=(Reply(text=f"You said: {turn.event.text}"),))


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        yield connected_desk


@pytest.fixture
def parrot() -> Parrot:
    return Parrot()


@pytest.fixture
async def bot_desk(
    database_url: str, engine: AsyncEngine, tmp_path: Path, parrot: Parrot
) -> AsyncIterator[Desk]:
    """The Page linked to a handler that answers (see Parrot)."""
    handlers = {LinkKind.RULES: parrot, LinkKind.INBOX: InboxHandler()}
    async with connected(
        database_url, engine, tmp_path, handlers=handlers, link=LinkKind.RULES
    ) as connected_desk:
        yield connected_desk


async def test_a_reply_goes_out_and_comes_back_delivered_and_read(desk: Desk) -> None:
    # João's phone is off: receipts come when we say so.
    await desk.meta.patch("/_emulator/settings", json={"meta": {"auto_delivery": False}})
    await desk.say("Olá! Do you ship to Lisbon?")
    message_id = await desk.reply("We do: 2 days, free over 50 €.")
    assert await desk.outbound() == [("We do: 2 days, free over 50 €.", "queued")]

    await desk.settle()  # sent, and its echo came back
    assert await desk.outbound() == [("We do: 2 days, free over 50 €.", "sent")]
    assert desk.sent == [
        {
            "recipient": {"id": psid_for(PAGE, JOAO)},
            "messaging_type": "RESPONSE",
            "message": {"text": "We do: 2 days, free over 50 €.", "metadata": f"fd:{message_id}"},
        }
    ]

    await desk.act("delivery")
    await desk.settle()
    assert await desk.outbound() == [("We do: 2 days, free over 50 €.", "delivered")]

    await desk.act("read")
    await desk.settle()
    assert await desk.outbound() == [("We do: 2 days, free over 50 €.", "read")]
    [on_meta] = await desk.on_meta()
    [ours] = [m for m in await desk.messages() if m["direction"] == "outbound"]
    assert ours["mid"] == on_meta["mid"]
    assert ours["meta_timestamp"] == on_meta["timestamp"]
    assert (ours["sent_at"], ours["delivered_at"], ours["read_at"]) == (NOW, NOW, NOW)


async def test_our_echo_is_not_stored_twice(desk: Desk) -> None:
    await desk.meta.patch("/_emulator/settings", json={"webhooks": {"duplicate_rate": 1.0}})
    await desk.say("hello?")
    await desk.reply("Hello João!")
    await desk.settle()
    await desk.advance(1)  # Meta stamps each message; a frozen clock would give both one time
    await desk.reply("How can we help?")
    await desk.settle()
    assert await desk.outbound() == [
        ("Hello João!", "delivered"),
        ("How can we help?", "delivered"),
    ]
    assert [m["text"] for m in await desk.on_meta()] == ["Hello João!", "How can we help?"]
    texts = [m["text"] for m in await desk.messages()]
    assert texts == ["hello?", "Hello João!", "How can we help?"]


async def test_a_password_change_pauses_sends_and_a_new_token_resumes_them(desk: Desk) -> None:
    await desk.say("Is my order on its way?")
    await desk.say("Order 1042", person=CHLOE)
    await desk.fault({"person_id": ADMIN}, kind="password-change")
    await desk.reply("Let me check.")
    await desk.reply("It left this morning.")
    await desk.reply("Checking 1042.", person=CHLOE)
    await desk.settle()

    channel = await desk.channel()
    assert (channel["status"], channel["status_reason"]) == (
        "reconnect_needed",
        "The Page token stopped working: the password of the person who connected the Page "
        "was changed (190/460). Reconnect the Page.",
    )
    assert await desk.outbound() == [
        ("Let me check.", "queued"),
        ("It left this morning.", "queued"),
    ]
    assert await desk.outbound(CHLOE) == [("Checking 1042.", "queued")]
    # One refused call per send already in flight (two conversations may run in parallel on
    # PostgreSQL); once the pause is stored, the Page stops calling Meta.
    refused = len(desk.sent)
    assert refused in (1, 2)
    assert await desk.on_meta() == []

    await desk.reply("Sorry for the wait!")  # queued while paused: kept, not tried
    await desk.settle()
    assert len(desk.sent) == refused
    assert await desk.outbound() == [
        ("Let me check.", "queued"),
        ("It left this morning.", "queued"),
        ("Sorry for the wait!", "queued"),
    ]

    token = await desk.new_page_token()
    async with desk.engine.begin() as conn:
        restarted = await sending.reconnect(
            conn, desk.secrets, desk.channel_id, token, desk.clock.now()
        )
    assert restarted == 2  # João's conversation and Chloé's
    await desk.settle()

    channel = await desk.channel()
    assert (channel["status"], channel["status_reason"]) == ("active", None)
    expected = ["Let me check.", "It left this morning.", "Sorry for the wait!"]
    assert [m["text"] for m in await desk.on_meta()] == expected  # in order, each once
    assert [m["text"] for m in await desk.on_meta(CHLOE)] == ["Checking 1042."]
    await desk.act("read")
    await desk.settle()
    assert await desk.outbound() == [(text, "read") for text in expected]
    assert len(desk.sent) == refused + 4
    async with desk.engine.connect() as conn:
        dead = await conn.execute(select(func.count()).where(jobs.c.state == "dead"))
        assert dead.scalar_one() == 0


async def test_a_blocked_person_ends_failed_and_unreachable(desk: Desk) -> None:
    await desk.say("Cancel my order please")
    await desk.act("block")
    await desk.reply("Done, it is cancelled.")
    await desk.settle()

    [message] = [m for m in await desk.messages() if m["direction"] == "outbound"]
    reason = (
        "this person isn't available right now (they may have blocked the Page or deactivated "
        "their account) (551/1545041)."
    )
    assert (message["status"], message["failure_reason"]) == ("failed", f"Not delivered: {reason}")
    assert (await desk.contact())["unreachable_reason"] == reason
    assert len(desk.sent) == 1  # a person who blocked the Page is not retried

    await desk.act("unblock")
    await desk.say("Sorry, wrong button!")  # writing again makes them reachable
    assert (await desk.contact())["unreachable_reason"] is None


async def test_a_closed_window_blocks_before_sending_and_an_agent_has_7_days(desk: Desk) -> None:
    await desk.say("Do you have size M?")
    await desk.advance(25 * HOUR)

    await desk.reply("Yes we do!", author=Author.BOT)
    await desk.reply("Sorry for the late answer: yes, M is in stock.")  # an agent, no permission
    await desk.settle()
    bot, agent = [m for m in await desk.messages() if m["direction"] == "outbound"]
    assert bot["status"] == agent["status"] == "blocked"
    assert bot["failure_reason"] == (
        "The customer's last message was 25 hours ago; Messenger only allows replies within "
        "24 hours. A human agent can still reply for 7 days if the Page has the Human Agent "
        "permission."
    )
    assert "does not have the Human Agent permission" in agent["failure_reason"]
    assert desk.sent == []  # blocked before sending: Meta never saw them

    await desk.set_human_agent(True)
    message_id = await desk.reply("Sorry for the late answer: yes, M is in stock.")
    await desk.settle()
    assert desk.sent == [
        {
            "recipient": {"id": psid_for(PAGE, JOAO)},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": {
                "text": "Sorry for the late answer: yes, M is in stock.",
                "metadata": f"fd:{message_id}",
            },
        }
    ]
    *_, sent = [m for m in await desk.messages() if m["direction"] == "outbound"]
    assert (sent["status"], sent["messaging_type"], sent["tag"]) == (
        "delivered",
        "MESSAGE_TAG",
        "HUMAN_AGENT",
    )

    await desk.advance(7 * 24 * HOUR)
    await desk.reply("Still there?")
    await desk.settle()
    *_, late = [m for m in await desk.messages() if m["direction"] == "outbound"]
    assert late["status"] == "blocked"
    assert "even a human agent can only reply within 7 days" in late["failure_reason"]
    assert len(desk.sent) == 1


async def test_a_rate_limit_burst_ends_sent_after_retries(desk: Desk) -> None:
    await desk.say("Hi!")
    await desk.fault({"kind": "error", "endpoint": "messages", "error": {"code": 613}, "count": 3})
    await desk.reply("Hello!")
    await desk.reply("What can we do for you?")
    for _ in range(6):
        await desk.settle()
        await desk.advance(60)
    await desk.act("read")
    await desk.settle()
    assert await desk.outbound() == [("Hello!", "read"), ("What can we do for you?", "read")]
    assert [m["text"] for m in await desk.on_meta()] == ["Hello!", "What can we do for you?"]
    assert [body["message"]["text"] for body in desk.sent] == ["Hello!"] * 4 + [
        "What can we do for you?"
    ]


async def test_a_page_inbox_reply_hands_the_conversation_to_a_human(
    bot_desk: Desk, parrot: Parrot
) -> None:
    desk = bot_desk
    await desk.say("hello")
    await desk.settle()
    assert [m["text"] for m in await desk.on_meta()] == ["You said: hello"]

    await desk.advance(1)
    await desk.act("page_inbox_reply", text="Hi, Morgan here, I'll take it from here.")
    await desk.settle()
    state = await desk.handoff()
    assert state.stage is HandoffStage.HUMAN
    assert state.reason == "Someone replied from Meta's Page Inbox"
    *_, human = await desk.messages()
    assert (human["author"], human["text"], human["status"]) == (
        "page_inbox",
        "Hi, Morgan here, I'll take it from here.",
        "delivered",
    )
    async with desk.engine.connect() as conn:
        from frontdesk.store.tables import conversations

        owner = (await conn.execute(select(conversations.c.owner))).scalar_one()
    assert owner == "human"

    await desk.say("Thanks Morgan!")
    await desk.settle()
    assert [turn.event.text for turn in parrot.turns] == ["hello"]  # silent while a human has it
    texts = [m["text"] for m in await desk.on_meta()]
    assert texts == ["You said: hello", "Hi, Morgan here, I'll take it from here."]
    assert [m["app_id"] for m in await desk.on_meta()] == [APP_ID, PAGE_INBOX_APP_ID]


async def test_one_webhook_with_several_events_of_a_person_files_them_in_one_job_in_order(
    bot_desk: Desk, parrot: Parrot
) -> None:
    desk = bot_desk
    await desk.say("hello")
    # Meta batches a busy Page's events: the three below come in one POST, so the intake
    # gives them one job, which must still take them in the order they happened.
    settings = {"webhooks": {"batch_size": 10}}
    assert (await desk.meta.patch("/_emulator/settings", json=settings)).status_code == 200
    await desk.act("message", text="first")
    await desk.act("page_inbox_reply", text="Morgan here, I'll take it from here.")
    await desk.act("message", text="second")
    await desk.emulator.meta.drain()
    async with desk.engine.connect() as conn:
        queued = (await conn.execute(select(jobs.c.payload).where(jobs.c.state == "ready"))).all()
    assert [[item["event"]["message"].get("text") for item in p["events"]] for (p,) in queued] == [
        ["first", "Morgan here, I'll take it from here.", "second"]
    ]
    statements: list[str] = []

    def heard(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(desk.engine.sync_engine, "before_cursor_execute", heard)
    try:
        await desk.settle()
    finally:
        event.remove(desk.engine.sync_engine, "before_cursor_execute", heard)
    assert statements  # the listener heard the job's statements...
    # ...and none was a savepoint: those are for a job that failed before (`_apart`).
    assert not [s for s in statements if s.upper().startswith("SAVEPOINT")]

    # "first" was answered before the Page Inbox reply; "second" came while Morgan had it.
    assert [turn.event.text for turn in parrot.turns] == ["hello", "first"]
    assert (await desk.handoff()).stage is HandoffStage.HUMAN
    filed = [(m["author"], m["text"]) for m in await desk.messages()]
    assert filed[:3] == [("contact", "hello"), ("bot", "You said: hello"), ("contact", "first")]
    assert filed[3:] == [
        ("bot", "You said: first"),
        ("page_inbox", "Morgan here, I'll take it from here."),
        ("contact", "second"),
    ]


@pytest.mark.parametrize(
    # The AI link gets all four earlier lines (it may have HISTORY); the rule bot one.
    ("link", "lines"),
    [(LinkKind.RULES, 1), (LinkKind.AI, 4)],
    ids=["rules", "ai"],
)
async def test_a_turn_gets_as_much_history_as_its_link_uses(
    database_url: str,
    engine: AsyncEngine,
    tmp_path: Path,
    parrot: Parrot,
    link: LinkKind,
    lines: int,
) -> None:
    handlers = {link: parrot, LinkKind.INBOX: InboxHandler()}
    async with connected(database_url, engine, tmp_path, handlers=handlers, link=link) as desk:
        for text in ("one", "two", "three"):
            await desk.say(text)
    said = [
        (Author.CONTACT, "one"),
        (link.author, "You said: one"),
        (Author.CONTACT, "two"),
        (link.author, "You said: two"),
    ]
    assert [tuple(line) for line in parrot.turns[-1].history] == said[-lines:]
    assert parrot.turns[0].history == ()  # the first message: nothing before it


class Fragile(Parrot):
    """A handler that crashes on "crash" (no answer this time) and parrots anything else."""

    async def handle(self, turn: Turn) -> Outcome:
        if turn.event.text == "crash":
            raise RuntimeError("the handler crashed")
        return await super().handle(turn)


@pytest.mark.parametrize(
    ("texts", "status"), [(("crash", "fine"), "active"), (("fine", "crash"), "bot_failing")]
)
async def test_the_last_turn_of_a_job_of_several_messages_decides_the_channels_flag(
    database_url: str, engine: AsyncEngine, tmp_path: Path, texts: tuple[str, str], status: str
) -> None:
    handlers = {LinkKind.RULES: Fragile(), LinkKind.INBOX: InboxHandler()}
    async with connected(
        database_url, engine, tmp_path, handlers=handlers, link=LinkKind.RULES
    ) as desk:
        await desk.say("hello")
        settings = {"webhooks": {"batch_size": 10}}
        assert (await desk.meta.patch("/_emulator/settings", json=settings)).status_code == 200
        for text in texts:  # one POST, one job: the second turn sees what the first did
            await desk.act("message", text=text)
        await desk.settle()
        assert (await desk.channel())["status"] == status


REFUSE_BOOM = {
    "sqlite": [
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.text = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'the database refuses boom'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN IF NEW.text = 'boom' THEN "
        "RAISE EXCEPTION 'the database refuses boom'; END IF; RETURN NEW; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages FOR EACH ROW "
        "EXECUTE FUNCTION refuse_boom()",
    ],
}
"""A database that refuses to file one message, whatever the code does about it."""


async def test_an_event_that_keeps_failing_is_split_off_and_its_neighbours_are_filed(
    bot_desk: Desk, parrot: Parrot
) -> None:
    desk = bot_desk
    await desk.say("hello")
    async with desk.engine.begin() as conn:
        for statement in REFUSE_BOOM[desk.engine.dialect.name]:
            await conn.exec_driver_sql(statement)
    # Three messages of one person in one POST, so in one job: the middle one never files.
    settings = {"webhooks": {"batch_size": 10}}
    assert (await desk.meta.patch("/_emulator/settings", json=settings)).status_code == 200
    for text in ("first", "boom", "second"):
        await desk.act("message", text=text)
    await desk.settle()
    # The job failed as a whole (in its batch, then alone) and waits for its retry, which runs
    # each event on a savepoint.
    assert [m["text"] for m in await desk.messages()] == ["hello", "You said: hello"]
    await desk.advance(2 * queue.BASE_DELAY)
    await desk.settle()

    # The handler saw "first" on every run; each run before the last was rolled back.
    assert [turn.event.text for turn in parrot.turns] == ["hello", *["first"] * 3, "second"]
    filed = [m["text"] for m in await desk.messages()]
    answers = ["You said: hello", "You said: first", "You said: second"]
    assert filed == ["hello", answers[0], "first", answers[1], "second", answers[2]]
    assert [m["text"] for m in await desk.on_meta()] == answers  # each sent once
    async with desk.engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.state, jobs.c.payload, jobs.c.last_error))).all()
    assert all(state in ("done", "dead") for state, _, _ in rows)
    [(payload, error)] = [(payload, error) for state, payload, error in rows if state == "dead"]
    [kept] = payload["events"]
    assert kept["event"]["message"]["text"] == "boom"
    assert isinstance(kept["body_id"], int)  # still names the body it came in
    assert "the database refuses boom" in error
    assert "boom" not in [m["text"] for m in await desk.messages()]


async def test_typing_human_asks_for_a_person_and_silences_the_handler(
    bot_desk: Desk, parrot: Parrot
) -> None:
    desk = bot_desk
    await desk.say("Hi")
    await desk.say("HUMAN please!")
    await desk.say("anyone?")
    state = await desk.handoff()
    assert state.stage is HandoffStage.HUMAN_REQUESTED
    assert state.reason == 'The customer asked for a person: "HUMAN please!"'
    assert [turn.event for turn in parrot.turns] == [InboundEvent("message", text="Hi")]
    assert [m["text"] for m in await desk.on_meta()] == ["You said: Hi"]
    texts = [m["text"] for m in await desk.messages()]
    assert texts == ["Hi", "You said: Hi", "HUMAN please!", "anyone?"]  # all stored


async def test_a_human_button_asks_for_a_person(bot_desk: Desk, parrot: Parrot) -> None:
    desk = bot_desk
    await desk.act("postback", title="Talk to a person", payload="HUMAN")
    await desk.settle()
    state = await desk.handoff()
    assert state.stage is HandoffStage.HUMAN_REQUESTED
    assert state.reason == 'The customer asked for a person: "Talk to a person"'
    assert parrot.turns == []


async def test_the_inbox_link_stores_and_answers_nothing(desk: Desk) -> None:
    await desk.say("Anyone there?")
    await desk.say("human")
    assert [(m["author"], m["text"]) for m in await desk.messages()] == [
        ("contact", "Anyone there?"),
        ("contact", "human"),
    ]
    assert desk.sent == []
    assert (await desk.handoff()).stage is HandoffStage.HUMAN_REQUESTED


async def test_standby_events_never_reach_the_handler(bot_desk: Desk, parrot: Parrot) -> None:
    desk = bot_desk
    # The Page Inbox becomes the default app: an idle thread is its, and we hear standby copies.
    response = await desk.meta.patch(
        f"/_emulator/pages/{PAGE}", json={"default_app_id": PAGE_INBOX_APP_ID}
    )
    assert response.status_code == 200, response.text
    await desk.say("hello?")
    await desk.settle()
    assert parrot.turns == []
    assert desk.sent == []


class Concierge:
    """Answers the first turn, then asks for a person; fails on the word "crash"."""

    def __init__(self) -> None:
        self.turns: list[str | None] = []

    async def handle(self, turn: Turn) -> Outcome:
        self.turns.append(turn.event.text)
        if turn.event.text == "crash":
            raise RuntimeError("the rules engine tripped")
        if turn.event.text == "refund":
            return Outcome(
                replies=(Reply(text="Let me get a colleague."),),
                handoff=HandoffRequest("Refund request", note="order 1042"),
            )
        return Outcome(replies=(Reply(text="How can I help?"),))


async def test_a_handler_replies_then_hands_off(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    concierge = Concierge()
    async with connected(
        database_url, engine, tmp_path, handlers={LinkKind.AI: concierge}, link=LinkKind.AI
    ) as desk:
        await desk.say("hi")
        await desk.say("crash")  # no answer this time; nothing lost, the job is done
        await desk.say("refund")
        await desk.say("hello?")
        assert concierge.turns == ["hi", "crash", "refund"]
        state = await desk.handoff()
        assert (state.stage, state.reason) == (HandoffStage.HUMAN_REQUESTED, "Refund request")
        assert [m["text"] for m in await desk.on_meta()] == [
            "How can I help?",
            "Let me get a colleague.",
        ]
        assert [(m["author"], m["text"]) for m in await desk.messages()] == [
            ("contact", "hi"),
            ("ai", "How can I help?"),
            ("contact", "crash"),
            ("contact", "refund"),
            ("ai", "Let me get a colleague."),
            ("contact", "hello?"),
        ]
        async with desk.engine.connect() as conn:
            states = (await conn.execute(select(jobs.c.state).distinct())).scalars().all()
        assert states == ["done"]
