"""Meta's rules on the Send API (digest §5.4, §6, §9-§11): who may be messaged, when, how often.

Also the Send API faults injected through the control API, and what a send leaves behind.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from frontdesk.emulator import Emulator, psid_for

from .conftest import (
    ADMIN,
    ANA,
    APP_ID,
    CHLOE,
    JOAO,
    PAGE,
    PAGE2,
    Receiver,
    connect,
    page_token,
    say,
    send,
)
from .test_send import PSID, advance, assert_sent, conversation, graph_error, outbox, reply

HOUR = 3600
DAY = 24 * HOUR


@pytest.fixture
async def token(graph: httpx.AsyncClient) -> str:
    """A Page token for PAGE, and João has just written to it: his window is open."""
    value = await page_token(graph)
    await say(graph, "Olá")
    return value


async def act(graph: httpx.AsyncClient, action: str, **body: Any) -> dict[str, Any]:
    response = await graph.post(
        f"/_emulator/act/{action}", json={"page_id": PAGE, "person_id": JOAO, **body}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def control(
    graph: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await graph.request(method, f"/_emulator/{path}", json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def tagged(tag: str | None, message: dict[str, Any] | None = None) -> dict[str, Any]:
    return reply(message or {"text": "An agent here"}, messaging_type="MESSAGE_TAG", tag=tag)


def window_closed(response: httpx.Response) -> None:
    error = graph_error(response, 10, 2018278)
    assert error["message"].startswith("(#10) This message is sent outside of allowed window.")
    assert error["error_user_title"] == "Message Not Sent"
    assert error["error_user_msg"]
    assert error["is_transient"] is False


# --- the 24-hour window ---------------------------------------------------------------------


async def test_the_window_lasts_24_hours(graph: httpx.AsyncClient, token: str) -> None:
    await advance(graph, DAY - 60)
    assert_sent(await send(graph, token, reply({"text": "at 23:59"})))
    await advance(graph, 60)
    window_closed(await send(graph, token, reply({"text": "at 24:00"})))
    window_closed(await send(graph, token, reply({"text": "update"}, messaging_type="UPDATE")))
    window_closed(
        await send(graph, token, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    )
    assert [m["text"] for m in await outbox(graph)] == ["at 23:59"]
    assert (await conversation(graph))["window_open"] is False


async def test_update_is_fine_inside_the_window(graph: httpx.AsyncClient, token: str) -> None:
    assert_sent(await send(graph, token, reply({"text": "new stock"}, messaging_type="UPDATE")))
    assert (await outbox(graph))[0]["messaging_type"] == "UPDATE"


async def test_the_window_counts_from_the_last_user_message(
    graph: httpx.AsyncClient, token: str
) -> None:
    await advance(graph, 20 * HOUR)
    await say(graph, "still there?")
    await advance(graph, 20 * HOUR)  # 40 h after the first message, 20 h after the last
    assert_sent(await send(graph, token, reply({"text": "yes"})))


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("message", {"text": "back again"}),
        ("postback", {"title": "Track order", "payload": "TRACK"}),
        ("reaction", {"emoji": "❤️"}),
        ("referral", {"ref": "store_qr_7"}),
        ("optin", {"ref": "checkout_page"}),
    ],
)
async def test_a_user_action_reopens_the_window(
    graph: httpx.AsyncClient, token: str, action: str, body: dict[str, Any]
) -> None:
    first = assert_sent(await send(graph, token, reply({"text": "Anything else?"})))
    await advance(graph, 2 * DAY)
    window_closed(await send(graph, token, reply({"text": "too late"})))
    if action == "reaction":
        body = {**body, "mid": first["message_id"]}
    await act(graph, action, **body)
    assert_sent(await send(graph, token, reply({"text": "welcome back"})))
    assert [m["text"] for m in await outbox(graph)] == ["Anything else?", "welcome back"]


async def test_delivery_and_read_do_not_reopen_the_window(
    graph: httpx.AsyncClient, token: str
) -> None:
    assert_sent(await send(graph, token, reply({"text": "Anything else?"})))
    await advance(graph, 2 * DAY)
    assert (await act(graph, "read"))["watermark"] > 0
    await act(graph, "delivery")
    window_closed(await send(graph, token, reply({"text": "too late"})))


async def test_a_page_inbox_reply_does_not_reopen_the_window(
    graph: httpx.AsyncClient, token: str
) -> None:
    await advance(graph, 2 * DAY)
    await act(graph, "page_inbox_reply", text="A human here")
    window_closed(await send(graph, token, reply({"text": "bot"})))


# --- message tags ---------------------------------------------------------------------------


async def test_message_tag_and_tag_go_together(graph: httpx.AsyncClient, token: str) -> None:
    graph_error(await send(graph, token, tagged(None)), 100)
    graph_error(await send(graph, token, reply({"text": "x"}, tag="HUMAN_AGENT")), 100)
    update = reply({"text": "x"}, messaging_type="UPDATE", tag="HUMAN_AGENT")
    graph_error(await send(graph, token, update), 100)
    graph_error(await send(graph, token, tagged("SHIPPING_NEWS")), 100)
    assert await outbox(graph) == []


async def test_human_agent_reaches_up_to_seven_days(graph: httpx.AsyncClient, token: str) -> None:
    await advance(graph, 2 * DAY)
    window_closed(await send(graph, token, reply({"text": "bot"})))
    assert_sent(await send(graph, token, tagged("HUMAN_AGENT")))
    await advance(graph, 5 * DAY - 60)
    assert_sent(await send(graph, token, tagged("HUMAN_AGENT", {"text": "7 days - 1 min"})))
    await advance(graph, 60)
    window_closed(await send(graph, token, tagged("HUMAN_AGENT", {"text": "7 days"})))
    records = await outbox(graph)
    assert [(r["messaging_type"], r["tag"]) for r in records] == [
        ("MESSAGE_TAG", "HUMAN_AGENT")
    ] * 2


async def test_human_agent_needs_the_feature(graph: httpx.AsyncClient, token: str) -> None:
    await control(graph, "PATCH", f"apps/{APP_ID}", {"features": []})
    refused = await send(graph, token, tagged("HUMAN_AGENT"))
    graph_error(refused, 10)
    await advance(graph, 2 * DAY)
    graph_error(await send(graph, token, tagged("HUMAN_AGENT")), 10)
    await control(graph, "PATCH", f"apps/{APP_ID}", {"features": ["human_agent"]})
    assert_sent(await send(graph, token, tagged("HUMAN_AGENT")))
    assert len(await outbox(graph)) == 1


CUSTOMER_FEEDBACK = {
    "attachment": {
        "type": "template",
        "payload": {
            "template_type": "customer_feedback",
            "title": "Rate your experience",
            "subtitle": "Let us know how we did",
            "button_title": "Rate now",
            "feedback_screens": [
                {"questions": [{"id": "q1", "type": "csat", "title": "How was it?"}]}
            ],
        },
    }
}


async def test_customer_feedback_only_with_its_template(
    graph: httpx.AsyncClient, token: str
) -> None:
    await advance(graph, 3 * DAY)
    graph_error(await send(graph, token, tagged("CUSTOMER_FEEDBACK")), 100)
    assert_sent(await send(graph, token, tagged("CUSTOMER_FEEDBACK", CUSTOMER_FEEDBACK)))
    await advance(graph, 4 * DAY)
    window_closed(await send(graph, token, tagged("CUSTOMER_FEEDBACK", CUSTOMER_FEEDBACK)))
    [record] = await outbox(graph)
    assert record["tag"] == "CUSTOMER_FEEDBACK"


@pytest.mark.parametrize(
    "tag", ["ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "SHIPPING_UPDATE"]
)
async def test_retired_tags_are_error_100(graph: httpx.AsyncClient, token: str, tag: str) -> None:
    error = graph_error(await send(graph, token, tagged(tag)), 100)
    assert tag in error["message"]
    assert await outbox(graph) == []


# --- messaging_type ---------------------------------------------------------------------------


async def test_messaging_type_lenient_by_default_strict_on_demand(
    graph: httpx.AsyncClient, token: str
) -> None:
    bare = {"recipient": {"id": PSID}, "message": {"text": "no type"}}
    assert_sent(await send(graph, token, bare))
    assert (await outbox(graph))[0]["messaging_type"] == "RESPONSE"
    graph_error(await send(graph, token, {**bare, "messaging_type": "REPLY"}), 100)

    settings = await control(graph, "PATCH", "settings", {"meta": {"strict_messaging_type": True}})
    assert settings["meta"]["strict_messaging_type"] is True
    graph_error(await send(graph, token, bare), 100)
    graph_error(await send(graph, token, {**bare, "messaging_type": "REPLY"}), 100)
    assert_sent(await send(graph, token, {**bare, "messaging_type": "RESPONSE"}))
    # Sender actions carry no messaging_type, in strict mode too.
    typing = await send(graph, token, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    assert typing.json() == {"recipient_id": PSID}
    assert len(await outbox(graph)) == 2


# --- app modes (digest §11) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        {"mode": "development"},
        {
            "mode": "live",
            "permissions": {
                "pages_show_list": "advanced",
                "pages_messaging": "standard",
                "pages_manage_metadata": "advanced",
            },
        },
    ],
    ids=["development", "live-standard-access"],
)
async def test_only_people_with_a_role_can_be_messaged(
    graph: httpx.AsyncClient, token: str, patch: dict[str, Any]
) -> None:
    await say(graph, "Oi", person=ANA)
    await control(graph, "PATCH", f"apps/{APP_ID}", patch)
    error = graph_error(await send(graph, token, reply({"text": "hello João"})), 200, 2018028)
    assert "pages_messaging" in error["message"]
    ana = psid_for(PAGE, ANA)
    assert_sent(await send(graph, token, reply({"text": "hello Ana"}, to=ana)), ana)
    assert await outbox(graph) == []
    assert [m["text"] for m in await outbox(graph, ana)] == ["hello Ana"]


# --- per-Page rate limits (digest §10) ------------------------------------------------------


def usage(response: httpx.Response) -> dict[str, Any]:
    body = json.loads(response.headers["x-business-use-case-usage"])
    assert set(body) == {PAGE}
    [entry] = body[PAGE]
    assert set(entry) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }
    assert entry["type"] == "messenger"
    result: dict[str, Any] = entry
    return result


def throttled(response: httpx.Response) -> None:
    error = graph_error(response, 613)  # HTTP 400, never 429 (digest §10)
    assert error["is_transient"] is True
    assert usage(response)["call_count"] == 100


async def test_300_text_calls_per_second_per_page(graph: httpx.AsyncClient, token: str) -> None:
    for i in range(300):
        response = await send(graph, token, reply({"text": f"#{i}"}))
        assert response.status_code == 200, (i, response.text)
        if i == 149:
            assert usage(response)["call_count"] == 50
    assert usage(response)["call_count"] == 100
    throttled(await send(graph, token, reply({"text": "#300"})))
    # A sender action counts against the same limit.
    throttled(await send(graph, token, {"recipient": {"id": PSID}, "sender_action": "mark_seen"}))
    assert len(await outbox(graph)) == 300

    await advance(graph, 1)
    assert_sent(await send(graph, token, reply({"text": "next second"})))
    assert len(await outbox(graph)) == 301


async def test_the_limit_is_per_page(graph: httpx.AsyncClient, token: str) -> None:
    await control(graph, "PATCH", "settings", {"rate_limits": {"text_per_second": 2}})
    other = await page_token(graph, PAGE2)
    await say(graph, "hi", page=PAGE2)
    psid2 = psid_for(PAGE2, JOAO)
    for _ in range(2):
        assert_sent(await send(graph, token, reply({"text": "x"})))
    throttled(await send(graph, token, reply({"text": "x"})))
    assert_sent(await send(graph, other, reply({"text": "y"}, to=psid2)), psid2)


def _media_message(kind: str) -> dict[str, Any]:
    return {"attachment": {"type": kind, "payload": {"url": f"https://x.test/{kind}.mp4"}}}


async def test_10_audio_or_video_calls_per_second_apart_from_text(
    graph: httpx.AsyncClient, token: str
) -> None:
    for i in range(10):
        response = await send(graph, token, reply(_media_message(("audio", "video")[i % 2])))
        assert response.status_code == 200, (i, response.text)
    throttled(await send(graph, token, reply(_media_message("video"))))
    throttled(await send(graph, token, reply(_media_message("audio"))))
    # Text, images and files have their own, larger budget in the same second.
    assert_sent(await send(graph, token, reply({"text": "text still flows"})))
    assert_sent(await send(graph, token, reply(_media_message("image"))))
    assert_sent(await send(graph, token, reply(_media_message("file"))))
    await advance(graph, 1)
    assert_sent(await send(graph, token, reply(_media_message("audio"))))
    assert len(await outbox(graph)) == 14


# --- Page and person states -------------------------------------------------------------------


async def test_a_restricted_page_cannot_send(graph: httpx.AsyncClient, token: str) -> None:
    await control(graph, "PATCH", f"pages/{PAGE}", {"restricted": True})
    graph_error(await send(graph, token, reply({"text": "x"})), 10, 1893063)
    await control(graph, "PATCH", f"pages/{PAGE}", {"restricted": False})
    assert_sent(await send(graph, token, reply({"text": "y"})))
    assert [m["text"] for m in await outbox(graph)] == ["y"]


async def test_a_person_who_blocked_the_page_is_551(graph: httpx.AsyncClient, token: str) -> None:
    await act(graph, "block")
    graph_error(await send(graph, token, reply({"text": "x"})), 551, 1545041)
    graph_error(
        await send(graph, token, {"recipient": {"id": PSID}, "sender_action": "typing_on"}),
        551,
        1545041,
    )
    await act(graph, "unblock")
    assert_sent(await send(graph, token, reply({"text": "y"})))
    assert [m["text"] for m in await outbox(graph)] == ["y"]


@pytest.mark.parametrize(
    "psid",
    [
        "7301234567890123",
        psid_for(PAGE, CHLOE),  # a real person who never wrote to the Page
        psid_for(PAGE2, JOAO),  # João, but his PSID on the other Page
        psid_for(PAGE, ADMIN),
    ],
    ids=["unknown", "never-wrote", "other-page", "admin-never-wrote"],
)
async def test_no_matching_user_is_2018001(graph: httpx.AsyncClient, token: str, psid: str) -> None:
    response = await send(graph, token, reply({"text": "x"}, to=psid))
    error = graph_error(response, 100, 2018001)
    assert error["message"] == "(#100) No matching user found"
    typing = await send(graph, token, {"recipient": {"id": psid}, "sender_action": "typing_on"})
    graph_error(typing, 100, 2018001)


async def test_user_ref_from_a_checkbox_optin_works_once(
    graph: httpx.AsyncClient, token: str
) -> None:
    optin = await graph.post(
        "/_emulator/act/optin",
        json={"page_id": PAGE, "person_id": CHLOE, "type": "checkbox", "ref": "x"},
    )
    user_ref = optin.json()["user_ref"]
    body = {"recipient": {"user_ref": user_ref}, "message": {"text": "Your order is confirmed"}}
    first = await send(graph, token, body)
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"message_id"}  # no recipient_id for user_ref (digest §5.7)
    graph_error(await send(graph, token, body), 100)
    unknown = {"recipient": {"user_ref": "ur_unknown"}, "message": {"text": "x"}}
    graph_error(await send(graph, token, unknown), 100, 2018001)
    chloe = psid_for(PAGE, CHLOE)
    assert [m["text"] for m in await outbox(graph, chloe)] == ["Your order is confirmed"]
    # The opt-in alone opens no window for a plain send to her PSID.
    graph_error(await send(graph, token, reply({"text": "x"}, to=chloe)), 100, 2018001)


async def test_a_refused_send_does_not_spend_the_user_ref(
    graph: httpx.AsyncClient, token: str
) -> None:
    optin = await graph.post(
        "/_emulator/act/optin",
        json={"page_id": PAGE, "person_id": CHLOE, "type": "checkbox", "ref": "x"},
    )
    body = {"recipient": {"user_ref": optin.json()["user_ref"]}, "message": {"text": "Hi"}}
    await act(graph, "block", person_id=CHLOE)
    graph_error(await send(graph, token, body), 551, 1545041)
    await act(graph, "unblock", person_id=CHLOE)
    assert set((await send(graph, token, body)).json()) == {"message_id"}


async def test_a_user_ref_of_another_page(graph: httpx.AsyncClient, token: str) -> None:
    optin = await graph.post(
        "/_emulator/act/optin",
        json={"page_id": PAGE2, "person_id": CHLOE, "type": "checkbox", "ref": "x"},
    )
    body = {"recipient": {"user_ref": optin.json()["user_ref"]}, "message": {"text": "x"}}
    graph_error(await send(graph, token, body), 100, 2018001)


# --- faults on the Send API -----------------------------------------------------------------


async def faults(graph: httpx.AsyncClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await control(graph, "GET", "faults"))["data"]
    return data


async def test_a_5xx_fault_until_cleared(graph: httpx.AsyncClient, token: str) -> None:
    fault = await control(graph, "POST", "faults", {"kind": "error", "endpoint": "messages"})
    assert fault["remaining"] is None
    for _ in range(2):
        error = graph_error(await send(graph, token, reply({"text": "x"})), 2, status=503)
        assert error["is_transient"] is True
    assert [f["id"] for f in await faults(graph)] == [fault["id"]]
    assert await outbox(graph) == []

    assert (await control(graph, "DELETE", "faults")) == {"cleared": 1}
    assert await faults(graph) == []
    assert_sent(await send(graph, token, reply({"text": "back"})))


async def test_a_613_burst_then_back_to_normal(graph: httpx.AsyncClient, token: str) -> None:
    spec = {"kind": "error", "endpoint": "messages", "count": 3, "error": {"code": 613}}
    await control(graph, "POST", "faults", spec)
    for left in (2, 1, 0):
        response = await send(graph, token, reply({"text": "x"}))
        throttled(response)
        assert [f["remaining"] for f in await faults(graph)] == ([left] if left else [])
    assert_sent(await send(graph, token, reply({"text": "after the burst"})))
    assert [m["text"] for m in await outbox(graph)] == ["after the burst"]


async def test_a_custom_error_fault(graph: httpx.AsyncClient, token: str) -> None:
    spec = {
        "kind": "error",
        "endpoint": "messages",
        "count": 1,
        "error": {"code": 10, "subcode": 2018108, "message": "(#10) Not right now", "status": 400},
    }
    await control(graph, "POST", "faults", spec)
    error = graph_error(await send(graph, token, reply({"text": "x"})), 10, 2018108)
    assert error["message"] == "(#10) Not right now"
    assert "is_transient" not in error
    assert_sent(await send(graph, token, reply({"text": "y"})))


async def test_latency_fault_counts_down(graph: httpx.AsyncClient, token: str) -> None:
    spec = {"kind": "latency", "endpoint": "messages", "seconds": 0.001, "count": 2}
    created = await control(graph, "POST", "faults", spec)
    assert (created["kind"], created["seconds"], created["remaining"]) == ("latency", 0.001, 2)
    assert_sent(await send(graph, token, reply({"text": "slow 1"})))
    assert [f["remaining"] for f in await faults(graph)] == [1]
    assert_sent(await send(graph, token, reply({"text": "slow 2"})))
    assert await faults(graph) == []
    assert len(await outbox(graph)) == 2


async def test_faults_are_scoped_and_cleared_one_by_one(
    graph: httpx.AsyncClient, token: str
) -> None:
    elsewhere = await control(
        graph, "POST", "faults", {"kind": "error", "endpoint": "messages", "page_id": PAGE2}
    )
    other_endpoint = await control(
        graph, "POST", "faults", {"kind": "error", "endpoint": "subscribed_apps"}
    )
    assert_sent(await send(graph, token, reply({"text": "unaffected"})))
    here = await control(
        graph, "POST", "faults", {"kind": "error", "endpoint": "messages", "page_id": PAGE}
    )
    graph_error(await send(graph, token, reply({"text": "x"})), 2, status=503)
    assert (await control(graph, "DELETE", f"faults/{here['id']}")) == {"cleared": 1}
    assert_sent(await send(graph, token, reply({"text": "again"})))
    assert [f["id"] for f in await faults(graph)] == [elsewhere["id"], other_endpoint["id"]]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "earthquake"},
        {"kind": "error", "endpoint": "nowhere"},
        {"kind": "error", "count": 0},
        {"kind": "error", "error": {"code": "two"}},
        {"kind": "latency", "seconds": -1},
        {"kind": "latency", "seconds": 3600},
    ],
)
async def test_bad_fault_specs_are_400(graph: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    response = await graph.post("/_emulator/faults", json=spec)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert await faults(graph) == []


# --- what a send leaves behind ----------------------------------------------------------------


async def test_sent_and_transcript_record_every_successful_send(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "Olá")
    sends = [
        reply({"text": "one", "metadata": "fd:1"}),
        reply({"text": "two"}, messaging_type="UPDATE"),
        reply({"attachment": {"type": "image", "payload": {"url": "https://x.test/a.png"}}}),
    ]
    mids = [assert_sent(await send(graph, token, body))["message_id"] for body in sends]
    # Refused sends: outside any rule, each leaves nothing behind.
    graph_error(await send(graph, token, reply({"text": "x" * 2000})), 100)
    graph_error(await send(graph, token, tagged("ACCOUNT_UPDATE")), 100)
    await advance(graph, 2 * DAY)
    window_closed(await send(graph, token, reply({"text": "late"})))
    assert_sent(
        await send(graph, token, tagged("HUMAN_AGENT", {"text": "agent", "metadata": "fd:4"}))
    )

    records = await outbox(graph)
    assert [r["mid"] for r in records[:3]] == mids
    assert [(r["text"], r["messaging_type"], r["tag"], r["metadata"]) for r in records] == [
        ("one", "RESPONSE", None, "fd:1"),
        ("two", "UPDATE", None, None),
        (None, "RESPONSE", None, None),
        ("agent", "MESSAGE_TAG", "HUMAN_AGENT", "fd:4"),
    ]
    transcript = (await conversation(graph))["messages"]
    assert [m["direction"] for m in transcript] == ["in", "out", "out", "out", "out"]
    assert [m["mid"] for m in transcript[1:]] == [r["mid"] for r in records]

    await emulator.meta.drain()
    echoes = [e["message"] for e in receiver.of_kind("message") if e["message"].get("is_echo")]
    assert [e["mid"] for e in echoes] == [r["mid"] for r in records]
    assert [e.get("metadata") for e in echoes] == ["fd:1", None, None, "fd:4"]
    assert all(e["app_id"] == int(APP_ID) for e in echoes)
