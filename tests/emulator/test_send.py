"""The Send API (digest §5): every message kind, its limits, sender actions and hostile input.

Rules that decide *whether* a Page may message someone (window, tags, modes, rate limits,
faults) live in test_rules.py; this file checks *what* may be sent and how it is answered.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.emulator import Emulator, psid_for

from .conftest import (
    APP_ID,
    JOAO,
    PAGE,
    PAGE2,
    Receiver,
    connect,
    page_token,
    say,
    send,
    user_token,
)
from .conftest import (
    graph_error as shared_graph_error,
)

PSID = psid_for(PAGE, JOAO)
ERROR_KEYS = {
    "message",
    "type",
    "code",
    "error_subcode",
    "error_user_title",
    "error_user_msg",
    "is_transient",
    "error_data",
    "fbtrace_id",
}
SUCCESS_KEYS = {"recipient_id", "message_id", "attachment_id"}
FB_PHOTO = "https://www.facebook.com/photo.php?fbid=10150000000000123"


# --- helpers shared with test_rules.py ------------------------------------------------------


def graph_error(
    response: httpx.Response, code: int, subcode: int | None = None, *, status: int = 400
) -> dict[str, Any]:
    """The shared envelope check, stricter: exact subcode (None = absent), known keys and
    type, and the `(#code)` prefix Send API errors carry."""
    error = shared_graph_error(response, code, subcode, status=status)
    assert set(error) <= ERROR_KEYS, error
    assert error["type"] in ("OAuthException", "GraphMethodException", "FacebookApiException")
    if code not in (104, 190):  # token errors carry no "(#code)" prefix
        assert error["message"].startswith(f"(#{code}) "), error["message"]
    return error


def reply(message: dict[str, Any] | None = None, *, to: str = PSID, **top: Any) -> dict[str, Any]:
    """A Send API body to `to`, RESPONSE by default; `top` adds or overrides top-level params."""
    body: dict[str, Any] = {"recipient": {"id": to}, "messaging_type": "RESPONSE"}
    if message is not None:
        body["message"] = message
    body.update(top)
    return {k: v for k, v in body.items() if v is not None}


async def outbox(
    graph: httpx.AsyncClient, psid: str = PSID, page: str = PAGE
) -> list[dict[str, Any]]:
    response = await graph.get("/_emulator/sent", params={"page_id": page, "psid": psid})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def conversation(
    graph: httpx.AsyncClient, psid: str = PSID, page: str = PAGE
) -> dict[str, Any]:
    response = await graph.get("/_emulator/conversation", params={"page_id": page, "psid": psid})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def advance(graph: httpx.AsyncClient, seconds: float) -> None:
    response = await graph.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def upload(
    graph: httpx.AsyncClient, token: str, attachment: dict[str, Any], page: str = "me"
) -> httpx.Response:
    return await graph.post(
        f"/v25.0/{page}/message_attachments",
        params={"access_token": token},
        json={"message": {"attachment": attachment}},
    )


def assert_sent(response: httpx.Response, psid: str = PSID) -> dict[str, Any]:
    """A success body: exactly recipient_id + message_id (+ attachment_id when reusable)."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["recipient_id"] == psid
    assert body["message_id"].startswith("m_")
    assert set(body) <= SUCCESS_KEYS
    return body


@pytest.fixture
async def token(graph: httpx.AsyncClient) -> str:
    """A Page token for PAGE, and João has written to it: his window is open."""
    value = await page_token(graph)
    await say(graph, "Olá")
    return value


# --- success shape, paths, auth and parameter encodings ------------------------------------


