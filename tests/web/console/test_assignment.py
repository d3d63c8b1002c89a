"""Who has a conversation and where it stands, through the inbox's forms, with a rule bot that
answers every turn (so its silence shows): take it, give it to a colleague, two agents taking it
at once (the second is told), hand it back (the bot answers again, and its next turn is told
what the person said), resolve (the next message goes to the bot and opens it), reopen, snooze
(it opens at its time, or when the customer writes). Strange forms change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import Author, HandoffStage, LinkKind
from frontdesk.core.people import Role
from frontdesk.store import accounts
from frontdesk.store import conversations as store
from frontdesk.store.tables import conversations
from frontdesk.web.botfile import load
from frontdesk.workers import botprofile
from tests.flows.harness import HOUR

from .agents import Agents, agents_at_work, sent_messages
from .conftest import csrf_of

pytestmark = pytest.mark.db


BOT = """
name: Answers every turn
rules:
  - when: {keywords: {is: [hi]}}
    do: [{text: "Bot: Hi"}]
  - when: {keywords: {is: [thanks]}}
    do: [{text: "Bot: Thanks!"}]
  - when: {keywords: {is: [one more thing]}}
    do: [{text: "Bot: One more thing"}]
  - when: {default: always}
    do: [{text: "Bot: Anything else"}]
