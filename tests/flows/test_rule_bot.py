"""The rule bot over the emulator, end to end: a channel linked to its bot answers as the
customer writes, asks and remembers (question → invalid answer → retry → stored → next step →
wait with typing → handoff), calls an HTTP endpoint outside the transaction, and pushes its
Messenger profile when linked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from frontdesk import demo
from frontdesk.core import HandoffStage, LinkKind
from frontdesk.handlers import default_handlers
from frontdesk.store import bots, handoff_settings
from frontdesk.store.tables import contact_fields, contact_tags, handler_states, jobs
from frontdesk.web.botfile import load
from frontdesk.workers import botprofile, turns
from frontdesk.workers.loop import Worker
from frontdesk.workers.webcall import WebCaller
from tests.flows.harness import CHLOE, JOAO, Desk, connected

pytestmark = pytest.mark.db

SHOP = (resources.files("frontdesk.handlers") / "examples" / "shop-assistant.yaml").read_text()


async def install(desk: Desk, source: str, *, link: bool = True) -> None:
    found = load(source, "k")
    async with desk.engine.begin() as conn:
        await botprofile.save(
            conn,
            desk.channel_id,
            fmt="yaml",
            source=source,
            definition=found.data,
            now=desk.clock.now(),
        )
        if link:
            await botprofile.link(conn, desk.channel_id, desk.clock.now())
    await desk.settle()


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        yield connected_desk


def bodies(desk: Desk, since: int = 0) -> list[dict[str, Any]]:
    """What went out to the Send API, without the bookkeeping (metadata, messaging type)."""
    out = []
    for body in desk.sent[since:]:
        if "message" in body:
            message = {k: v for k, v in body["message"].items() if k != "metadata"}
            out.append(message)
        else:
            out.append({"sender_action": body["sender_action"]})
    return out


async def fields_of(desk: Desk) -> dict[str, str]:
    async with desk.engine.connect() as conn:
        rows = await conn.execute(select(contact_fields.c.name, contact_fields.c.value))
        return {row.name: row.value for row in rows}


async def test_a_question_flow_retries_stores_waits_and_hands_off(desk: Desk) -> None:
    await install(desk, SHOP)
    await desk.say("Hi, where is my order?")
    assert bodies(desk) == [
        {"text": "What's your order number? It's in your confirmation email, like 10234."}
    ]
    mark = len(desk.sent)
    await desk.say("the blue one")
    assert bodies(desk, mark) == [
        {"text": "That doesn't look like an order number: it's only digits, like 10234."},
        {"text": "What's your order number? It's in your confirmation email, like 10234."},
    ]
    mark = len(desk.sent)
    await desk.say("10234")
    assert bodies(desk, mark) == [
        {
            "text": "And the email address you ordered with?",
            "quick_replies": [{"content_type": "user_email"}],
        }
    ]
    assert await fields_of(desk) == {"order_number": "10234"}
    mark = len(desk.sent)
    await desk.say("Joao@Example.PT")
    assert bodies(desk, mark) == [{"sender_action": "typing_on"}]  # the wait: 2 s of typing
    assert await fields_of(desk) == {"order_number": "10234", "email": "joao@example.pt"}
    await desk.advance(2)
    await desk.settle()
    assert bodies(desk, mark + 1) == [
        {"text": "Thanks! Order 10234 is being looked up for joao@example.pt."},
        {"text": "A teammate will confirm where order 10234 is in a few minutes."},
    ]
    handoff = await desk.handoff()
    assert handoff.stage is HandoffStage.HUMAN_REQUESTED
    assert handoff.reason == "Order status question"
    async with desk.engine.connect() as conn:
        tags = (await conn.execute(select(contact_tags.c.tag))).scalars().all()
    assert tags == ["asked_order_status"]
    # While a person is awaited the bot is silent; the message is still filed.
    mark = len(desk.sent)
    await desk.say("hello?")
    assert bodies(desk, mark) == []
    assert (await desk.messages())[-1]["text"] == "hello?"
    # What Messenger showed the customer, in order.
    shown = [m.get("text") for m in await desk.on_meta()]
    assert shown[-2:] == [
        "Thanks! Order 10234 is being looked up for joao@example.pt.",
        "A teammate will confirm where order 10234 is in a few minutes.",
    ]


async def test_flow_state_survives_a_restart_of_the_worker(desk: Desk) -> None:
    await install(desk, SHOP)
    await desk.say("order please")
    restarted = Worker(desk.engine, desk.worker.handlers, clock=desk.clock.now)
    desk.worker = restarted
    mark = len(desk.sent)
    await desk.say("777")
    assert bodies(desk, mark)[0]["text"] == "And the email address you ordered with?"


async def test_a_question_left_too_long_is_abandoned(desk: Desk) -> None:
    await install(desk, SHOP)
    await desk.say("order please")
    await desk.advance(31 * 60)
    mark = len(desk.sent)
    await desk.say("777")
    assert bodies(desk, mark)[0]["text"].startswith("Sorry, I didn't get that.")
    async with desk.engine.connect() as conn:
        assert (await conn.execute(select(handler_states.c.state))).scalar_one() == {
            "default_at": desk.clock.now()
        }


async def test_quick_replies_and_buttons_answer(desk: Desk) -> None:
    await install(desk, SHOP)
    await desk.act("get_started", CHLOE)
    await desk.settle()
    welcome = bodies(desk)[0]
    assert welcome["text"].startswith("Hi ")
    assert [chip["payload"] for chip in welcome["quick_replies"]] == [
        "HOURS",
        "ORDER_STATUS",
        "RETURNS",
        "HUMAN",
    ]
    mark = len(desk.sent)
    await desk.act("message", CHLOE, text="Returns", quick_reply="RETURNS")
    await desk.settle()
    assert bodies(desk, mark)[0]["text"].startswith("You can return anything within 30 days")
    mark = len(desk.sent)
    await desk.act("postback", CHLOE, title="Opening hours", payload="HOURS")
    await desk.settle()
    assert bodies(desk, mark)[0]["text"].startswith("We're open Monday to Friday")


async def test_a_channel_not_linked_to_its_bot_answers_nothing(desk: Desk) -> None:
    await install(desk, SHOP, link=False)
    await desk.say("what are your opening hours?")
    assert desk.sent == []


async def test_linking_pushes_the_messenger_profile_once(desk: Desk) -> None:
    await install(desk, SHOP)
    token = await desk.new_page_token()
    answer = await desk.meta.get(
        "/v25.0/me/messenger_profile",
        params={"fields": "get_started,greeting,persistent_menu", "access_token": token},
    )
    profile = answer.json()["data"][0]
    assert profile["get_started"] == {"payload": "GET_STARTED"}
    assert profile["greeting"][0]["text"].startswith("Hi {{user_first_name}}!")
    menu = profile["persistent_menu"][0]["call_to_actions"]
    assert [item["payload"] for item in menu] == ["ORDER_STATUS", "HOURS", "RETURNS", "HUMAN"]
    async with desk.engine.connect() as conn:
        bot = await bots.of_channel(conn, desk.channel_id)
    assert bot is not None
    assert bot.profile_status == "pushed"
    # Pushing the same profile again calls Meta no more (10 calls per 10 minutes per Page):
    # a call would meet this fault and record the push as failed.
    await desk.fault({"endpoint": "messenger_profile", "error": {"code": 100, "status": 400}})
    async with desk.engine.begin() as conn:
        await botprofile.queue_push(conn, desk.channel_id, desk.clock.now())
    await desk.settle()
    async with desk.engine.connect() as conn:
        again = await bots.of_channel(conn, desk.channel_id)
    assert again is not None
    assert again.profile_status == "pushed"


async def test_a_refused_profile_is_kept_with_metas_reason(desk: Desk) -> None:
    await desk.fault({"endpoint": "messenger_profile", "error": {"code": 100, "status": 400}})
    await install(desk, SHOP)
    async with desk.engine.connect() as conn:
        bot = await bots.of_channel(conn, desk.channel_id)
    assert bot is not None
    assert bot.profile_status == "failed"
    assert bot.profile_error is not None
    assert bot.profile_error.startswith("BadRequest")


ORDERS_BOT = """\
name: Orders
rules:
  - when: {keywords: {starts_with: [track]}}
    do:
      - set: {order: "{{order|}}"}
      - call: "http://orders.test/orders/{{order_number|none}}"
        save: {status: order.status}
        on_error: down
      - text: "Order {{order_number}} is {{status}}."
