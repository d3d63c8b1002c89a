"""Handing conversations to people, end to end, for every link kind that exists (`inbox`, and
`rules` with the shop assistant): each trigger (the channel's words, a "Talk to a person"
button, a handler's request, a reply from Meta's Page Inbox) moves the conversation to people
and silences the handler; the channel's settings say what the customer is told (in and out of
business hours) and what happens when nobody takes it in time, or a person leaves it quiet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import HandoffStage, LinkKind
from frontdesk.store import handoff_settings
from frontdesk.store.handoff_settings import ChannelHandoff
from frontdesk.store.tables import conversations, notes
from frontdesk.web.botfile import load
from frontdesk.workers import botprofile

from .harness import HOUR, Desk, connected

pytestmark = pytest.mark.db

SHOP = (resources.files("frontdesk.handlers") / "examples" / "shop-assistant.yaml").read_text()
LINKS = [LinkKind.INBOX, LinkKind.RULES]
MINUTE = 60.0


@pytest.fixture(params=LINKS, ids=lambda link: link.value)
async def desk(
    request: pytest.FixtureRequest, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path, link=request.param) as made:
        if request.param is LinkKind.RULES:
            found = load(SHOP, "shop-assistant.yaml")
            async with made.engine.begin() as conn:
                await botprofile.save(
                    conn, made.channel_id, fmt="yaml", source=SHOP, definition=found.data,
                    now=made.clock.now(),
                )  # fmt: skip
        yield made


async def configure(desk: Desk, **values: object) -> None:
    async with desk.engine.begin() as conn:
        current = await handoff_settings.of_channel(conn, desk.channel_id)
        settings = ChannelHandoff(current.channel_id, current.page_id, current.link, **values)  # type: ignore[arg-type]
        await handoff_settings.save(conn, settings, desk.clock.now())


def texts(desk: Desk, since: int = 0) -> list[str]:
    return [body["message"].get("text", "") for body in desk.sent[since:] if "message" in body]


async def lines(desk: Desk) -> list[str]:
    """The conversation's system lines, in order."""
    async with desk.engine.connect() as conn:
        found = await conn.execute(
            select(notes.c.text).where(notes.c.kind == "system").order_by(notes.c.id)
        )
        return [str(row.text) for row in found]


async def status(desk: Desk) -> str:
    async with desk.engine.connect() as conn:
        return str((await conn.execute(select(conversations.c.status))).scalar_one())


async def link_of(desk: Desk) -> LinkKind:
    return LinkKind((await desk.channel())["link"])


async def test_the_words_ask_for_a_person_and_the_handler_goes_silent(desk: Desk) -> None:
    await desk.say("Hi")
    before = len(desk.sent)
    await desk.say("HUMAN, please!")
    state = await desk.handoff()
    assert state.stage is HandoffStage.HUMAN_REQUESTED
    assert state.reason == 'The customer asked for a person: "HUMAN, please!"'
    assert await status(desk) == "pending"
    assert await lines(desk) == [
        'Waiting for a person: The customer asked for a person: "HUMAN, please!"'
    ]
    await desk.say("Hello??")
    assert texts(desk, before) == []  # nobody automatic answers a conversation waiting for people


async def test_a_channel_has_its_own_words(desk: Desk) -> None:
    await configure(desk, keywords=("falar com alguém", "atendente"))
    await desk.say("human")
    assert (await desk.handoff()).stage is HandoffStage.BOT  # not this channel's word
    await desk.say("Falar com alguem, por favor")
    assert (await desk.handoff()).stage is HandoffStage.HUMAN_REQUESTED


async def test_a_talk_to_a_person_button_asks_for_one(desk: Desk) -> None:
    await desk.say("Hi")
    await desk.act("postback", title="Talk to a person", payload="HUMAN")
    await desk.settle()
    state = await desk.handoff()
    assert state.stage is HandoffStage.HUMAN_REQUESTED
    assert state.reason == 'The customer asked for a person: "Talk to a person"'