"""
"""The real rules handler with a tiny bot: a distinct answer to each message the stories send."""


@pytest.fixture
async def team(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Agents]:
    async with agents_at_work(database_url, engine, tmp_path, link=LinkKind.RULES) as made:
        async with made.desk.engine.begin() as conn:
            await botprofile.save(
                conn,
                made.desk.channel_id,
                fmt="yaml",
                source=BOT,
                definition=load(BOT, "bot.yaml").data,
                now=made.desk.clock.now(),
            )
        await made.member("morgan@example.com", "Morgan Reyes", Role.OWNER)
        await made.member("ana@example.com", "Ana Lima")
        await made.member("rui@example.com", "Rui Costa")
        yield made


async def status_of(team: Agents) -> tuple[str, float | None]:
    conversation_id = await team.desk.conversation_id()
    async with team.desk.engine.connect() as conn:
        row = (
            await conn.execute(
                select(conversations.c.status, conversations.c.snoozed_until).where(
                    conversations.c.id == conversation_id
                )
            )
        ).one()
    return str(row.status), row.snoozed_until


def bot_lines(team: Agents) -> list[str]:
    return [
        m["message"]["text"]
        for m in sent_messages(team.desk)
        if m["message"]["text"].startswith("Bot:")
    ]


async def act(team: Agents, email: str, action: str, **data: str) -> str:
    """Press one of the conversation's buttons, as `email` sees the page; the answer's page."""
    browser = await team.signed_in(email)
    conversation_id = await team.desk.conversation_id()
    page = (await browser.get(f"/inbox/{conversation_id}")).text
    was = re.search(
        rf'action="/inbox/{conversation_id}/assign".*?name="was" value="([^"]*)"', page, re.S
    )
    fields = {"csrf_token": csrf_of(page), **data}
    if action == "assign" and "was" not in data and was:
        fields["was"] = was.group(1)
    answer = await browser.post(f"/inbox/{conversation_id}/{action}", fields)
    assert answer.status_code in (303, 400, 404, 409), answer.text
    if answer.status_code == 303:
        return (await browser.get(answer.headers["location"])).text
    return answer.text


async def test_take_assign_and_hand_back_the_handler_answers_knowing_what_was_said(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Hi")
    assert bot_lines(team) == ["Bot: Hi"]
    ana, rui = team.people["ana@example.com"], team.people["rui@example.com"]
    page = await act(team, "ana@example.com", "assign", to=str(ana.id))
    assert "Ana Lima took the conversation." in page
    assert (await desk.handoff()).assignee == str(ana.id)
    await desk.say("Are you a person?")
    assert bot_lines(team) == ["Bot: Hi"]  # a person has it: the bot is silent
    page = await act(team, "ana@example.com", "assign", to=str(rui.id))
    assert "Ana Lima gave the conversation to Rui Costa." in page
    assert "Rui Costa has it" in page
    browser = await team.signed_in("rui@example.com")
    await team.reply(browser, "Yes, Rui here. Your order ships today.")
    page = await act(team, "rui@example.com", "hand-back")
    assert "Rui Costa handed the conversation back: the bot answers again." in page
    assert (await desk.handoff()).stage is HandoffStage.BOT
    await desk.say("Thanks!")
    assert bot_lines(team) == ["Bot: Hi", "Bot: Thanks!"]
    # What the bot's turn was told: the transcript before the customer's message, the person's
    # reply in it (`workers.turns` reads it the same way).
    [thanks] = [m["id"] for m in await desk.messages() if m["text"] == "Thanks!"]
    conversation_id = await desk.conversation_id()
    async with desk.engine.connect() as conn:
        told = await store.history(conn, conversation_id, thanks, 20)
    assert (Author.AGENT, "Yes, Rui here. Your order ships today.") in told
    # Handing back what the bot has already is said, not done twice.
    page = await act(team, "rui@example.com", "hand-back")
    assert "Nobody has this conversation: there is nothing to hand back." in page


async def test_two_agents_taking_one_conversation_at_once_the_second_is_told(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Hi")
    ana, rui = team.people["ana@example.com"], team.people["rui@example.com"]
    conversation_id = await desk.conversation_id()
    # Both open the page while nobody has the conversation...
    pages = {}
    for email in ("ana@example.com", "rui@example.com"):
        browser = await team.signed_in(email)
        pages[email] = (browser, csrf_of((await browser.get(f"/inbox/{conversation_id}")).text))
    # ... and both press "Take it".
    for email, person in (("ana@example.com", ana), ("rui@example.com", rui)):
        browser, token = pages[email]
        answer = await browser.post(
            f"/inbox/{conversation_id}/assign",
            {"csrf_token": token, "to": str(person.id), "was": ""},
        )
        if person is ana:
            assert answer.status_code == 303
        else:
            assert answer.status_code == 409
            assert "Meanwhile the conversation changed hands: Ana Lima has it now." in answer.text
    assert (await desk.handoff()).assignee == str(ana.id)
    # Taking it over knowingly works.
    page = await act(team, "rui@example.com", "assign", to=str(rui.id))
    assert "Rui Costa took the conversation." in page
    assert (await desk.handoff()).assignee == str(rui.id)


async def test_resolve_hands_back_and_the_next_message_opens_it(team: Agents) -> None:
    desk = team.desk
    await desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    await team.reply(ana, "Hello! All sorted?")
    assert (await desk.handoff()).stage is HandoffStage.HUMAN
    page = await act(team, "ana@example.com", "resolve")
    assert "Ana Lima resolved the conversation." in page
    assert await status_of(team) == ("resolved", None)
    assert (await desk.handoff()).stage is HandoffStage.BOT
    assert "No open conversations." in (await ana.get("/inbox")).text
    await desk.say("One more thing")
    assert await status_of(team) == ("open", None)
    assert bot_lines(team)[-1] == "Bot: One more thing"
    page = await act(team, "ana@example.com", "resolve")
    page = await act(team, "ana@example.com", "reopen")
    assert "Ana Lima reopened the conversation." in page
    assert (await status_of(team))[0] == "open"


async def test_a_snoozed_conversation_opens_at_its_time_or_when_the_customer_writes(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Hi")
    page = await act(team, "ana@example.com", "snooze", **{"for": "1 hour"})
    assert "Ana Lima snoozed the conversation until" in page
    status, until = await status_of(team)
    assert status == "snoozed"
    assert until == desk.clock.now() + HOUR
    await desk.advance(HOUR - 1)
    await desk.settle()
    assert (await status_of(team))[0] == "snoozed"
    await desk.advance(1)
    await desk.settle()
    assert await status_of(team) == ("open", None)
    # Snoozed again, the customer's message opens it first; the old wake-up then does nothing.
    await act(team, "ana@example.com", "snooze", **{"for": "A week"})
    await desk.say("Hello again")
    assert await status_of(team) == ("open", None)
    await act(team, "ana@example.com", "snooze", **{"for": "Tomorrow"})
    await desk.advance(7 * 24 * HOUR)
    await desk.settle()
    assert await status_of(team) == ("open", None)


@pytest.mark.parametrize(
    ("action", "data", "status", "problem"),
    [
        ("assign", {"to": "", "was": ""}, 400, "Choose someone of the team."),
        ("assign", {"to": "99999", "was": ""}, 404, "Not found"),
        ("assign", {"to": "1e9", "was": ""}, 400, "Choose someone of the team."),
        ("snooze", {"for": "forever"}, 400, "Choose one of the options."),
        ("snooze", {}, 400, "Choose one of the options."),
    ],
)
async def test_a_strange_form_changes_nothing(
    team: Agents, action: str, data: dict[str, str], status: int, problem: str
) -> None:
    desk = team.desk
    await desk.say("Hi")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await desk.conversation_id()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    before = (await desk.handoff(), await status_of(team))
    answer = await ana.post(
        f"/inbox/{conversation_id}/{action}", {"csrf_token": csrf_of(page), **data}
    )
    assert answer.status_code == status
    assert problem in answer.text
    assert (await desk.handoff(), await status_of(team)) == before


async def test_someone_of_another_workspace_cannot_be_given_the_conversation(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Hi")
    async with desk.engine.begin() as conn:
        other = await accounts.create_workspace(conn, "Porto Books", desk.clock.now())
        stranger = await accounts.add_user(
            conn, other.id, "x@porto.test", "Stranger", Role.AGENT, "x", desk.clock.now()
        )
    page = await act(team, "ana@example.com", "assign", to=str(stranger.id))
    assert "There is nothing here, or not for your account." in page
    assert (await desk.handoff()).assignee is None


async def test_a_person_leaving_the_team_hands_their_conversations_to_who_removed_them(
    team: Agents,
) -> None:
    desk = team.desk
    await desk.say("Hi")
    ana, morgan = team.people["ana@example.com"], team.people["morgan@example.com"]
    await act(team, "ana@example.com", "assign", to=str(ana.id))
    assert (await desk.handoff()).assignee == str(ana.id)
    owner = await team.signed_in("morgan@example.com")
    team_page = (await owner.get("/team")).text
    removed = await owner.post(f"/team/members/{ana.id}/remove", {"csrf_token": csrf_of(team_page)})
    assert removed.status_code == 303, removed.text
    state = await desk.handoff()
    assert (state.stage, state.assignee) == (HandoffStage.HUMAN, str(morgan.id))
    conversation_id = await desk.conversation_id()
    page = (await owner.get(f"/inbox/{conversation_id}")).text
    assert "Ana Lima left the team: Morgan Reyes has the conversation now." in page
