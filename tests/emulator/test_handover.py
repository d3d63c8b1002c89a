"""Conversation routing and the handover events (digest §3.18, §3.19, §7), with two real apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from frontdesk.emulator import Clock, Emulator, WebhookSettings, psid_for

from .conftest import APP_ID, JOAO, PAGE, Receiver, connect, say, send
from .routing_support import (
    OTHER_APP_ID,
    OTHER_CALLBACK,
    OTHER_SECRET,
    PAGE_INBOX,
    Switchboard,
    act,
    advance,
    app_page_token,
    ok,
    subscribe_app,
    subscribe_page,
)

PSID = psid_for(PAGE, JOAO)
DAY = 24 * 3600


@pytest.fixture
def helpdesk() -> Receiver:
    """The second app's webhook endpoint, checking signatures with that app's own secret."""
    return Receiver(secret=OTHER_SECRET)


@pytest.fixture
async def emulator(clock: Clock, receiver: Receiver, helpdesk: Receiver) -> AsyncIterator[Emulator]:
    """conftest's emulator, delivering to both receivers (the second one under `/two`)."""
    settings = WebhookSettings(retry_delays=[0.0, 0.0], seed=7)
    transport = httpx.ASGITransport(app=Switchboard(receiver.app(), helpdesk.app()))
    async with Emulator(clock=clock, transport=transport, webhooks=settings) as emu:
        yield emu


@pytest.fixture
async def tokens(graph: httpx.AsyncClient) -> tuple[str, str]:
    """Both apps subscribed (app and Page level) to the Page; their Page tokens, ours first."""
    ours = await connect(graph)
    created = await graph.post(
        "/_emulator/apps",
        json={
            "id": OTHER_APP_ID,
            "secret": OTHER_SECRET,
            "name": "Helpdesk",
            "mode": "live",
            "permissions": {
                "pages_show_list": "advanced",
                "pages_messaging": "advanced",
                "pages_manage_metadata": "advanced",
            },
        },
    )
    assert created.status_code == 201, created.text
    await subscribe_app(graph, OTHER_APP_ID, OTHER_SECRET, OTHER_CALLBACK)
    theirs = await app_page_token(graph, OTHER_APP_ID, OTHER_SECRET)
    await subscribe_page(graph, theirs)
    return ours, theirs


async def set_default(graph: httpx.AsyncClient, app_id: str | None) -> None:
    ok(await graph.patch(f"/_emulator/pages/{PAGE}", json={"default_app_id": app_id}))


async def control(graph: httpx.AsyncClient, token: str, action: str, **params: Any) -> Any:
    return await graph.post(
        f"/v25.0/me/{action}",
        params={"access_token": token},
        json={"recipient": {"id": PSID}, **params},
    )


async def thread_owner(graph: httpx.AsyncClient, token: str) -> Any:
    return ok(
        await graph.get("/v25.0/me/thread_owner", params={"recipient": PSID, "access_token": token})
    )


async def reply(graph: httpx.AsyncClient, token: str, text: str) -> httpx.Response:
    return await send(
        graph,
        token,
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": text}},
    )


def error_of(response: httpx.Response) -> tuple[int, int | None]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    return error["code"], error.get("error_subcode")


def said(receiver: Receiver, channel: str) -> list[str]:
    """Texts of the person's messages that reached `receiver` on `channel`."""
    return [
        e["message"]["text"]
        for e in receiver.of_kind("message", channel)
        if not e["message"].get("is_echo")
    ]


def clear(*receivers: Receiver) -> None:
    for r in receivers:
        r.posts.clear()


# --- default behaviour and the default app ------------------------------------------------------