flows:
  down:
    - text: "Our order system is not answering; a person will check."
    - handoff: "One moment."
"""


async def test_an_http_call_is_made_outside_the_transaction_and_its_answer_used(
    desk: Desk,
) -> None:
    seen: list[str] = []

    async def order(request: Request) -> JSONResponse:
        seen.append(request.url.path)
        if request.path_params["number"] == "500":
            return JSONResponse({"error": "down"}, status_code=500)
        return JSONResponse({"order": {"status": "shipped"}})

    service = Starlette(routes=[Route("/orders/{number}", order)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service)) as http:
        caller = WebCaller(http, allow_private=True)
        kinds = dict(desk.worker.handlers)
        kinds[turns.RESUME] = turns.resume_job(default_handlers(), caller)
        desk.worker = Worker(desk.engine, kinds, clock=desk.clock.now)
        await install(desk, ORDERS_BOT.replace("{{order_number|none}}", "10234"))
        await desk.say("track my parcel")
        assert bodies(desk) == [{"text": "Order  is shipped."}]
        assert seen == ["/orders/10234"]
        await install(desk, ORDERS_BOT.replace("{{order_number|none}}", "500"))
        await desk.say("track it", JOAO)
        assert bodies(desk, 1) == [
            {"text": "Our order system is not answering; a person will check."},
            {"text": "One moment."},
        ]
        async with desk.engine.connect() as conn:
            dead = (await conn.execute(select(jobs.c.id).where(jobs.c.state == "dead"))).all()
        assert dead == []


async def test_a_call_to_a_private_address_is_refused_and_routed_to_on_error(desk: Desk) -> None:
    async with httpx.AsyncClient() as http:
        kinds = dict(desk.worker.handlers)
        kinds[turns.RESUME] = turns.resume_job(default_handlers(), WebCaller(http))
        desk.worker = Worker(desk.engine, kinds, clock=desk.clock.now)
        source = ORDERS_BOT.replace("http://orders.test", "http://169.254.169.254")
        await install(desk, source)
        await desk.say("track 1")
    assert bodies(desk)[0] == {"text": "Our order system is not answering; a person will check."}


def test_link_kind_rules_is_answered_by_the_rules_handler() -> None:
    assert type(default_handlers()[LinkKind.RULES]).__name__ == "RulesHandler"


async def test_a_rules_channel_without_a_bot_answers_nothing_and_files_the_message(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with connected(database_url, engine, tmp_path, link=LinkKind.RULES) as desk:
        await desk.say("anyone there?")
        assert desk.sent == []
        assert [m["text"] for m in await desk.messages()] == ["anyone there?"]


async def test_the_demos_shop_assistant_tells_who_asks_for_a_person(desk: Desk) -> None:
    """`make run`'s Page: the channel's words take "Talk to a person" (the welcome's quick reply,
    typed words) before the bot is asked; the customer still hears the shop's message for it."""
    async with desk.engine.begin() as conn:
        assert await demo.install_shop_assistant(conn, desk.channel_id, desk.clock.now())
    await desk.settle()
    await desk.say("Hi")
    [welcome] = bodies(desk)
    assert {"content_type": "text", "title": "Talk to a person", "payload": "HUMAN"} in welcome[
        "quick_replies"
    ]
    mark = len(desk.sent)
    await desk.act("message", text="Talk to a person", quick_reply="HUMAN")
    await desk.settle()
    assert bodies(desk, mark) == [{"text": demo.SHOP_HANDOFF_MESSAGE}]
    handoff = await desk.handoff()
    assert handoff.stage is HandoffStage.HUMAN_REQUESTED
    assert handoff.reason == 'The customer asked for a person: "Talk to a person"'
    assert [m.get("text") for m in await desk.on_meta()][-1] == demo.SHOP_HANDOFF_MESSAGE
    # Typed words, from another customer: the same handoff, the same message.
    mark = len(desk.sent)
    await desk.say("talk to a person", CHLOE)
    assert bodies(desk, mark) == [{"text": demo.SHOP_HANDOFF_MESSAGE}]
    assert (await desk.handoff(CHLOE)).stage is HandoffStage.HUMAN_REQUESTED


async def test_the_demo_keeps_handoff_settings_already_saved(desk: Desk) -> None:
    async with desk.engine.begin() as conn:
        mine = replace(
            await handoff_settings.of_channel(conn, desk.channel_id), auto_reply="Hold on"
        )
        await handoff_settings.save(conn, mine, desk.clock.now())
        assert await demo.install_shop_assistant(conn, desk.channel_id, desk.clock.now())
    await desk.settle()
    await desk.say("human")
    assert bodies(desk) == [{"text": "Hold on"}]
