"""Webhook delivery against digest §1-§4 and §11: bytes, signatures, routing, delivery mechanics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from frontdesk.emulator import Clock, Emulator, WebhookSettings, psid_for

from .conftest import (
    ALL_FIELDS,
    ANA,
    APP_ID,
    APP_SECRET,
    CALLBACK,
    CHLOE,
    JOAO,
    PAGE,
    PAGE2,
    Receiver,
    connect,
    say,
    send,
)
from .routing_support import Stall, act, advance, event_attempts, ok, subscribe_app, subscribe_page

GREETING = "Olá 😀 ä/ö"


@pytest.fixture
def stall(receiver: Receiver) -> Stall:
    return Stall(receiver.app())


@pytest.fixture
async def emulator(clock: Clock, stall: Stall) -> AsyncIterator[Emulator]:
    """conftest's emulator, with a receiver that can be told to hang (for the timeout test)."""
    settings = WebhookSettings(retry_delays=[0.0, 0.0], seed=7)
    async with Emulator(
        clock=clock, transport=httpx.ASGITransport(app=stall), webhooks=settings
    ) as emu:
        yield emu


async def settings(graph: httpx.AsyncClient, **webhooks: Any) -> None:
    ok(await graph.patch("/_emulator/settings", json={"webhooks": webhooks}))


def meta_shape(body: dict[str, Any]) -> bytes:
    """The digest's recipe for Meta's bytes (§2.2), written out here rather than imported."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def texts(receiver: Receiver) -> list[str]:
    return [e["message"]["text"] for e in receiver.of_kind("message")]


# --- bytes and signatures (digest §2) ------------------------------------------------------


async def test_body_is_compact_escaped_json_and_a_plain_hmac_verifies_it(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    said = await say(graph, GREETING)
    await emulator.meta.drain()

    [post] = receiver.posts
    raw: bytes = post["raw"]
    assert raw.isascii()
    assert b'"text":"Ol\\u00e1 \\ud83d\\ude00 \\u00e4\\/\\u00f6"' in raw
    assert raw.startswith(b'{"object":"page","entry":[{"id":"' + PAGE.encode() + b'","time":')
    assert raw == meta_shape(json.loads(raw))
    assert post["body"]["entry"][0]["messaging"][0]["message"] == {
        "mid": said["mid"],
        "text": GREETING,
    }

    headers = post["headers"]
    assert headers["content-type"] == "application/json"
    sha256 = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    sha1 = hmac.new(APP_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={sha256}"
    assert headers["x-hub-signature"] == f"sha1={sha1}"
    assert post["valid"]


async def test_the_legacy_sha1_header_goes_away_with_its_flag(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await settings(graph, sha1=False)
    await say(graph, GREETING)
    await emulator.meta.drain()

    [post] = receiver.posts
    assert "x-hub-signature" not in post["headers"]
    assert post["valid"]


async def test_raw_utf8_knob_sends_unescaped_bytes_and_signs_exactly_those(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await settings(graph, escape_unicode=False)
    await say(graph, GREETING)
    await emulator.meta.drain()

    [post] = receiver.posts
    raw: bytes = post["raw"]
    assert not raw.isascii()
    assert '"text":"Olá 😀 ä\\/ö"'.encode() in raw
    assert post["valid"]
    # A receiver that re-encoded the body the Meta way would now compute another digest.
    reencoded = hmac.new(APP_SECRET.encode(), meta_shape(post["body"]), hashlib.sha256)
    assert post["headers"]["x-hub-signature-256"] != "sha256=" + reencoded.hexdigest()


# --- who hears what (digest §3.1, §4 scope, §11) -------------------------------------------


async def test_nothing_arrives_until_the_page_subscribes(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe_app(graph, APP_ID, APP_SECRET, CALLBACK)
    await say(graph, "anyone there?")
    await emulator.meta.drain()
    assert receiver.posts == []
    assert await event_attempts(graph, APP_ID) == []

    await connect(graph)
    await say(graph, "now?")
    await emulator.meta.drain()
    assert texts(receiver) == ["now?"]


async def test_a_field_the_page_did_not_subscribe_is_not_delivered(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph, fields=["messages"])
    await say(graph, "hi")
    await act(graph, "postback", title="Track order", payload="TRACK")
    reply = await send(
        graph,
        token,
        {
            "recipient": {"id": psid_for(PAGE, JOAO)},
            "messaging_type": "RESPONSE",
            "message": {"text": "hello"},
        },
    )
    assert reply.status_code == 200, reply.text
    await emulator.meta.drain()

    events = receiver.events()
    assert [list(e)[-1] for e in events] == ["message"]
    assert events[0]["message"]["text"] == "hi"  # not the echo: message_echoes is not subscribed


async def test_a_field_the_app_did_not_subscribe_is_not_delivered(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)  # the Page subscribes to every field
    without_postbacks = [f for f in ALL_FIELDS if f != "messaging_postbacks"]
    await subscribe_app(graph, APP_ID, APP_SECRET, CALLBACK, without_postbacks)
    await act(graph, "postback", title="Track order", payload="TRACK")
    await say(graph, "hi")
    await emulator.meta.drain()

    assert receiver.of_kind("postback") == []
    assert texts(receiver) == ["hi"]


@pytest.mark.parametrize("state", [{"messaging_enabled": False}, {"published": False}])
async def test_no_webhooks_when_messaging_is_off_or_the_page_unpublished(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver, state: dict[str, bool]
) -> None:
    await connect(graph)
    ok(await graph.patch(f"/_emulator/pages/{PAGE}", json=state))

    refused = await graph.post(
        "/_emulator/act/message", json={"page_id": PAGE, "person_id": JOAO, "text": "hi"}
    )
    assert refused.status_code == 409, refused.text
    # A Page-level event that needs no person still never reaches the app.
    await act(graph, "policy_enforcement", action="warning", reason="spam")
    await emulator.meta.drain()
    assert receiver.posts == []

    ok(await graph.patch(f"/_emulator/pages/{PAGE}", json=dict.fromkeys(state, True)))
    await say(graph, "back")
    await emulator.meta.drain()
    assert texts(receiver) == ["back"]


async def test_development_mode_delivers_only_events_of_people_with_a_role(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    ok(await graph.patch(f"/_emulator/apps/{APP_ID}", json={"mode": "development"}))
    await say(graph, "from a stranger", person=JOAO)
    await say(graph, "from the tester", person=ANA)
    await emulator.meta.drain()

    [event] = receiver.of_kind("message")
    assert event["sender"] == {"id": psid_for(PAGE, ANA)}
    assert event["message"]["text"] == "from the tester"


# --- delivery mechanics (digest §4) -------------------------------------------------------------


async def test_queued_events_share_one_post_up_to_the_batch_size(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph, PAGE)
    await connect(graph, PAGE2)
    await settings(graph, batch_size=3)
    meta = emulator.meta
    # Called back to back without yielding: all four wait in the app's queue together.
    meta.user_message(PAGE, JOAO, text="one")
    meta.user_message(PAGE, CHLOE, text="two")
    meta.user_message(PAGE2, JOAO, text="three")
    meta.user_message(PAGE, JOAO, text="four")
    await meta.drain()

    assert [len(p["body"]["entry"]) for p in receiver.posts] == [3, 1]
    first = receiver.posts[0]["body"]["entry"]
    assert [e["id"] for e in first] == [PAGE, PAGE, PAGE2]
    assert all(len(e["messaging"]) == 1 and isinstance(e["time"], int) for e in first)
    assert first[2]["messaging"][0]["recipient"] == {"id": PAGE2}
    assert texts(receiver) == ["one", "two", "three", "four"]
    assert all(p["valid"] for p in receiver.posts)


class Overlap:
    """Wraps a receiver: each POST takes a little while, and the most POSTs seen in flight at
    once is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.now, self.most = app, 0, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                await asyncio.sleep(0.01)
                await self.app(scope, receive, send)
            finally:
                self.now -= 1
        else:
            await self.app(scope, receive, send)