async def test_without_a_default_app_every_app_gets_messaging_and_may_reply(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await say(graph, "hello?")
    assert (await reply(graph, ours, "from the bot")).status_code == 200
    assert (await reply(graph, theirs, "from the helpdesk")).status_code == 200
    await emulator.meta.drain()

    for r in (receiver, helpdesk):
        assert said(r, "messaging") == ["hello?"]
        assert r.events("standby") == []
        echoed_by = {
            e["message"]["app_id"] for e in r.of_kind("message") if "is_echo" in e["message"]
        }
        assert echoed_by == {int(APP_ID), int(OTHER_APP_ID)}
        assert r.posts
        assert all(p["valid"] for p in r.posts)  # each app signs with its own secret
    assert error_of(await control(graph, ours, "take_thread_control"))[1] == 2018171
    assert await thread_owner(graph, ours) == {"data": []}


async def test_with_a_default_app_the_others_get_standby_and_cannot_send(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    message = await say(graph, "still there?")
    tap = await act(graph, "postback", title="Track order", payload="TRACK")
    assert (await reply(graph, ours, "yes")).status_code == 200
    refused = await reply(graph, theirs, "me too")
    await emulator.meta.drain()

    assert error_of(refused) == (10, 2018300)
    assert said(receiver, "messaging") == ["still there?"]
    assert receiver.events("standby") == []
    assert receiver.of_kind("postback")[0]["postback"]["payload"] == "TRACK"

    assert said(helpdesk, "messaging") == []
    [standby] = [e for e in helpdesk.of_kind("message", "standby") if "is_echo" not in e["message"]]
    assert standby["message"] == {"mid": message["mid"], "text": "still there?"}
    [postback] = helpdesk.of_kind("postback", "standby")
    assert postback["postback"] == {"mid": tap["mid"], "title": "Track order"}  # no payload
    [echo] = [e for e in helpdesk.of_kind("message", "standby") if "is_echo" in e["message"]]
    assert echo["message"]["app_id"] == int(APP_ID)
    assert helpdesk.of_kind("delivery", "standby")
    assert [list(e)[-1] for e in helpdesk.events("messaging")] == ["app_roles"]


async def test_app_roles_event_when_the_default_app_changes(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    await set_default(graph, APP_ID)
    await set_default(graph, OTHER_APP_ID)
    await emulator.meta.drain()

    for r in (receiver, helpdesk):
        first, second = r.of_kind("app_roles")
        assert "sender" not in first
        assert first["recipient"] == {"id": PAGE}
        assert isinstance(first["timestamp"], int)
        assert first["app_roles"] == {
            APP_ID: ["primary_receiver"],
            OTHER_APP_ID: ["secondary_receiver"],
        }
        assert second["app_roles"] == {
            APP_ID: ["secondary_receiver"],
            OTHER_APP_ID: ["primary_receiver"],
        }


# --- pass, take, request, release, extend ------------------------------------------------------


async def test_pass_thread_control_hands_the_thread_to_another_app(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
    clock: Clock,
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "I want a refund")
    passed = await control(
        graph,
        ours,
        "pass_thread_control",
        target_app_id=OTHER_APP_ID,
        metadata="escalated: refund question",
    )
    assert ok(passed) == {"success": True}
    await emulator.meta.drain()
    clear(receiver, helpdesk)
    await say(graph, "hello helpdesk")
    await emulator.meta.drain()

    owner = {"app_id": OTHER_APP_ID, "expiration": int(clock.now()) + DAY}
    assert await thread_owner(graph, theirs) == {"data": [{"thread_owner": owner}]}
    assert await thread_owner(graph, ours) == {"data": [{"thread_owner": owner}]}  # default app
    assert said(helpdesk, "messaging") == ["hello helpdesk"]
    assert said(receiver, "standby") == ["hello helpdesk"]
    assert error_of(await reply(graph, ours, "me?")) == (10, 2018300)
    assert (await reply(graph, theirs, "Refund on its way")).status_code == 200


async def test_the_new_owner_is_told_who_passed_and_why(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, _ = tokens
    await set_default(graph, APP_ID)
    await say(graph, "I want a refund")
    ok(
        await control(
            graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID, metadata="refund"
        )
    )
    await emulator.meta.drain()

    [event] = helpdesk.of_kind("pass_thread_control")
    assert event["sender"] == {"id": PSID}
    assert event["recipient"] == {"id": PAGE}
    assert event["pass_thread_control"] == {
        "previous_owner_app_id": APP_ID,
        "new_owner_app_id": OTHER_APP_ID,
        "metadata": "refund",
    }
    assert receiver.of_kind("pass_thread_control") == []


async def test_pass_works_in_default_behaviour_and_an_idle_thread_has_no_previous_owner(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await say(graph, "hi")
    ok(await control(graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID))
    await say(graph, "who is this?")
    await emulator.meta.drain()

    [event] = helpdesk.of_kind("pass_thread_control")
    assert event["pass_thread_control"] == {
        "previous_owner_app_id": None,
        "new_owner_app_id": OTHER_APP_ID,
    }
    assert said(helpdesk, "messaging") == ["hi", "who is this?"]
    assert said(receiver, "standby") == ["who is this?"]
    assert error_of(await reply(graph, ours, "me?")) == (10, 2018300)
    assert (await reply(graph, theirs, "the helpdesk")).status_code == 200


async def test_only_the_default_app_takes_control_and_the_previous_owner_hears_of_it(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "hi")
    ok(await control(graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID))
    assert error_of(await control(graph, theirs, "take_thread_control")) == (10, 2018171)
    ok(await control(graph, ours, "take_thread_control", metadata="bot resumes"))
    await say(graph, "back to the bot")
    await emulator.meta.drain()

    [event] = helpdesk.of_kind("take_thread_control")
    assert event["sender"] == {"id": PSID}
    assert event["take_thread_control"] == {
        "previous_owner_app_id": OTHER_APP_ID,
        "new_owner_app_id": APP_ID,
        "metadata": "bot resumes",
    }
    assert receiver.of_kind("take_thread_control") == []
    assert said(receiver, "messaging") == ["hi", "back to the bot"]
    assert said(helpdesk, "standby") == ["hi", "back to the bot"]


async def test_request_thread_control_reaches_the_owner(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    _, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "I need a human")
    ok(await control(graph, theirs, "request_thread_control", metadata="customer asked"))
    await emulator.meta.drain()

    [event] = receiver.of_kind("request_thread_control")
    assert event["sender"] == {"id": PSID}
    assert event["recipient"] == {"id": PAGE}
    assert event["request_thread_control"] == {
        "requested_owner_app_id": int(OTHER_APP_ID),
        "metadata": "customer asked",
    }
    assert type(event["request_thread_control"]["requested_owner_app_id"]) is int
    assert helpdesk.of_kind("request_thread_control") == []


async def test_a_request_on_an_idle_thread_reaches_the_default_app(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "hi")
    ok(await control(graph, ours, "release_thread_control"))
    ok(await control(graph, theirs, "request_thread_control"))
    await emulator.meta.drain()

    [event] = receiver.of_kind("request_thread_control")
    assert event["request_thread_control"] == {"requested_owner_app_id": int(OTHER_APP_ID)}


async def test_release_and_extend_thread_control(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
    clock: Clock,
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "hi")
    ok(await control(graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID))

    assert error_of(await control(graph, ours, "extend_thread_control", duration=3600)) == (
        100,
        2534037,
    )
    too_long = await control(graph, theirs, "extend_thread_control", duration=7 * DAY + 1)
    assert error_of(too_long)[0] == 100
    ok(await control(graph, theirs, "extend_thread_control", duration=3 * DAY))
    [owner] = (await thread_owner(graph, theirs))["data"]
    assert owner["thread_owner"]["expiration"] == int(clock.now()) + 3 * DAY

    await advance(graph, 2 * DAY)  # past the 24 h an unextended pass would last
    assert (await thread_owner(graph, theirs))["data"][0]["thread_owner"]["app_id"] == OTHER_APP_ID
    assert error_of(await control(graph, ours, "release_thread_control")) == (100, 2534037)
    ok(await control(graph, theirs, "release_thread_control"))
    assert await thread_owner(graph, theirs) == {"data": []}

    await emulator.meta.drain()
    clear(receiver, helpdesk)
    await say(graph, "anyone?")  # an idle thread goes to the default app
    await emulator.meta.drain()
    assert said(receiver, "messaging") == ["anyone?"]
    assert said(helpdesk, "standby") == ["anyone?"]


# --- the Page Inbox and time -----------------------------------------------------------------


async def test_a_page_inbox_reply_takes_control_from_the_owner(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, _ = tokens
    await set_default(graph, APP_ID)
    await say(graph, "can a person help?")
    human = await act(graph, "page_inbox_reply", text="Morgan here")
    await say(graph, "thanks Morgan")
    refused = await reply(graph, ours, "bot here")
    await emulator.meta.drain()

    [event] = receiver.of_kind("take_thread_control")
    assert event["take_thread_control"] == {
        "previous_owner_app_id": APP_ID,
        "new_owner_app_id": PAGE_INBOX,
    }
    assert helpdesk.of_kind("take_thread_control") == []
    for r in (receiver, helpdesk):
        [echo] = [e for e in r.of_kind("message", "standby") if "is_echo" in e["message"]]
        assert echo["message"]["mid"] == human["mid"]
        assert echo["message"]["app_id"] == int(PAGE_INBOX)
        assert said(r, "standby")[-1] == "thanks Morgan"
    assert error_of(refused) == (10, 2018300)

    ok(await control(graph, ours, "take_thread_control"))  # the bot takes the thread back
    await say(graph, "bye")
    await emulator.meta.drain()
    assert said(receiver, "messaging")[-1] == "bye"


async def test_thread_control_lapses_after_24_hours_idle(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "hi")
    ok(await control(graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID))
    await advance(graph, DAY + 1)
    assert await thread_owner(graph, theirs) == {"data": []}

    await emulator.meta.drain()
    clear(receiver, helpdesk)
    await say(graph, "a day later")
    await emulator.meta.drain()
    assert said(receiver, "messaging") == ["a day later"]
    assert said(helpdesk, "standby") == ["a day later"]


async def test_control_does_not_lapse_while_the_person_keeps_talking(
    emulator: Emulator,
    graph: httpx.AsyncClient,
    receiver: Receiver,
    helpdesk: Receiver,
    tokens: tuple[str, str],
) -> None:
    ours, theirs = tokens
    await set_default(graph, APP_ID)
    await say(graph, "hi")
    ok(await control(graph, ours, "pass_thread_control", target_app_id=OTHER_APP_ID))
    await advance(graph, DAY - 3600)
    await say(graph, "still here")
    await advance(graph, 2 * 3600)  # 25 h after the pass, 2 h after the last message
    await say(graph, "and now?")
    await emulator.meta.drain()

    assert said(helpdesk, "messaging")[-2:] == ["still here", "and now?"]
    assert said(receiver, "messaging") == ["hi"]
    assert (await thread_owner(graph, theirs))["data"][0]["thread_owner"]["app_id"] == OTHER_APP_ID