async def test_text_answers_recipient_and_message_id_and_is_recorded(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await send(graph, token, reply({"text": "Yes, 2-3 days."}))
    body = assert_sent(response)
    assert set(body) == {"recipient_id", "message_id"}
    [record] = await outbox(graph)
    assert record["mid"] == body["message_id"]
    assert record["direction"] == "out"
    assert record["text"] == "Yes, 2-3 days."
    assert record["app_id"] == APP_ID
    assert (record["messaging_type"], record["tag"], record["metadata"]) == ("RESPONSE", None, None)
    texts = [m["text"] for m in (await conversation(graph))["messages"]]
    assert texts == ["Olá", "Yes, 2-3 days."]


async def test_me_and_the_page_id_are_the_same_page(graph: httpx.AsyncClient, token: str) -> None:
    assert_sent(await send(graph, token, reply({"text": "via me"}), page="me"))
    assert_sent(await send(graph, token, reply({"text": "via id"}), page=PAGE))
    other = await send(graph, token, reply({"text": "wrong page"}), page=PAGE2)
    graph_error(other, 10)
    assert [m["text"] for m in await outbox(graph)] == ["via me", "via id"]


async def test_any_version_prefix_or_none(graph: httpx.AsyncClient, token: str) -> None:
    for path in ("/v19.0/me/messages", "/v26.0/me/messages", "/me/messages"):
        response = await graph.post(
            path, params={"access_token": token}, json=reply({"text": path})
        )
        assert_sent(response)
    assert len(await outbox(graph)) == 3


async def test_bearer_header_or_access_token_param(graph: httpx.AsyncClient, token: str) -> None:
    bearer = await graph.post(
        "/v25.0/me/messages",
        headers={"Authorization": f"Bearer {token}"},
        json=reply({"text": "bearer"}),
    )
    assert_sent(bearer)
    in_body = await graph.post(
        "/v25.0/me/messages", json={**reply({"text": "body"}), "access_token": token}
    )
    assert_sent(in_body)
    missing = await graph.post("/v25.0/me/messages", json=reply({"text": "none"}))
    graph_error(missing, 104)
    garbage = await graph.post(
        "/v25.0/me/messages", headers={"Authorization": "Bearer nope"}, json=reply({"text": "x"})
    )
    graph_error(garbage, 190)
    assert [m["text"] for m in await outbox(graph)] == ["bearer", "body"]


async def test_a_user_token_cannot_send(graph: httpx.AsyncClient, token: str) -> None:
    response = await send(graph, await user_token(graph), reply({"text": "x"}), page=PAGE)
    graph_error(response, 190)
    assert await outbox(graph) == []


async def test_form_encoded_params_hold_json_strings(graph: httpx.AsyncClient, token: str) -> None:
    response = await graph.post(
        "/v25.0/me/messages",
        data={
            "recipient": json.dumps({"id": PSID}),
            "messaging_type": "UPDATE",
            "message": json.dumps({"text": "form body", "metadata": "fd:form"}),
            "access_token": token,
        },
    )
    assert_sent(response)
    [record] = await outbox(graph)
    assert (record["text"], record["messaging_type"], record["metadata"]) == (
        "form body",
        "UPDATE",
        "fd:form",
    )


async def test_single_quoted_pseudo_json_as_in_metas_curl_samples(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await graph.post(
        "/v25.0/me/messages",
        params={
            "recipient": f"{{'id':'{PSID}'}}",
            "messaging_type": "RESPONSE",
            "message": "{'text':'hello, world'}",
            "access_token": token,
        },
    )
    assert_sent(response)
    assert [m["text"] for m in await outbox(graph)] == ["hello, world"]


async def test_a_numeric_psid_is_accepted(graph: httpx.AsyncClient, token: str) -> None:
    response = await send(graph, token, {"recipient": {"id": int(PSID)}, "message": {"text": "n"}})
    assert_sent(response)


# --- text, metadata, sticker, reply_to, persona, notification_type -------------------------


@pytest.mark.parametrize(("length", "ok"), [(1, True), (1999, True), (2000, False), (5000, False)])
async def test_text_must_be_shorter_than_2000(
    graph: httpx.AsyncClient, token: str, length: int, ok: bool
) -> None:
    # The digest says "< 2000 characters"; we keep that stricter reading (send.MAX_TEXT).
    response = await send(graph, token, reply({"text": "é" * length}))
    if ok:
        assert_sent(response)
        assert len((await outbox(graph))[0]["text"]) == length
    else:
        graph_error(response, 100)
        assert await outbox(graph) == []


@pytest.mark.parametrize(("length", "ok"), [(999, True), (1000, False)])
async def test_metadata_must_be_shorter_than_1000(
    graph: httpx.AsyncClient, token: str, length: int, ok: bool
) -> None:
    response = await send(graph, token, reply({"text": "t", "metadata": "m" * length}))
    if ok:
        assert_sent(response)
        assert (await outbox(graph))[0]["metadata"] == "m" * length
    else:
        graph_error(response, 100)
        assert await outbox(graph) == []


async def test_metadata_comes_back_in_the_echo_with_a_numeric_app_id(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "hi")
    response = await send(graph, token, reply({"text": "tagged", "metadata": "conn:msg:8f1c2"}))
    mid = assert_sent(response)["message_id"]
    await emulator.meta.drain()
    [echo] = [e for e in receiver.of_kind("message") if e["message"].get("is_echo")]
    assert echo["sender"] == {"id": PAGE}
    assert echo["recipient"] == {"id": PSID}
    assert echo["message"] == {
        "is_echo": True,
        "app_id": int(APP_ID),
        "metadata": "conn:msg:8f1c2",
        "mid": mid,
        "text": "tagged",
    }


async def test_sticker(graph: httpx.AsyncClient, token: str) -> None:
    assert_sent(await send(graph, token, reply({"sticker_id": "369239263222822"})))
    [record] = await outbox(graph)
    assert record["text"] is None
    [attachment] = record["attachments"]
    assert attachment["payload"]["sticker_id"] == 369239263222822


@pytest.mark.parametrize("sticker", ["like", "²", "", "1" * 40])
async def test_a_sticker_id_is_a_number(graph: httpx.AsyncClient, token: str, sticker: str) -> None:
    graph_error(await send(graph, token, reply({"sticker_id": sticker})), 100)
    assert await outbox(graph) == []


async def test_only_one_of_text_attachment_sticker(graph: httpx.AsyncClient, token: str) -> None:
    both = {
        "text": "t",
        "attachment": {"type": "image", "payload": {"url": "https://x.test/a.png"}},
    }
    graph_error(await send(graph, token, reply(both)), 100)
    graph_error(await send(graph, token, reply({"text": "t", "sticker_id": "1"})), 100)
    graph_error(await send(graph, token, reply({})), 100)
    graph_error(await send(graph, token, reply({"metadata": "only metadata"})), 100)
    graph_error(await send(graph, token, {"recipient": {"id": PSID}}), 100)
    assert await outbox(graph) == []


async def test_reply_to_quotes_a_message_of_the_conversation(
    graph: httpx.AsyncClient, token: str
) -> None:
    said = await say(graph, "Which one?")
    assert_sent(
        await send(graph, token, reply({"text": "This one"}, reply_to={"mid": said["mid"]}))
    )
    assert (await outbox(graph))[0]["reply_to"] == said["mid"]
    unknown = await send(graph, token, reply({"text": "?"}, reply_to={"mid": "m_nope"}))
    graph_error(unknown, 100)
    graph_error(await send(graph, token, reply({"text": "?"}, reply_to="m_flat")), 100)
    assert len(await outbox(graph)) == 1


async def test_reply_to_only_quotes_the_last_24_hours(graph: httpx.AsyncClient, token: str) -> None:
    old = await say(graph, "an old question")
    await advance(graph, 30 * 3600)
    await say(graph, "about that old question...")  # the window is open again
    stale = await send(graph, token, reply({"text": "that one?"}, reply_to={"mid": old["mid"]}))
    graph_error(stale, 100)
    assert await outbox(graph) == []


async def test_persona(graph: httpx.AsyncClient, token: str) -> None:
    created = await graph.post(
        "/v25.0/me/personas",
        params={"access_token": token},
        json={"name": "Rita from Support", "profile_picture_url": "https://x.test/rita.png"},
    )
    assert created.status_code == 200, created.text
    persona = created.json()["id"]
    assert_sent(await send(graph, token, reply({"text": "Rita here"}, persona_id=persona)))
    assert (await outbox(graph))[0]["persona_id"] == persona
    graph_error(await send(graph, token, reply({"text": "who?"}, persona_id="123")), 100)
    assert len(await outbox(graph)) == 1


@pytest.mark.parametrize("kind", ["REGULAR", "SILENT_PUSH", "NO_PUSH"])
async def test_notification_types(graph: httpx.AsyncClient, token: str, kind: str) -> None:
    assert_sent(await send(graph, token, reply({"text": kind}, notification_type=kind)))


async def test_an_unknown_notification_type_is_refused(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await send(graph, token, reply({"text": "x"}, notification_type="LOUD"))
    graph_error(response, 100)
    assert await outbox(graph) == []


# --- attachments by URL, reuse, and message_attachments -------------------------------------


@pytest.mark.parametrize("kind", ["image", "audio", "video", "file"])
async def test_attachment_by_url_is_reusable_by_id(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver, kind: str
) -> None:
    token = await connect(graph)
    await say(graph, "send it")
    url = f"https://files.example.com/{kind}.bin"
    first = await send(
        graph,
        token,
        reply({"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}),
    )
    body = assert_sent(first)
    assert set(body) == {"recipient_id", "message_id", "attachment_id"}
    attachment_id = body["attachment_id"]
    assert attachment_id.isdigit()

    again = await send(
        graph,
        token,
        reply({"attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}}),
    )
    assert set(assert_sent(again)) == {"recipient_id", "message_id"}
    records = await outbox(graph)
    assert [r["attachments"][0]["type"] for r in records] == [kind, kind]
    assert records[1]["attachments"][0]["payload"]["url"] == url

    await emulator.meta.drain()
    echoes = [e["message"] for e in receiver.of_kind("message") if e["message"].get("is_echo")]
    assert echoes[0]["attachments"] == [{"type": kind, "payload": {"url": url}}]


async def test_without_is_reusable_there_is_no_attachment_id(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await send(
        graph,
        token,
        reply({"attachment": {"type": "image", "payload": {"url": "https://x.test/a.png"}}}),
    )
    assert set(assert_sent(response)) == {"recipient_id", "message_id"}


async def test_unknown_or_foreign_attachment_id_is_2018074(
    graph: httpx.AsyncClient, token: str
) -> None:
    other = await page_token(graph, PAGE2)
    foreign = await upload(
        graph,
        other,
        {"type": "image", "payload": {"url": "https://x.test/b.png", "is_reusable": True}},
    )
    assert foreign.status_code == 200, foreign.text
    for attachment_id in (foreign.json()["attachment_id"], "1857777774821032"):
        response = await send(
            graph,
            token,
            reply({"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}),
        )
        graph_error(response, 100, 2018074)
    assert await outbox(graph) == []


async def test_an_attachment_id_expires_after_90_days(graph: httpx.AsyncClient, token: str) -> None:
    stored = await upload(
        graph,
        token,
        {"type": "file", "payload": {"url": "https://x.test/i.pdf", "is_reusable": True}},
    )
    attachment_id = stored.json()["attachment_id"]
    body = reply({"attachment": {"type": "file", "payload": {"attachment_id": attachment_id}}})

    await advance(graph, 90 * 86400 - 60)
    await say(graph, "still there?")  # reopen the 24-hour window
    assert_sent(await send(graph, token, body))
    await advance(graph, 60)
    await say(graph, "and now?")
    graph_error(await send(graph, token, body), 100, 2018074)
    assert len(await outbox(graph)) == 1


async def test_message_attachments_by_url(graph: httpx.AsyncClient, token: str) -> None:
    response = await upload(
        graph,
        token,
        {"type": "image", "payload": {"url": "https://x.test/c.png", "is_reusable": True}},
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"attachment_id"}
    attachment_id = response.json()["attachment_id"]
    sent = await send(
        graph,
        token,
        reply({"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}),
    )
    assert_sent(sent)
    assert (await outbox(graph))[0]["attachments"][0]["payload"] == {
        "url": "https://x.test/c.png",
        "attachment_id": attachment_id,
    }


async def _multipart(
    graph: httpx.AsyncClient,
    token: str,
    kind: str,
    content: bytes,
    content_type: str,
    *,
    path: str = "message_attachments",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    message = {"attachment": {"type": kind, "payload": {"is_reusable": True}}}
    return await graph.post(
        f"/v25.0/me/{path}",
        params={"access_token": token},
        data={"message": json.dumps(message), **(extra or {})},
        files={"filedata": (f"upload.{kind}", content, content_type)},
    )


async def test_message_attachments_by_multipart_filedata(
    graph: httpx.AsyncClient, token: str
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = await _multipart(graph, token, "image", png, "image/png")
    assert response.status_code == 200, response.text
    attachment_id = response.json()["attachment_id"]
    sent = await send(
        graph,
        token,
        reply({"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}),
    )
    assert_sent(sent)
    url = (await outbox(graph))[0]["attachments"][0]["payload"]["url"]
    served = await graph.get(url)
    assert served.status_code == 200
    assert served.content == png
    assert served.headers["content-type"] == "image/png"


async def test_an_uploaded_file_name_cannot_break_its_url(
    graph: httpx.AsyncClient, token: str
) -> None:
    message = {"attachment": {"type": "file", "payload": {"is_reusable": True}}}
    response = await graph.post(
        "/v25.0/me/message_attachments",
        params={"access_token": token},
        data={"message": json.dumps(message)},
        files={"filedata": ("../in voice/fatura é?.pdf", b"%PDF-1.7", "application/pdf")},
    )
    attachment_id = response.json()["attachment_id"]
    file = {"type": "file", "payload": {"attachment_id": attachment_id}}
    assert_sent(await send(graph, token, reply({"attachment": file})))
    url = (await outbox(graph))[0]["attachments"][0]["payload"]["url"]
    assert (await graph.get(url)).content == b"%PDF-1.7"


async def test_send_api_takes_filedata_directly(graph: httpx.AsyncClient, token: str) -> None:
    # Digest §5.3: `recipient`, `message` (payload `{}` or `{"is_reusable":true}`) + `filedata`.
    response = await _multipart(
        graph,
        token,
        "audio",
        b"ID3" + b"\x00" * 32,
        "audio/mpeg",
        path="messages",
        extra={"recipient": json.dumps({"id": PSID}), "messaging_type": "RESPONSE"},
    )
    body = assert_sent(response)
    assert "attachment_id" in body
    [record] = await outbox(graph)
    served = await graph.get(record["attachments"][0]["payload"]["url"])
    assert served.content == b"ID3" + b"\x00" * 32


async def test_audio_uploads_need_an_audio_content_type(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await _multipart(graph, token, "audio", b"\x00" * 16, "image/png")
    graph_error(response, 100, 2018047)
    direct = await _multipart(
        graph,
        token,
        "audio",
        b"\x00" * 16,
        "application/octet-stream",
        path="messages",
        extra={"recipient": json.dumps({"id": PSID})},
    )
    graph_error(direct, 100, 2018047)
    assert await outbox(graph) == []


@pytest.mark.parametrize(
    ("kind", "size", "ok"),
    [
        ("image", 8 * 1024 * 1024, True),
        ("image", 8 * 1024 * 1024 + 1, False),
        ("file", 25 * 1024 * 1024 + 1, False),
    ],
)
async def test_upload_size_limits(
    graph: httpx.AsyncClient, token: str, kind: str, size: int, ok: bool
) -> None:
    content_type = "image/jpeg" if kind == "image" else "application/pdf"
    response = await _multipart(graph, token, kind, b"\x00" * size, content_type)
    if ok:
        assert response.status_code == 200, response.text
    else:
        graph_error(response, 100, 2018109)


@pytest.mark.parametrize(
    "attachment",
    [
        {"type": "location", "payload": {"url": "https://x.test/a"}},
        {"type": "template", "payload": {"template_type": "button"}},
        {"type": "image", "payload": {}},
        {"type": "image", "payload": {"url": "ftp://x.test/a.png"}},
    ],
    ids=["location", "template", "no-url", "ftp-url"],
)
async def test_message_attachments_refuses(
    graph: httpx.AsyncClient, token: str, attachment: dict[str, Any]
) -> None:
    graph_error(await upload(graph, token, attachment), 100)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"url": "https://x.test/a.png", "attachment_id": "1857777774821032"},
        {"url": "not a url"},
        {"url": "http://[broken/a.png"},
        {"url": "https://x.test/" + "a" * 2100},
    ],
    ids=["empty", "url-and-id", "not-a-url", "bad-ipv6", "too-long"],
)
async def test_a_media_payload_needs_one_good_url_or_id(
    graph: httpx.AsyncClient, token: str, payload: dict[str, Any]
) -> None:
    response = await send(
        graph, token, reply({"attachment": {"type": "image", "payload": payload}})
    )
    graph_error(response, 100)
    assert await outbox(graph) == []


# --- quick replies --------------------------------------------------------------------------


def _qr(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {"content_type": "text", "title": f"Option {i}", "payload": f"OPT_{i}", **fields}


async def test_quick_replies_all_content_types(graph: httpx.AsyncClient, token: str) -> None:
    quick = [
        _qr(0),
        _qr(1, image_url="https://files.example.com/l.png"),
        {"content_type": "text", "title": "", "payload": "", "image_url": "https://x.test/i.png"},
        {"content_type": "text", "title": "Nine", "payload": 9},
        {"content_type": "user_email"},
        {"content_type": "user_phone_number"},
    ]
    assert_sent(await send(graph, token, reply({"text": "Which size?", "quick_replies": quick})))
    stored = (await outbox(graph))[0]["quick_replies"]
    assert stored[0] == {"content_type": "text", "title": "Option 0", "payload": "OPT_0"}
    assert stored[1]["image_url"] == "https://files.example.com/l.png"
    assert stored[3]["payload"] == "9"
    assert stored[4:] == [{"content_type": "user_email"}, {"content_type": "user_phone_number"}]


async def test_quick_replies_with_an_attachment(graph: httpx.AsyncClient, token: str) -> None:
    message = {
        "attachment": {"type": "image", "payload": {"url": "https://x.test/a.png"}},
        "quick_replies": [_qr()],
    }
    assert_sent(await send(graph, token, reply(message)))


@pytest.mark.parametrize(
    ("quick", "ok"),
    [
        ([_qr(i) for i in range(13)], True),
        ([_qr(i) for i in range(14)], False),
        ([_qr(title="x" * 20)], True),
        ([_qr(title="x" * 21)], False),
        ([_qr(payload="p" * 1000)], True),
        ([_qr(payload="p" * 1001)], False),
        ([{"content_type": "location"}], False),
        ([{"content_type": "text", "payload": "NO_TITLE"}], False),
        ([{"content_type": "text", "title": "No payload"}], False),
        ([], False),
        ({"content_type": "user_email"}, False),
        (["Yes"], False),
        ([_qr(image_url="javascript:alert(1)")], False),
    ],
    ids=[
        "13",
        "14",
        "title-20",
        "title-21",
        "payload-1000",
        "payload-1001",
        "location",
        "no-title",
        "no-payload",
        "empty",
        "object",
        "string-item",
        "bad-image-url",
    ],
)
async def test_quick_reply_limits(
    graph: httpx.AsyncClient, token: str, quick: Any, ok: bool
) -> None:
    response = await send(graph, token, reply({"text": "Pick", "quick_replies": quick}))
    if ok:
        assert_sent(response)
        assert len((await outbox(graph))[0]["quick_replies"]) == len(quick)
    else:
        graph_error(response, 100)
        assert await outbox(graph) == []


# --- templates and buttons ------------------------------------------------------------------


def _template(payload: dict[str, Any]) -> dict[str, Any]:
    return {"attachment": {"type": "template", "payload": payload}}


WEB_URL = {"type": "web_url", "url": "https://shop.example.com/o/1", "title": "View order"}
POSTBACK = {"type": "postback", "title": "Track order", "payload": "TRACK"}
PHONE = {"type": "phone_number", "title": "Call us", "payload": "+351210000000"}


def _button_template(text: str = "Pick one", buttons: Any = None) -> dict[str, Any]:
    return _template(
        {"template_type": "button", "text": text, "buttons": buttons or [WEB_URL, POSTBACK, PHONE]}
    )


def _element(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "title": f"Tee {i}",
        "subtitle": "Cotton, 3 colours",
        "image_url": "https://files.example.com/tee.png",
        "default_action": {"type": "web_url", "url": "https://shop.example.com/tee"},
        "buttons": [POSTBACK],
        **fields,
    }


def _generic(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return _template({"template_type": "generic", "elements": elements})


def _media(**element: Any) -> dict[str, Any]:
    return _template({"template_type": "media", "elements": [{"media_type": "image", **element}]})


RECEIPT: dict[str, Any] = {
    "template_type": "receipt",
    "recipient_name": "João Pereira",
    "order_number": "12345678902",
    "currency": "EUR",
    "payment_method": "Visa 2345",
    "merchant_name": "Lisbon Tees",
    "timestamp": "1767225600",
    "address": {
        "street_1": "Rua Augusta 1",
        "city": "Lisboa",
        "postal_code": "1100-048",
        "state": "Lisboa",
        "country": "PT",
    },
    "summary": {"subtotal": 75.0, "shipping_cost": 4.95, "total_tax": 6.19, "total_cost": 56.14},
    "adjustments": [{"name": "New Customer Discount", "amount": 20}],
    "elements": [{"title": "Classic White T-Shirt", "price": 25, "quantity": 2, "currency": "EUR"}],
}


def _receipt(**changes: Any) -> dict[str, Any]:
    payload = {k: v for k, v in {**RECEIPT, **changes}.items() if v is not None}
    return _template(payload)


VALID_TEMPLATES = {
    "button": _button_template(),
    "button-640": _button_template("x" * 640, [POSTBACK]),
    "generic-1": _generic([_element()]),
    "generic-10": _generic([_element(i) for i in range(10)]),
    "generic-80": _generic([_element(title="t" * 80, subtitle="s" * 80, buttons=[])]),
    "generic-3-buttons": _generic([_element(buttons=[WEB_URL, POSTBACK, PHONE])]),
    "media-facebook-url": _media(url=FB_PHOTO, buttons=[WEB_URL]),
    "media-video": _media(media_type="video", url="https://www.facebook.com/watch?v=1"),
    "receipt": _receipt(),
    "receipt-minimal": _template(
        {k: RECEIPT[k] for k in list(RECEIPT)[:5]} | {"summary": {"total_cost": 1}}
    ),
    "receipt-100": _receipt(elements=[{"title": f"Item {i}", "price": 1} for i in range(100)]),
    "product": _template({"template_type": "product", "elements": [{"id": "1234567890"}]}),
    "product-10": _template(
        {"template_type": "product", "elements": [{"id": str(i)} for i in range(10)]}
    ),
}

INVALID_TEMPLATES = {
    "unknown-type": _template({"template_type": "carousel"}),
    "button-641": _button_template("x" * 641, [POSTBACK]),
    "button-no-text": _template({"template_type": "button", "buttons": [POSTBACK]}),
    "button-0": _template({"template_type": "button", "text": "t", "buttons": []}),
    "button-4": _button_template("t", [WEB_URL, POSTBACK, PHONE, POSTBACK]),
    "button-unknown-type": _button_template("t", [{"type": "share", "title": "Share"}]),
    "web-url-no-url": _button_template("t", [{"type": "web_url", "title": "Go"}]),
    "web-url-title-21": _button_template("t", [{**WEB_URL, "title": "x" * 21}]),
    "postback-title-21": _button_template("t", [{**POSTBACK, "title": "x" * 21}]),
    "postback-payload-1001": _button_template("t", [{**POSTBACK, "payload": "p" * 1001}]),
    "postback-no-payload": _button_template("t", [{"type": "postback", "title": "Go"}]),
    "phone-without-plus": _button_template("t", [{**PHONE, "payload": "210000000"}]),
    "generic-0": _generic([]),
    "generic-11": _generic([_element(i) for i in range(11)]),
    "generic-title-81": _generic([_element(title="t" * 81)]),
    "generic-no-title": _generic([{"subtitle": "s"}]),
    "generic-subtitle-81": _generic([_element(subtitle="s" * 81)]),
    "generic-4-buttons": _generic([_element(buttons=[WEB_URL, POSTBACK, PHONE, POSTBACK])]),
    "default-action-with-title": _generic(
        [_element(default_action={"type": "web_url", "url": "https://x.test", "title": "Go"})]
    ),
    "default-action-postback": _generic(
        [_element(default_action={"type": "postback", "payload": "P"})]
    ),
    "generic-bad-image-url": _generic([_element(image_url="files/tee.png")]),
    "media-external-url": _media(url="https://cdn.example.com/a.jpg"),
    "media-lookalike-host": _media(url="https://facebook.com.evil.test/a.jpg"),
    "media-url-and-id": _media(url=FB_PHOTO, attachment_id="1"),
    "media-neither": _media(),
    "media-audio": _media(media_type="audio", url=FB_PHOTO),
    "media-2-elements": _template(
        {"template_type": "media", "elements": [{"media_type": "image", "url": FB_PHOTO}] * 2}
    ),
    "media-4-buttons": _media(url=FB_PHOTO, buttons=[WEB_URL, POSTBACK, PHONE, POSTBACK]),
    "receipt-no-recipient-name": _receipt(recipient_name=None),
    "receipt-no-order-number": _receipt(order_number=None),
    "receipt-no-currency": _receipt(currency=None),
    "receipt-no-payment-method": _receipt(payment_method=None),
    "receipt-no-summary": _receipt(summary=None),
    "receipt-no-total": _receipt(summary={"subtotal": 1}),
    "receipt-total-text": _receipt(summary={"total_cost": "56.14"}),
    "receipt-101": _receipt(elements=[{"title": f"Item {i}", "price": 1} for i in range(101)]),
    "receipt-element-no-price": _receipt(elements=[{"title": "Tee"}]),
    "product-11": _template(
        {"template_type": "product", "elements": [{"id": str(i)} for i in range(11)]}
    ),
    "product-no-id": _template({"template_type": "product", "elements": [{"title": "x"}]}),
}


@pytest.mark.parametrize("message", VALID_TEMPLATES.values(), ids=VALID_TEMPLATES.keys())
async def test_templates_within_limits_are_sent(
    graph: httpx.AsyncClient, token: str, message: dict[str, Any]
) -> None:
    assert_sent(await send(graph, token, reply(message)))
    [record] = await outbox(graph)
    assert record["attachments"] == [message["attachment"]]


@pytest.mark.parametrize("case", INVALID_TEMPLATES, ids=list(INVALID_TEMPLATES))
async def test_templates_beyond_limits_are_refused(
    graph: httpx.AsyncClient, token: str, case: str
) -> None:
    response = await send(graph, token, reply(INVALID_TEMPLATES[case]))
    # Media templates take Facebook URLs only (digest §5.3: 2018185/2018188).
    subcode = 2018185 if case in ("media-external-url", "media-lookalike-host") else None
    graph_error(response, 100, subcode)
    assert await outbox(graph) == []


async def test_media_template_by_attachment_id(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "show me")
    stored = await upload(
        graph,
        token,
        {"type": "image", "payload": {"url": "https://x.test/m.png", "is_reusable": True}},
    )
    attachment_id = stored.json()["attachment_id"]
    message = _media(attachment_id=attachment_id, buttons=[POSTBACK])
    assert_sent(await send(graph, token, reply(message)))
    # What was sent keeps the id as the string the Send API takes...
    [record] = await outbox(graph)
    assert record["attachments"][0]["payload"]["elements"][0]["attachment_id"] == attachment_id
    # ...while the echo carries it as a JSON number (digest §3.9).
    await emulator.meta.drain()
    [echo] = [e["message"] for e in receiver.of_kind("message") if e["message"].get("is_echo")]
    [attachment] = echo["attachments"]
    assert attachment["type"] == "template"
    assert (attachment["title"], attachment["url"]) == ("", None)
    assert attachment["payload"]["elements"][0]["attachment_id"] == int(attachment_id)
    record_after = (await outbox(graph))[0]["attachments"][0]["payload"]["elements"][0]
    assert record_after["attachment_id"] == attachment_id


@pytest.mark.parametrize("attachment_id", ["1857777774821032", "not-a-number"])
async def test_media_template_with_an_unknown_attachment_id(
    graph: httpx.AsyncClient, token: str, attachment_id: str
) -> None:
    response = await send(graph, token, reply(_media(attachment_id=attachment_id)))
    graph_error(response, 100, 2018074)
    assert await outbox(graph) == []


# --- sender actions -------------------------------------------------------------------------


def _action(action: str, **top: Any) -> dict[str, Any]:
    return {"recipient": {"id": PSID}, "sender_action": action, **top}


async def test_typing_and_mark_seen_answer_only_recipient_id(
    graph: httpx.AsyncClient, token: str
) -> None:
    for action, typing in (("typing_on", True), ("typing_off", False), ("mark_seen", False)):
        response = await send(graph, token, _action(action))
        assert response.status_code == 200, response.text
        assert response.json() == {"recipient_id": PSID}
        assert (await conversation(graph))["typing"] is typing
    thread = await conversation(graph)
    assert thread["seen_watermark"] == thread["messages"][0]["timestamp"]
    assert await outbox(graph) == []  # sender actions are not messages


async def test_react_and_unreact(graph: httpx.AsyncClient, token: str) -> None:
    said = await say(graph, "Thanks!")
    react = await send(
        graph, token, _action("react", payload={"message_id": said["mid"], "reaction": "😊"})
    )
    assert react.json() == {"recipient_id": PSID}
    quoted = next(m for m in (await conversation(graph))["messages"] if m["mid"] == said["mid"])
    assert quoted["reactions"] == {"page": "😊"}

    unreact = await send(graph, token, _action("unreact", payload={"message_id": said["mid"]}))
    assert unreact.json() == {"recipient_id": PSID}
    quoted = next(m for m in (await conversation(graph))["messages"] if m["mid"] == said["mid"])
    assert quoted["reactions"] == {}


@pytest.mark.parametrize(
    "body",
    [
        _action("react", payload={"message_id": "m_unknown", "reaction": "😊"}),
        _action("react"),
        _action("react", payload={"message_id": "m_x"}),
        _action("unreact", payload="m_x"),
        _action("dance"),
        _action("TYPING_ON"),
    ],
    ids=["unknown-mid", "no-payload", "no-reaction", "payload-string", "unknown", "upper-case"],
)
async def test_bad_sender_actions(
    graph: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> None:
    graph_error(await send(graph, token, body), 100)


async def test_sender_action_with_a_message_is_2018014(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await send(graph, token, _action("typing_on", message={"text": "hi"}))
    graph_error(response, 100, 2018014)
    assert await outbox(graph) == []
    assert (await conversation(graph))["typing"] is False


# --- hostile input --------------------------------------------------------------------------


def assert_graph_answer(response: httpx.Response) -> None:
    """Never a 500: either a Send API success or Meta's error envelope."""
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert set(body) <= SUCCESS_KEYS
        assert "message_id" in body or set(body) == {"recipient_id"}
    else:
        assert set(body) == {"error"}, body
        assert {"message", "type", "code", "fbtrace_id"} <= set(body["error"]) <= ERROR_KEYS
        assert isinstance(body["error"]["code"], int)


WRONG_TYPES = [
    "just a string",
    12,
    None,
    [],
    {"recipient": "PSID", "message": {"text": "x"}},
    {"recipient": [PSID], "message": {"text": "x"}},
    {"recipient": {"id": None}, "message": {"text": "x"}},
    {"recipient": {"id": {"id": PSID}}, "message": {"text": "x"}},
    {"recipient": {"id": PSID, "user_ref": "u"}, "message": {"text": "x"}},
    {"recipient": {"comment_id": "1_2"}, "message": {"text": "x"}},
    {"recipient": {"id": PSID}, "message": "hello"},
    {"recipient": {"id": PSID}, "message": ["hello"]},
    {"recipient": {"id": PSID}, "message": {"text": {"body": "x"}}},
    {"recipient": {"id": PSID}, "message": {"text": True}},
    {"recipient": {"id": PSID}, "message": {"text": ["x"]}},
    {"recipient": {"id": PSID}, "message": {"text": "x", "metadata": {"k": 1}}},
    {"recipient": {"id": PSID}, "message": {"attachment": "image"}},
    {"recipient": {"id": PSID}, "message": {"attachment": {"type": ["image"]}}},
    {"recipient": {"id": PSID}, "message": {"attachment": {"type": "image", "payload": "u"}}},
    {"recipient": {"id": PSID}, "message": {"attachment": {"type": "image", "payload": None}}},
    {"recipient": {"id": PSID}, "message": {"attachment": {"type": "template", "payload": []}}},
    {"recipient": {"id": PSID}, "message": {"text": "x", "quick_replies": "yes,no"}},
    {"recipient": {"id": PSID}, "message": {"text": "x", "quick_replies": [None]}},
    {"recipient": {"id": PSID}, "message": {"sticker_id": {"id": 1}}},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "messaging_type": ["RESPONSE"]},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "messaging_type": 1},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "tag": {"HUMAN_AGENT": 1}},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "reply_to": ["m_1"]},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "persona_id": [1]},
    {"recipient": {"id": PSID}, "message": {"text": "x"}, "thread_control": "pass"},
    {"recipient": {"id": PSID}, "sender_action": ["typing_on"]},
    {"recipient": {"id": PSID}, "sender_action": "react", "payload": [1]},
    {"recipient": {"id": PSID}, "message": _generic([_element(buttons="all")])},
    {"recipient": {"id": PSID}, "message": _generic([_element(default_action="x")])},
    {"recipient": {"id": PSID}, "message": _generic(["not an element"])},
    {"recipient": {"id": PSID}, "message": _media(url=["x"])},
    {"recipient": {"id": PSID}, "message": _media(url="http://[::1/a.png")},
    {"recipient": {"id": PSID}, "message": _receipt(summary=[1])},
]


@pytest.mark.parametrize("body", WRONG_TYPES)
async def test_wrong_types_everywhere_are_graph_errors(
    graph: httpx.AsyncClient, token: str, body: Any
) -> None:
    response = await graph.post(
        "/v25.0/me/messages",
        params={"access_token": token},
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert_graph_answer(response)
    assert await outbox(graph) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"recipient": ',
        b"\xff\xfe\x00",
        b'{"recipient":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"message": {"text": ' + b"9" * 5000 + b"}}",
    ],
    ids=["broken", "truncated", "not-utf8", "deeply-nested", "huge-integer"],
)
async def test_malformed_json_bodies(graph: httpx.AsyncClient, token: str, raw: bytes) -> None:
    response = await graph.post(
        "/v25.0/me/messages",
        params={"access_token": token},
        content=raw,
        headers={"content-type": "application/json"},
    )
    graph_error(response, 100)


async def test_deeply_nested_form_values(graph: httpx.AsyncClient, token: str) -> None:
    response = await graph.post(
        "/v25.0/me/messages",
        data={
            "recipient": "[" * 50_000 + "]" * 50_000,
            "message": '{"text": "x"}',
            "access_token": token,
        },
    )
    graph_error(response, 100)


async def test_forms_beyond_the_parser_limits(graph: httpx.AsyncClient, token: str) -> None:
    fields = {f"f{i}": "x" for i in range(300)}
    too_many = await graph.post("/v25.0/me/messages", data={**fields, "access_token": token})
    graph_error(too_many, 100)
    two_files = await graph.post(
        "/v25.0/me/messages",
        params={"access_token": token},
        files=[("filedata", ("a.png", b"a", "image/png")), ("other", ("b.png", b"b", "image/png"))],
    )
    graph_error(two_files, 100)
    big_field = await graph.post(
        "/v25.0/me/messages",
        params={"access_token": token},
        data={"recipient": json.dumps({"id": PSID}), "message": json.dumps({"text": "x" * 2**21})},
    )
    error = graph_error(big_field, 100)  # parsed, then refused like any text over the limit
    assert "message[text]" in error["message"]
    assert await outbox(graph) == []


async def test_huge_bodies(graph: httpx.AsyncClient, token: str) -> None:
    too_big = await graph.post(
        "/v25.0/me/messages",
        params={"access_token": token},
        content=b" " * (30 * 1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    graph_error(too_big, 100, status=413)
    long_text = await send(graph, token, reply({"text": "x" * 1_000_000}))
    graph_error(long_text, 100)
    many = await send(graph, token, reply({"text": "x", "quick_replies": [_qr()] * 10_000}))
    graph_error(many, 100)
    assert await outbox(graph) == []


# fmt: off
KEYS = st.sampled_from([
    "recipient", "id", "user_ref", "message", "text", "attachment", "type", "payload", "url",
    "attachment_id", "is_reusable", "template_type", "elements", "buttons", "title", "subtitle",
    "image_url", "default_action", "media_type", "summary", "total_cost", "price",
    "quick_replies", "content_type", "metadata", "sticker_id", "messaging_type", "tag",
    "sender_action", "notification_type", "reply_to", "mid", "persona_id", "thread_control",
    "control_type", "app_id", "message_id", "reaction", "recipient_name", "order_number",
    "currency", "payment_method",
]) | st.text(max_size=8)
WORDS = st.sampled_from([
    PSID, FB_PHOTO, "image", "audio", "video", "file", "template", "generic", "button", "media",
    "receipt", "product", "customer_feedback", "web_url", "postback", "phone_number", "text",
    "user_email", "RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY", "HUMAN_AGENT",
    "CUSTOMER_FEEDBACK", "ACCOUNT_UPDATE", "typing_on", "mark_seen", "react", "unreact", "pass",
    "release", "https://x.test/a.png", "http://[::1", "+351210000000", "369239263222822", "²",
    "m_unknown",
])
# fmt: on
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | WORDS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)
NOISY = st.dictionaries(KEYS, JSON, max_size=6)


def noisy(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `valid`, sometimes any JSON: near-valid bodies reach the deep checks."""
    return st.one_of(valid, valid, valid, JSON)


TEXT = st.text(max_size=30) | WORDS
URLS = st.sampled_from(["https://x.test/a.png", FB_PHOTO, "http://[::1", "ftp://x", "x"])
BUTTON = st.fixed_dictionaries(
    {"type": noisy(st.sampled_from(["web_url", "postback", "phone_number"]))},
    optional={"title": noisy(TEXT), "url": noisy(URLS), "payload": noisy(TEXT)},
)
ELEMENT = st.fixed_dictionaries(
    {"title": noisy(TEXT)},
    optional={
        "subtitle": noisy(TEXT),
        "image_url": noisy(URLS),
        "default_action": noisy(st.fixed_dictionaries({"type": WORDS, "url": URLS})),
        "buttons": noisy(st.lists(BUTTON, min_size=1, max_size=3)),
        "media_type": noisy(st.sampled_from(["image", "video"])),
        "url": noisy(URLS),
        "attachment_id": noisy(TEXT),
        "id": noisy(TEXT),
        "price": noisy(st.integers(0, 100)),
    },
)
TEMPLATE = st.fixed_dictionaries(
    {
        "template_type": st.sampled_from(
            ["button", "generic", "media", "receipt", "product", "customer_feedback", "x"]
        )
    },
    optional={
        "text": noisy(TEXT),
        "buttons": noisy(st.lists(BUTTON, min_size=1, max_size=3)),
        "elements": noisy(st.lists(ELEMENT, min_size=1, max_size=2)),
        "recipient_name": noisy(TEXT),
        "order_number": noisy(TEXT),
        "currency": noisy(TEXT),
        "payment_method": noisy(TEXT),
        "summary": noisy(st.fixed_dictionaries({"total_cost": st.floats(0, 100)})),
    },
)
MEDIA = st.fixed_dictionaries(
    {"url": noisy(URLS)}, optional={"is_reusable": noisy(st.booleans())}
) | st.fixed_dictionaries({"attachment_id": noisy(TEXT)})
ATTACHMENT = st.fixed_dictionaries(
    {"type": st.sampled_from(["image", "audio", "video", "file"]), "payload": noisy(MEDIA)}
) | st.fixed_dictionaries({"type": st.just("template"), "payload": noisy(TEMPLATE)})
QUICK_REPLY = st.fixed_dictionaries(
    {"content_type": noisy(st.sampled_from(["text", "user_email", "user_phone_number"]))},
    optional={"title": noisy(TEXT), "payload": noisy(TEXT), "image_url": noisy(URLS)},
)
CONTENT = (
    st.fixed_dictionaries({"text": noisy(TEXT)})
    | st.fixed_dictionaries({"attachment": noisy(ATTACHMENT)})
    | st.fixed_dictionaries({"sticker_id": noisy(TEXT)})
)
MESSAGE_EXTRAS = st.fixed_dictionaries(
    {},
    optional={
        "quick_replies": noisy(st.lists(QUICK_REPLY, min_size=1, max_size=3)),
        "metadata": noisy(TEXT),
    },
)
TOP_EXTRAS = st.fixed_dictionaries(
    {},
    optional={
        "messaging_type": noisy(st.sampled_from(["RESPONSE", "UPDATE"])),
        "notification_type": noisy(st.sampled_from(["REGULAR", "SILENT_PUSH", "NO_PUSH"])),
        "reply_to": noisy(st.fixed_dictionaries({"mid": WORDS})),
    },
)
MESSAGE_BODIES = st.builds(
    lambda content, extras, top: {
        "recipient": {"id": PSID},
        "message": {**content, **extras},
        **top,
    },
    CONTENT,
    MESSAGE_EXTRAS,
    TOP_EXTRAS,
)
ACTION_BODIES = st.fixed_dictionaries(
    {
        "recipient": st.just({"id": PSID}),
        "sender_action": noisy(st.sampled_from(["typing_on", "mark_seen", "react", "unreact"])),
    },
    optional={"payload": noisy(st.fixed_dictionaries({"message_id": WORDS, "reaction": TEXT}))},
)
BODIES = st.one_of(MESSAGE_BODIES, MESSAGE_BODIES, MESSAGE_BODIES, ACTION_BODIES, NOISY)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, as_form=st.booleans())
async def test_arbitrary_json_never_breaks_the_send_api(
    graph: httpx.AsyncClient, token: str, body: dict[str, Any], as_form: bool
) -> None:
    limits = await graph.patch(
        "/_emulator/settings", json={"rate_limits": {"text_per_second": 10**6}}
    )
    assert limits.status_code == 200
    if as_form:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        response = await graph.post("/v25.0/me/messages", params={"access_token": token}, data=form)
    else:
        response = await graph.post(
            "/v25.0/me/messages",
            params={"access_token": token},
            content=json.dumps(body),
            headers={"content-type": "application/json"},
        )
    assert_graph_answer(response)