@pytest.mark.parametrize("connections", [1, 8])
async def test_connections_knob_posts_side_by_side_and_keeps_each_persons_order(
    clock: Clock, receiver: Receiver, connections: int
) -> None:
    overlap = Overlap(receiver.app())
    people = (JOAO, CHLOE, ANA)
    transport = httpx.ASGITransport(app=overlap)
    async with Emulator(clock=clock, transport=transport) as emulator, emulator.client() as graph:
        await connect(graph)
        await settings(graph, connections=connections)
        for n in range(4):
            for person in people:
                emulator.meta.user_message(PAGE, person, text=f"{person}:{n}")
        await emulator.meta.drain()

    assert overlap.most == min(connections, len(people))
    assert len(receiver.posts) == 4 * len(people)
    for person in people:
        mine = [t for t in texts(receiver) if t.startswith(f"{person}:")]
        assert mine == [f"{person}:{n}" for n in range(4)]


async def test_duplicate_knob_sends_the_same_bytes_twice(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await settings(graph, duplicate_rate=1.0)
    await say(graph, "once")
    await emulator.meta.drain()

    assert len(receiver.posts) == 2
    assert receiver.posts[0]["raw"] == receiver.posts[1]["raw"]
    first, second = (p["headers"]["x-hub-signature-256"] for p in receiver.posts)
    assert first == second
    assert all(p["valid"] for p in receiver.posts)


@pytest.mark.parametrize("reorder", [False, True])
async def test_reorder_knob_shuffles_the_entries_of_a_batch(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver, reorder: bool
) -> None:
    await connect(graph)
    await settings(graph, batch_size=10, reorder=reorder)
    sent = [f"m{i}" for i in range(8)]
    for text in sent:
        emulator.meta.user_message(PAGE, JOAO, text=text)
    await emulator.meta.drain()

    [post] = receiver.posts
    got = [e["messaging"][0]["message"]["text"] for e in post["body"]["entry"]]
    assert sorted(got) == sorted(sent)
    assert (got != sent) is reorder


async def test_failed_posts_are_retried_and_every_attempt_logged(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    receiver.status = 500
    await say(graph, "are you there?")
    await emulator.meta.drain()

    attempts = await event_attempts(graph, APP_ID)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]  # first try + retry_delays=[0, 0]
    assert {a["status"] for a in attempts} == {500}
    assert not any(a["ok"] for a in attempts)
    assert all(a["error"] == "HTTP 500" and a["latency_ms"] >= 0 for a in attempts)
    assert all(a["page_ids"] == [PAGE] and a["url"] == CALLBACK for a in attempts)
    assert len(receiver.posts) == 3
    assert len({p["raw"] for p in receiver.posts}) == 1  # the same bytes each time

    receiver.status = 200
    await say(graph, "hello?")
    await emulator.meta.drain()
    last = (await event_attempts(graph, APP_ID))[-1]
    assert (last["attempt"], last["status"], last["ok"]) == (1, 200, True)


async def test_a_receiver_slower_than_the_timeout_counts_as_failed(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver, stall: Stall
) -> None:
    await connect(graph)
    await settings(graph, timeout=0.05, retry_delays=[0.0])
    stall.seconds = 2.0
    started = time.perf_counter()
    await say(graph, "slow")
    await emulator.meta.drain()
    elapsed = time.perf_counter() - started

    attempts = await event_attempts(graph, APP_ID)
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert all(a["status"] is None and not a["ok"] for a in attempts)
    assert all(a["error"] == "timeout after 0.05 s" for a in attempts)
    assert receiver.posts == []  # the receiver never got to answer
    assert elapsed < 1.5


async def test_continuous_failure_alerts_then_unsubscribes_the_app_from_the_page(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    receiver.status = 503
    await say(graph, "t+0")
    await emulator.meta.drain()
    assert ok(await graph.get("/_emulator/alerts"))["data"] == []

    await advance(graph, 16 * 60)
    await say(graph, "t+16m")
    await emulator.meta.drain()
    alerts = ok(await graph.get("/_emulator/alerts"))["data"]
    assert [(a["kind"], a["app_id"], a["page_id"]) for a in alerts] == [("failing", APP_ID, PAGE)]

    await advance(graph, 45 * 60)
    await say(graph, "t+61m")
    await emulator.meta.drain()
    alerts = ok(await graph.get("/_emulator/alerts"))["data"]
    assert [a["kind"] for a in alerts] == ["failing", "disabled"]
    assert "subscribed_apps" in alerts[1]["message"]
    subscribed = ok(
        await graph.get(f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": token})
    )
    assert subscribed == {"data": []}

    receiver.status = 200
    before = len(receiver.posts)
    await say(graph, "after the unsubscribe")
    await emulator.meta.drain()
    assert len(receiver.posts) == before

    await subscribe_page(graph, token)  # the developer fixes the callback and re-subscribes
    await say(graph, "after re-subscribing")
    await emulator.meta.drain()
    assert texts(receiver)[-1] == "after re-subscribing"


async def test_callback_fault_fails_posts_like_a_broken_callback(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    fault = await graph.post(
        "/_emulator/faults", json={"kind": "callback", "app_id": APP_ID, "status": 502}
    )
    assert fault.status_code == 201, fault.text
    await say(graph, "lost")
    await emulator.meta.drain()

    attempts = await event_attempts(graph, APP_ID)
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (1, 502, False),
        (2, 502, False),
        (3, 502, False),
    ]
    assert receiver.posts == []

    await advance(graph, 3601)
    await say(graph, "still lost")
    await emulator.meta.drain()
    kinds = [a["kind"] for a in ok(await graph.get("/_emulator/alerts"))["data"]]
    assert kinds == ["failing", "disabled"]
    subscribed = ok(
        await graph.get(f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": token})
    )
    assert subscribed == {"data": []}


async def test_a_one_shot_callback_fault_is_recovered_by_the_retry(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    fault = await graph.post(
        "/_emulator/faults", json={"kind": "callback", "app_id": APP_ID, "count": 1}
    )
    assert fault.status_code == 201, fault.text
    await say(graph, "second time lucky")
    await emulator.meta.drain()

    attempts = await event_attempts(graph, APP_ID)
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert attempts[0]["error"] == "injected callback failure"
    assert texts(receiver) == ["second time lucky"]