async def test_the_bot_asks_for_a_person_itself(desk: Desk) -> None:
    """The rule bot hands off on its own rule when the channel's words leave it to the bot."""
    link = await link_of(desk)
    await configure(desk, keywords=())  # no words: what the customer writes goes to the bot
    await desk.say("Talk to a person")
    state = await desk.handoff()
    if link is LinkKind.INBOX:
        assert state.stage is HandoffStage.BOT  # the inbox link never asks: people read it all
        return
    assert state.stage is HandoffStage.HUMAN_REQUESTED
    assert state.reason == "The customer wants a person"
    assert texts(desk)[-1] == "I'm getting a person from our team. They'll answer here shortly."
    assert await lines(desk) == ["Waiting for a person: The customer wants a person"]


async def test_a_reply_from_the_page_inbox_claims_the_conversation(desk: Desk) -> None:
    await desk.say("Hi")
    await desk.act("page_inbox_reply", text="Morgan here, from the Page Inbox")
    await desk.settle()
    state = await desk.handoff()
    assert (state.stage, state.assignee) == (HandoffStage.HUMAN, None)
    assert (await desk.messages())[-1]["author"] == "page_inbox"
    assert await lines(desk) == [
        "Someone replied from Meta's Page Inbox: a person has the conversation now, and the "
        "handler stays silent."
    ]
    before = len(desk.sent)
    await desk.say("Thanks Morgan")
    assert texts(desk, before) == []


async def test_the_customer_is_told_and_out_of_hours_told_otherwise(desk: Desk) -> None:
    # NOW is a Wednesday, 11:06 in Lisbon (UTC in November).
    await configure(
        desk,
        auto_reply="A person will answer you here in a few minutes.",
        after_hours_reply="We're closed: a person will answer when we open at 10:00.",
        hours={"wed": "09:00-18:00"},
        timezone="Europe/Lisbon",
    )
    await desk.say("human")
    assert texts(desk)[-1] == "A person will answer you here in a few minutes."
    await desk.say("Hi", person="7100000000000002")
    await desk.advance(8 * HOUR)  # 19:06: closed
    before = len(desk.sent)
    await desk.say("agent", person="7100000000000002")
    assert texts(desk, before) == ["We're closed: a person will answer when we open at 10:00."]


async def test_nobody_takes_it_in_time_the_customer_is_told_and_it_goes_back(desk: Desk) -> None:
    await configure(
        desk,
        pickup_minutes=10,
        fallback_reply="Sorry, nobody is free right now. The assistant will keep helping you.",
        fallback_to_handler=True,
    )
    await desk.say("human")
    await desk.advance(9 * MINUTE)
    await desk.settle()
    assert (await desk.handoff()).stage is HandoffStage.HUMAN_REQUESTED
    before = len(desk.sent)
    await desk.advance(1 * MINUTE)
    await desk.settle()
    assert texts(desk, before) == [
        "Sorry, nobody is free right now. The assistant will keep helping you."
    ]
    assert (await desk.handoff()).stage is HandoffStage.BOT
    assert await status(desk) == "open"
    assert (await lines(desk))[-1] == (
        "Nobody took the conversation in time: it went back to the handler."
    )


async def test_nobody_takes_it_in_time_and_it_keeps_waiting(desk: Desk) -> None:
    await configure(desk, pickup_minutes=5, fallback_reply="Still looking for someone, sorry!")
    await desk.say("human")
    await desk.advance(5 * MINUTE)
    await desk.settle()
    assert texts(desk)[-1] == "Still looking for someone, sorry!"
    assert (await desk.handoff()).stage is HandoffStage.HUMAN_REQUESTED
    assert await status(desk) == "pending"
    assert (await lines(desk))[
        -1
    ] == "Nobody took the conversation in time: it still waits for a person."


async def test_a_person_who_leaves_it_quiet_hands_it_back(desk: Desk) -> None:
    await configure(desk, idle_minutes=30)
    await desk.say("Hi")
    await desk.act("page_inbox_reply", text="Hi, Morgan here")
    await desk.settle()
    assert (await desk.handoff()).stage is HandoffStage.HUMAN
    await desk.advance(29 * MINUTE)
    await desk.settle()
    assert (await desk.handoff()).stage is HandoffStage.HUMAN
    await desk.advance(1 * MINUTE)
    await desk.settle()
    assert (await desk.handoff()).stage is HandoffStage.BOT
    assert (await lines(desk))[-1] == (
        "Nobody wrote in the conversation for a while: it went back to the handler."
    )
