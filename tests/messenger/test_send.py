"""SendClient against the emulator: the exact payloads on the wire, what Messenger shows, and
every refusal turned into its typed error by code and subcode (digest §5, §9)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from frontdesk.emulator import Emulator
from frontdesk.messenger import (
    BadRequest,
    PermissionProblem,
    RetryLater,
    SendClient,
    SendResult,
    TokenBroken,
    TransportError,
    UserUnreachable,
    WindowClosed,
    messages,
)

from .conftest import (
    ADMIN,
    ANA,
    ANA_PSID,
    APP_ID,
    JOAO_PSID,
    PAGE,
    PAGE_INBOX,
    Wire,
    act,
    ok,
    outbox,
    page_token,
)

IMAGE = "https://files.example.com/a.jpg"
FB_PHOTO = "https://www.facebook.com/photo.php?fbid=10150000000000123"


@pytest.fixture
async def token(control: httpx.AsyncClient) -> str:
    """The Page token, with João already in conversation (his window open)."""
    value = await page_token(control)
    await act(control, "message", text="Hi! Do you ship to Lisbon?")
    return value


def body(message: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"recipient": {"id": JOAO_PSID}, "messaging_type": "RESPONSE", "message": message, **top}


# --- every message kind, exactly as sent --------------------------------------------------------

QUICK = [
    messages.quick_reply("Small", "SIZE_S"),
    messages.quick_reply("Large", "SIZE_L", image_url="https://files.example.com/l.png"),
    messages.email_quick_reply(),
]
KINDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "text": (messages.text("We ship to Lisbon."), {"text": "We ship to Lisbon."}),
    "quick replies": (
        messages.text("Which size?", quick_replies=QUICK),
        {
            "text": "Which size?",
            "quick_replies": [
                {"content_type": "text", "title": "Small", "payload": "SIZE_S"},
                {
                    "content_type": "text",
                    "title": "Large",
                    "payload": "SIZE_L",
                    "image_url": "https://files.example.com/l.png",
                },
                {"content_type": "user_email"},
            ],
        },
    ),
    "image by url": (
        messages.attachment("image", url=IMAGE),
        {"attachment": {"type": "image", "payload": {"url": IMAGE}}},
    ),
    "button template": (
        messages.button_template(
            "Pick one",
            [
                messages.postback_button("Track order", "TRACK"),
                messages.url_button(
                    "Our shop", "https://shop.example.com", webview_height_ratio="tall"
                ),
                messages.call_button("Call us", "+351210000000"),
            ],
        ),
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "button",
                    "text": "Pick one",
                    "buttons": [
                        {"type": "postback", "title": "Track order", "payload": "TRACK"},
                        {
                            "type": "web_url",
                            "title": "Our shop",
                            "url": "https://shop.example.com",
                            "webview_height_ratio": "tall",
                        },
                        {"type": "phone_number", "title": "Call us", "payload": "+351210000000"},
                    ],
                },
            }
        },
    ),
    "generic template": (
        messages.generic_template(
            [
                messages.generic_element(
                    "Classic tee",
                    subtitle="100% cotton",
                    image_url=IMAGE,
                    default_url="https://shop.example.com/tee",
                    buttons=[messages.postback_button("Buy", "BUY_TEE")],
                ),
                messages.generic_element("Hoodie"),
            ]
        ),
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "generic",
                    "elements": [
                        {
                            "title": "Classic tee",
                            "subtitle": "100% cotton",
                            "image_url": IMAGE,
                            "default_action": {
                                "type": "web_url",
                                "url": "https://shop.example.com/tee",
                            },
                            "buttons": [{"type": "postback", "title": "Buy", "payload": "BUY_TEE"}],
                        },
                        {"title": "Hoodie"},
                    ],
                },
            }
        },
    ),
    "media template": (
        messages.media_template(
            "image", url=FB_PHOTO, buttons=[messages.url_button("See", "https://shop.example.com")]
        ),
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [
                        {
                            "media_type": "image",
                            "url": FB_PHOTO,
                            "buttons": [
                                {
                                    "type": "web_url",
                                    "title": "See",
                                    "url": "https://shop.example.com",
                                }
                            ],
                        }
                    ],
                },
            }
        },
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_each_kind_goes_out_exactly_and_reaches_the_person(
    sender: SendClient, wire: Wire, control: httpx.AsyncClient, token: str, kind: str
) -> None:
    built, expected = KINDS[kind]
    assert built == expected
    result = await sender.send_message(token, JOAO_PSID, built)

    assert result.recipient_id == JOAO_PSID
    assert result.message_id.startswith("m_")
    assert result.attachment_id is None
    [request] = wire.to("/messages")
    assert request.url.path == "/v25.0/me/messages"
    assert "access_token" not in str(request.url)
    assert request.headers["authorization"] == f"Bearer {token}"
    assert wire.sent_json() == [body(expected)]
    [seen] = await outbox(control)
    assert seen["mid"] == result.message_id
    assert seen["messaging_type"] == "RESPONSE"
    assert seen["text"] == expected.get("text")
    attachment = expected.get("attachment")
    assert seen["attachments"] == ([] if attachment is None else [attachment])
    assert seen["quick_replies"] == expected.get("quick_replies", [])


async def test_every_option_is_sent_as_documented(
    sender: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    quoted = (await outbox_in(control))[-1]["mid"]
    persona = await ok(
        control.post(
            f"/v25.0/{PAGE}/personas",
            params={"access_token": token},
            json={"name": "Morgan", "profile_picture_url": IMAGE},
        )
    )
    result = await sender.send_message(
        token,
        JOAO_PSID,
        messages.text("Morgan here"),
        messaging_type="MESSAGE_TAG",
        tag="HUMAN_AGENT",
        metadata="fd:out:42",
        notification_type="SILENT_PUSH",
        reply_to=quoted,
        persona_id=persona["id"],
        page_id=PAGE,
    )
    assert wire.to("/messages")[0].url.path == f"/v25.0/{PAGE}/messages"
    assert wire.sent_json() == [
        {
            "recipient": {"id": JOAO_PSID},
            "messaging_type": "MESSAGE_TAG",
            "message": {"text": "Morgan here", "metadata": "fd:out:42"},
            "tag": "HUMAN_AGENT",
            "notification_type": "SILENT_PUSH",
            "reply_to": {"mid": quoted},
            "persona_id": persona["id"],
        }
    ]
    [seen] = await outbox(control)
    assert (seen["mid"], seen["metadata"], seen["tag"], seen["reply_to"], seen["persona_id"]) == (
        result.message_id,
        "fd:out:42",
        "HUMAN_AGENT",
        quoted,
        persona["id"],
    )


async def outbox_in(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    conversation = await ok(
        control.get("/_emulator/conversation", params={"page_id": PAGE, "psid": JOAO_PSID})
    )
    return [m for m in conversation["messages"] if m["direction"] == "in"]


async def test_a_reusable_attachment_comes_back_with_an_id_that_can_be_sent_again(
    sender: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    first = await sender.send_message(
        token, JOAO_PSID, messages.attachment("file", url=IMAGE, is_reusable=True)
    )
    assert first.attachment_id
    again = await sender.send_message(
        token, JOAO_PSID, messages.attachment("file", attachment_id=first.attachment_id)
    )
    uploaded = await sender.upload_attachment(token, "image", IMAGE)
    media = await sender.send_message(
        token, JOAO_PSID, messages.media_template("image", attachment_id=uploaded)
    )
    assert wire.sent_json()[:2] == [
        body({"attachment": {"type": "file", "payload": {"url": IMAGE, "is_reusable": True}}}),
        body({"attachment": {"type": "file", "payload": {"attachment_id": first.attachment_id}}}),
    ]
    assert wire.sent_json("/message_attachments") == [
        {
            "message": {
                "attachment": {"type": "image", "payload": {"url": IMAGE, "is_reusable": True}}
            }
        }
    ]
    sent = await outbox(control)
    assert [m["mid"] for m in sent] == [first.message_id, again.message_id, media.message_id]
    assert (
        sent[0]["attachments"][0]["payload"]["url"] == sent[1]["attachments"][0]["payload"]["url"]
    )


async def test_a_checkbox_user_ref_is_answered_without_a_recipient_id(
    sender: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    optin = await act(control, "optin", type="checkbox", ref="cart-42", person_id=ANA)
    result = await sender.send_message(
        token, {"user_ref": optin["user_ref"]}, messages.text("Your order is confirmed")
    )
    assert result == SendResult(recipient_id=None, message_id=result.message_id, usage=result.usage)
    assert wire.sent_json()[0]["recipient"] == {"user_ref": optin["user_ref"]}


async def test_sender_actions_go_alone(
    sender: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    mid = (await outbox_in(control))[-1]["mid"]
    for action in ("mark_seen", "typing_on"):
        result = await sender.sender_action(token, JOAO_PSID, action)
        assert result.recipient_id == JOAO_PSID
    await sender.sender_action(token, JOAO_PSID, "react", message_id=mid, reaction="❤")
    assert wire.sent_json() == [
        {"recipient": {"id": JOAO_PSID}, "sender_action": "mark_seen"},
        {"recipient": {"id": JOAO_PSID}, "sender_action": "typing_on"},
        {
            "recipient": {"id": JOAO_PSID},
            "sender_action": "react",
            "payload": {"message_id": mid, "reaction": "❤"},
        },
    ]
    conversation = await ok(
        control.get("/_emulator/conversation", params={"page_id": PAGE, "psid": JOAO_PSID})
    )
    assert conversation["typing"] is True
    assert conversation["seen_watermark"] > 0
    assert conversation["messages"][-1]["reactions"] == {"page": "❤"}


async def test_usage_headers_are_read_into_the_result(sender: SendClient, token: str) -> None:
    result = await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert result.usage is not None
    [entry] = result.usage.business
    assert (entry.owner_id, entry.type, entry.call_count) == (PAGE, "messenger", 0)


# --- refusals, classified -----------------------------------------------------------------------


async def test_window_closed_after_24_hours(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await ok(control.post("/_emulator/clock/advance", json={"seconds": 25 * 3600}))
    with pytest.raises(WindowClosed) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("too late"))
    error = caught.value
    assert (error.code, error.subcode, error.http_status) == (10, 2018278, 400)
    assert error.is_transient is False
    assert error.fbtrace_id
    assert error.user_title == "Message Not Sent"
    # A human may still answer with HUMAN_AGENT, within 7 days.
    await sender.send_message(
        token,
        JOAO_PSID,
        messages.text("Morgan here"),
        messaging_type="MESSAGE_TAG",
        tag="HUMAN_AGENT",
    )


async def test_development_mode_reaches_only_people_with_a_role(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await act(control, "message", text="hello from a tester", person_id=ANA)
    await ok(control.patch(f"/_emulator/apps/{APP_ID}", json={"mode": "development"}))
    with pytest.raises(PermissionProblem) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.subcode) == (200, 2018028)
    assert caught.value.dev_mode
    assert not caught.value.page_restricted
    assert (await sender.send_message(token, ANA_PSID, messages.text("hi Ana"))).message_id


async def test_a_person_who_blocked_the_page_is_unreachable(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await act(control, "block")
    with pytest.raises(UserUnreachable) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.subcode) == (551, 1545041)


async def test_an_unknown_psid_is_unreachable(sender: SendClient, token: str) -> None:
    with pytest.raises(UserUnreachable) as caught:
        await sender.send_message(token, "7999999999999999", messages.text("hi"))
    assert (caught.value.code, caught.value.subcode) == (100, 2018001)


async def test_a_password_change_breaks_the_token(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await ok(control.post("/_emulator/faults/password-change", json={"person_id": ADMIN}))
    with pytest.raises(TokenBroken) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.subcode) == (190, 460)
    assert caught.value.reason == "password_changed"


async def test_a_restricted_page(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await ok(control.patch(f"/_emulator/pages/{PAGE}", json={"restricted": True}))
    with pytest.raises(PermissionProblem) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.subcode) == (10, 1893063)
    assert caught.value.page_restricted
    assert not caught.value.dev_mode


async def test_another_app_owns_the_thread(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await ok(control.patch(f"/_emulator/pages/{PAGE}", json={"default_app_id": PAGE_INBOX}))
    with pytest.raises(PermissionProblem) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert caught.value.subcode == 2018300
    assert caught.value.thread_owned_elsewhere


async def test_an_injected_613_burst_is_retry_later_with_usage(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    fault = {
        "kind": "error",
        "endpoint": "messages",
        "error": {"code": 613, "message": "(#613) Calls to this api have exceeded the rate limit."},
        "count": 2,
    }
    await ok(control.post("/_emulator/faults", json=fault))
    for _ in range(2):
        with pytest.raises(RetryLater) as caught:
            await sender.send_message(token, JOAO_PSID, messages.text("hi"))
        assert caught.value.code == 613
        assert caught.value.is_transient is True
        assert caught.value.usage is not None
        assert caught.value.usage.highest_percent == 100
    assert (await sender.send_message(token, JOAO_PSID, messages.text("hi"))).message_id


async def test_a_real_burst_over_the_page_rate_limit(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    await ok(control.patch("/_emulator/settings", json={"rate_limits": {"text_per_second": 2}}))
    for _ in range(2):
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    with pytest.raises(RetryLater) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("one too many"))
    assert caught.value.code == 613
    assert caught.value.usage is not None
    assert caught.value.usage.business[0].call_count == 100


async def test_5xx_faults_are_retry_later(
    sender: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    fault = {"kind": "error", "endpoint": "messages", "error": {"code": 2, "status": 503}}
    await ok(control.post("/_emulator/faults", json={**fault, "count": 1}))
    with pytest.raises(RetryLater) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.http_status) == (2, 503)
    unexplained = {"kind": "error", "endpoint": "messages", "error": {"code": 99999, "status": 500}}
    await ok(control.post("/_emulator/faults", json={**unexplained, "count": 1}))
    with pytest.raises(RetryLater) as caught:
        await sender.send_message(token, JOAO_PSID, messages.text("hi"))
    assert (caught.value.code, caught.value.http_status) == (99999, 500)


async def test_a_bad_attachment_id_is_a_bad_request(sender: SendClient, token: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await sender.send_message(
            token, JOAO_PSID, messages.attachment("image", attachment_id="42")
        )
    assert (caught.value.code, caught.value.subcode) == (100, 2018074)


# --- refused locally, before any call -----------------------------------------------------------


def too_many(n: int) -> list[dict[str, Any]]:
    return [{"content_type": "text", "title": f"o{i}", "payload": f"P{i}"} for i in range(n)]


BUTTON = {"type": "postback", "title": "Go", "payload": "GO"}


@pytest.mark.parametrize(
    ("message", "options", "problem"),
    [
        ({"text": "x" * 2000}, {}, "shorter than 2000"),
        ({"text": ""}, {}, "non-empty"),
        ({"text": "hi", "attachment": {"type": "image", "payload": {"url": IMAGE}}}, {}, "one of"),
        ({"text": "hi", "quick_replies": too_many(14)}, {}, "1 to 13"),
        ({"text": "hi", "quick_replies": [{"title": "t" * 21, "payload": "P"}]}, {}, "at most 20"),
        ({"text": "hi", "quick_replies": [{"content_type": "location"}]}, {}, "content_type"),
        (
            {"text": "hi", "quick_replies": [{"title": "t", "payload": "p" * 1001}]},
            {},
            "at most 1000",
        ),
        ({"text": "hi"}, {"metadata": "m" * 1000}, "shorter than 1000"),
        ({"text": "hi", "metadata": "m" * 1000}, {}, "shorter than 1000"),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": "t" * 641, "buttons": [BUTTON]},
                }
            },
            {},
            "at most 640",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": "t", "buttons": [BUTTON] * 4},
                }
            },
            {},
            "1 to 3 buttons",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": "t", "buttons": []},
                }
            },
            {},
            "1 to 3 buttons",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [{"title": "x"}] * 11},
                }
            },
            {},
            "1 to 10 elements",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "generic",
                        "elements": [{"title": "x", "buttons": [{**BUTTON, "title": "t" * 21}]}],
                    },
                }
            },
            {},
            "at most 20",
        ),
        (
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "image", "url": IMAGE}],
                    },
                }
            },
            {},
            "Facebook URL",
        ),
        ({"attachment": {"type": "image", "payload": {}}}, {}, "one of url and attachment_id"),
        ({"attachment": {"type": "sticker", "payload": {"url": IMAGE}}}, {}, "must be one of"),
        ({"text": "hi"}, {"messaging_type": "PROMO"}, "messaging_type"),
        ({"text": "hi"}, {"messaging_type": "MESSAGE_TAG"}, "needs a tag"),
        ({"text": "hi"}, {"tag": "HUMAN_AGENT"}, "needs messaging_type"),
        (
            {"text": "hi"},
            {"messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE"},
            "retired",
        ),
        ({"text": "hi"}, {"notification_type": "LOUD"}, "notification_type"),
    ],
)
async def test_limits_are_checked_before_calling(
    sender: SendClient, wire: Wire, token: str, message: Any, options: Any, problem: str
) -> None:
    with pytest.raises(BadRequest, match=problem) as caught:
        await sender.send_message(token, JOAO_PSID, message, **options)
    assert caught.value.code is None
    assert caught.value.http_status is None
    assert wire.to("/messages") == []


def test_the_builders_refuse_what_meta_would() -> None:
    with pytest.raises(BadRequest, match="at most 20"):
        messages.quick_reply("a title that is too long", "P")
    with pytest.raises(BadRequest, match="at most 20"):
        messages.postback_button("a title that is too long", "P")
    with pytest.raises(BadRequest, match="phone number"):
        messages.call_button("Call", "210000000")
    with pytest.raises(BadRequest, match="at most 80"):
        messages.generic_element("t" * 81)
    with pytest.raises(BadRequest, match="exactly one of url and attachment_id"):
        messages.media_template("video")
    with pytest.raises(BadRequest, match="1 to 3 buttons"):
        messages.button_template("t", [])
    assert messages.text("x" * 1999) == {"text": "x" * 1999}


@pytest.mark.parametrize(
    ("recipient", "problem"),
    [("", "empty"), ({"id": "1", "user_ref": "u"}, "exactly one"), ({"phone_number": "+1"}, "one")],
)
async def test_recipients_are_checked(
    sender: SendClient, wire: Wire, token: str, recipient: Any, problem: str
) -> None:
    with pytest.raises(BadRequest, match=problem):
        await sender.send_message(token, recipient, messages.text("hi"))
    assert wire.requests == []


async def test_sender_actions_are_checked(sender: SendClient, wire: Wire, token: str) -> None:
    with pytest.raises(BadRequest, match="message_id"):
        await sender.sender_action(token, JOAO_PSID, "react", reaction="❤")
    with pytest.raises(BadRequest, match="reaction"):
        await sender.sender_action(token, JOAO_PSID, "react", message_id="m_1")
    with pytest.raises(BadRequest, match="sender_action"):
        await sender.sender_action(token, JOAO_PSID, "dance")  # type: ignore[arg-type]
    assert wire.requests == []


# --- transport failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "may_have_arrived"),
    [
        (httpx.ConnectError("connection refused"), False),
        (httpx.ConnectTimeout("no connection"), False),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.RemoteProtocolError("peer closed"), True),
    ],
)
async def test_transport_failures_are_retry_later(
    failure: Exception, may_have_arrived: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as http:
        client = SendClient(http, "https://graph.facebook.com")
        with pytest.raises(TransportError) as caught:
            await client.send_message("EAAtoken", JOAO_PSID, messages.text("hi"))
    assert isinstance(caught.value, RetryLater)
    assert caught.value.code is None
    assert caught.value.__cause__ is failure
    assert caught.value.may_have_arrived is may_have_arrived
    assert "EAAtoken" not in str(caught.value)


async def test_over_real_sockets_only_a_refused_connection_proves_nothing_arrived() -> None:
    """A server that takes the request and never answers may have acted on it; a closed port
    cannot have."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read(65536)  # the request arrives; no answer ever leaves

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    silent = server.sockets[0].getsockname()[1]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as http:
            outcomes = {}
            for port in (silent, closed):
                client = SendClient(http, f"http://127.0.0.1:{port}")
                with pytest.raises(TransportError) as caught:
                    await client.send_message("EAAtoken", JOAO_PSID, messages.text("hi"))
                outcomes[port] = caught.value.may_have_arrived
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert outcomes == {silent: True, closed: False}


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (502, b"<html>Bad gateway</html>", RetryLater),
        (200, b"<html>captive portal</html>", TransportError),
        (200, b'{"recipient_id": "1"}', TransportError),
        (404, b"not found", BadRequest),
    ],
)
async def test_answers_that_are_not_graphs_are_typed_too(
    status: int, content: bytes, kind: type[Exception]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = SendClient(http, "https://graph.facebook.com")
        with pytest.raises(kind):
            await client.send_message("EAAtoken", JOAO_PSID, messages.text("hi"))


async def test_graph_url_and_version_make_the_url(emulator: Emulator) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"recipient_id": "1", "message_id": "m_1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        await SendClient(http, "https://graph.facebook.com/").send_message(
            "t", "1", messages.text("hi"), page_id=PAGE
        )
        await SendClient(http, "https://graph.facebook.com", "v19.0").send_message(
            "t", "1", messages.text("hi")
        )
        await SendClient(http, "https://graph.facebook.com", "").send_message(
            "t", "1", messages.text("hi")
        )
    assert seen == [
        f"https://graph.facebook.com/v25.0/{PAGE}/messages",
        "https://graph.facebook.com/v19.0/me/messages",
        "https://graph.facebook.com/me/messages",
    ]
    with pytest.raises(ValueError, match=r"v25\.0"):
        SendClient(httpx.AsyncClient(), "https://graph.facebook.com", "25")
