"""Every event kind of digest §3, produced through the control API and checked on the wire."""

from __future__ import annotations

from typing import Any

import httpx

from frontdesk.emulator import Emulator, psid_for

from .conftest import APP_ID, JOAO, PAGE, Receiver, connect, say, send
from .routing_support import PAGE_INBOX, act, advance, ok

PSID = psid_for(PAGE, JOAO)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def one(receiver: Receiver, key: str) -> dict[str, Any]:
    [event] = receiver.of_kind(key)
    return event


def from_joao(event: dict[str, Any]) -> None:
    assert event["sender"] == {"id": PSID}
    assert event["recipient"] == {"id": PAGE}
    assert isinstance(event["timestamp"], int)


async def reply(graph: httpx.AsyncClient, token: str, message: dict[str, Any]) -> str:
    response = await send(
        graph, token, {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": message}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["message_id"])


def echoes(receiver: Receiver) -> list[dict[str, Any]]:
    return [e for e in receiver.of_kind("message") if e["message"].get("is_echo")]


def incoming(receiver: Receiver) -> list[dict[str, Any]]:
    return [e for e in receiver.of_kind("message") if not e["message"].get("is_echo")]


# --- messages (§3.2-§3.8) ---------------------------------------------------------------------


async def test_text_message(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    said = await say(graph, "Do you ship to Lisbon?")
    await emulator.meta.drain()

    event = one(receiver, "message")
    from_joao(event)
    assert event["timestamp"] == said["timestamp"]
    assert event["message"] == {"mid": said["mid"], "text": "Do you ship to Lisbon?"}
    assert said["mid"].startswith("m_")


async def test_uploaded_image_arrives_as_an_expiring_cdn_url(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    upload = await graph.post(
        "/_emulator/act/upload", files={"file": ("photo.png", PNG, "image/png")}
    )
    attachment = ok(upload)
    assert attachment["type"] == "image"
    said = await act(graph, "message", attachments=[attachment])
    await emulator.meta.drain()

    event = one(receiver, "message")
    from_joao(event)
    assert event["message"] == {
        "mid": said["mid"],
        "attachments": [{"type": "image", "payload": {"url": attachment["payload"]["url"]}}],
    }
    url = event["message"]["attachments"][0]["payload"]["url"]
    fetched = await graph.get(url)
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"

    await advance(graph, 3 * 86400 + 1)
    expired = await graph.get(url)
    assert expired.status_code == 403


async def test_location_uses_the_legacy_shape(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    location = {"lat": 38.7223, "long": -9.1393, "title": "João's Location"}
    await act(graph, "message", location=location)
    await emulator.meta.drain()

    [attachment] = one(receiver, "message")["message"]["attachments"]
    assert attachment["type"] == "location"
    assert attachment["title"] == "João's Location"
    assert attachment["url"].startswith("https://www.facebook.com/l.php?u=")
    assert attachment["payload"] == {"coordinates": {"lat": 38.7223, "long": -9.1393}}


async def test_quick_reply_tap_carries_the_payload(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    said = await act(graph, "message", text="Green", quick_reply="COLOR_GREEN")
    await emulator.meta.drain()

    event = one(receiver, "message")
    from_joao(event)
    assert event["message"] == {
        "mid": said["mid"],
        "text": "Green",
        "quick_reply": {"payload": "COLOR_GREEN"},
    }
    assert receiver.of_kind("postback") == []  # a tap is a `messages` event (§3.3)


async def test_reply_to_marks_self_replies(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    own = await say(graph, "size M please")
    page_mid = await reply(graph, token, {"text": "Which colour?"})
    to_page = await act(graph, "message", text="Yes, that one", reply_to=page_mid)
    to_self = await act(graph, "message", text="as I said", reply_to=own["mid"])
    await emulator.meta.drain()

    replies = [e["message"] for e in incoming(receiver) if "reply_to" in e["message"]]
    assert replies == [
        {
            "mid": to_page["mid"],
            "text": "Yes, that one",
            "reply_to": {"mid": page_mid, "is_self_reply": False},
        },
        {
            "mid": to_self["mid"],
            "text": "as I said",
            "reply_to": {"mid": own["mid"], "is_self_reply": True},
        },
    ]


# --- postbacks and Get Started (§3.11) ------------------------------------------------------


async def test_postback(emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver) -> None:
    await connect(graph)
    tapped = await act(graph, "postback", title="Track order", payload="TRACK")
    await emulator.meta.drain()

    event = one(receiver, "postback")
    from_joao(event)
    assert event["postback"] == {"mid": tapped["mid"], "title": "Track order", "payload": "TRACK"}


async def test_get_started_needs_the_profile_and_carries_the_mme_referral(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    missing = await graph.post(
        "/_emulator/act/get_started", json={"page_id": PAGE, "person_id": JOAO}
    )
    assert missing.status_code == 400

    profile = await graph.post(
        "/v25.0/me/messenger_profile",
        params={"access_token": token},
        json={"get_started": {"payload": "GET_STARTED"}},
    )
    assert ok(profile) == {"result": "success"}
    plain = await act(graph, "get_started")
    via_link = await act(graph, "get_started", ref="summer_coupon")
    bad = await graph.post(
        "/_emulator/act/get_started",
        json={"page_id": PAGE, "person_id": JOAO, "ref": "summer coupon!"},
    )
    assert bad.status_code == 400
    await emulator.meta.drain()

    assert [e["postback"] for e in receiver.of_kind("postback")] == [
        {"mid": plain["mid"], "title": "Get Started", "payload": "GET_STARTED"},
        {
            "mid": via_link["mid"],
            "title": "Get Started",
            "payload": "GET_STARTED",
            "referral": {"ref": "summer_coupon", "source": "SHORTLINK", "type": "OPEN_THREAD"},
        },
    ]


# --- echoes (§3.9, §3.10) ---------------------------------------------------------------------


async def test_every_kind_of_page_send_is_echoed_with_app_id_and_metadata(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "hi")
    template = {
        "template_type": "button",
        "text": "Pick one",
        "buttons": [{"type": "postback", "title": "Track order", "payload": "TRACK"}],
    }
    image_url = "https://files.example.com/a.jpg"
    sends = {
        "text": {"text": "We ship to Lisbon.", "metadata": "fd:text"},
        "image": {
            "attachment": {"type": "image", "payload": {"url": image_url, "is_reusable": True}},
            "metadata": "fd:image",
        },
        "template": {
            "attachment": {"type": "template", "payload": template},
            "metadata": "fd:template",
        },
        "quick_replies": {
            "text": "Which size?",
            "quick_replies": [{"content_type": "text", "title": "Small", "payload": "SIZE_S"}],
            "metadata": "fd:qr",
        },
        "no_metadata": {"text": "untagged"},
    }
    mids = {name: await reply(graph, token, message) for name, message in sends.items()}
    await emulator.meta.drain()

    by_mid = {e["message"]["mid"]: e for e in echoes(receiver)}
    assert set(by_mid) == set(mids.values())
    for name, mid in mids.items():
        event = by_mid[mid]
        assert event["sender"] == {"id": PAGE}
        assert event["recipient"] == {"id": PSID}
        body = event["message"]
        assert body["is_echo"] is True
        assert body["app_id"] == int(APP_ID)
        assert type(body["app_id"]) is int  # a JSON number, not a string
        assert body.get("metadata") == sends[name].get("metadata")

    assert by_mid[mids["text"]]["message"]["text"] == "We ship to Lisbon."
    assert by_mid[mids["quick_replies"]]["message"]["text"] == "Which size?"
    assert by_mid[mids["image"]]["message"]["attachments"] == [
        {"type": "image", "payload": {"url": image_url}}
    ]
    assert by_mid[mids["template"]]["message"]["attachments"] == [
        {"type": "template", "title": "", "url": None, "payload": template}
    ]


async def test_a_human_reply_in_the_page_inbox_is_echoed_with_the_inbox_app_id(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await say(graph, "can a person help?")
    human = await act(graph, "page_inbox_reply", text="Hi, Morgan here.")
    await emulator.meta.drain()

    [event] = echoes(receiver)
    assert event["sender"] == {"id": PAGE}
    assert event["recipient"] == {"id": PSID}
    assert event["message"] == {
        "is_echo": True,
        "app_id": int(PAGE_INBOX),
        "mid": human["mid"],
        "text": "Hi, Morgan here.",
    }


# --- deliveries and reads (§3.12, §3.13) ---------------------------------------------------


async def test_automatic_delivery_follows_each_page_message(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "hi")
    mid = await reply(graph, token, {"text": "hello"})
    await emulator.meta.drain()

    [echo] = echoes(receiver)
    delivery = one(receiver, "delivery")
    from_joao(delivery)
    assert delivery["delivery"] == {"mids": [mid], "watermark": echo["timestamp"]}


async def test_delivery_and_read_watermarks_match_the_page_messages(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    ok(await graph.patch("/_emulator/settings", json={"meta": {"auto_delivery": False}}))
    await say(graph, "hi")
    await advance(graph, 1)
    first = await reply(graph, token, {"text": "one"})
    await advance(graph, 1)
    second = await reply(graph, token, {"text": "two"})
    await advance(graph, 1)
    delivered = await act(graph, "delivery")
    await advance(graph, 1)
    read = await act(graph, "read")
    await emulator.meta.drain()

    stamps = {e["message"]["mid"]: e["timestamp"] for e in echoes(receiver)}
    assert stamps[first] < stamps[second]
    delivery = one(receiver, "delivery")
    from_joao(delivery)
    assert delivery["delivery"] == {"mids": [first, second], "watermark": stamps[second]}
    assert delivered == {"watermark": stamps[second]}
    assert delivery["timestamp"] > stamps[second]
    event = one(receiver, "read")
    from_joao(event)
    assert event["read"] == {"watermark": stamps[second]}
    assert read == {"watermark": stamps[second]}
    assert event["timestamp"] > delivery["timestamp"]


# --- reactions, referrals, opt-ins, edits (§3.14-§3.17) ---------------------------------------


async def test_reactions_react_and_unreact_with_reaction_names(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "hi")
    mid = await reply(graph, token, {"text": "We ship to Lisbon."})
    for emoji in ("\u2764\ufe0f", "\U0001f44d", "\U0001f643"):
        await act(graph, "reaction", mid=mid, emoji=emoji)
    await act(graph, "reaction", mid=mid)
    await emulator.meta.drain()

    reactions = receiver.of_kind("reaction")
    for event in reactions:
        from_joao(event)
    assert [e["reaction"] for e in reactions] == [
        {"mid": mid, "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"},
        {"mid": mid, "action": "react", "reaction": "like", "emoji": "\U0001f44d"},
        {"mid": mid, "action": "react", "reaction": "other", "emoji": "\U0001f643"},
        {"mid": mid, "action": "unreact"},
    ]


async def test_referrals_from_mme_links_and_ads(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    ads_context = {
        "ad_title": "Spring sale",
        "photo_url": "https://cdn.example.invalid/a.jpg",
        "post_id": f"{PAGE}_99",
        "product_id": "p-77",
    }
    await act(graph, "referral", ref="store_qr_7")
    await act(
        graph,
        "referral",
        ref="spring",
        source="ADS",
        ad_id="120210000000001",
        ads_context_data=ads_context,
    )
    for bad in ("store qr", "a/b", "x" * 2084):
        refused = await graph.post(
            "/_emulator/act/referral", json={"page_id": PAGE, "person_id": JOAO, "ref": bad}
        )
        assert refused.status_code == 400, bad
    await emulator.meta.drain()

    referrals = receiver.of_kind("referral")
    for event in referrals:
        from_joao(event)
    assert [e["referral"] for e in referrals] == [
        {"ref": "store_qr_7", "source": "SHORTLINK", "type": "OPEN_THREAD"},
        {
            "ref": "spring",
            "source": "ADS",
            "type": "OPEN_THREAD",
            "ad_id": "120210000000001",
            "ads_context_data": ads_context,
        },
    ]


async def test_send_to_messenger_optin_identifies_the_person(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await act(graph, "optin", ref="checkout_page")
    await emulator.meta.drain()

    event = one(receiver, "optin")
    from_joao(event)
    assert event["optin"] == {"ref": "checkout_page"}


async def test_checkbox_optin_has_no_sender_and_its_user_ref_can_be_messaged_once(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    result = await act(graph, "optin", type="checkbox", ref="order_1234")
    user_ref = result["user_ref"]
    await emulator.meta.drain()

    event = one(receiver, "optin")
    assert "sender" not in event
    assert event["recipient"] == {"id": PAGE}
    assert event["optin"] == {"ref": "order_1234", "user_ref": user_ref}

    body = {"recipient": {"user_ref": user_ref}, "message": {"text": "Thanks for your order"}}
    first = await send(graph, token, body)
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"message_id"}  # no recipient_id for user_ref (§5.7)
    again = await send(graph, token, body)
    assert again.status_code == 400


async def test_notification_messages_optin_carries_a_token(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await act(
        graph,
        "optin",
        type="notification_messages",
        title="Weekly deals",
        payload="topic-weekly",
        notification_messages_timezone="Europe/Lisbon",
    )
    await emulator.meta.drain()

    event = one(receiver, "optin")
    from_joao(event)
    optin = event["optin"]
    assert optin["type"] == "notification_messages"
    assert optin["title"] == "Weekly deals"
    assert optin["payload"] == "topic-weekly"
    assert optin["notification_messages_timezone"] == "Europe/Lisbon"
    assert optin["notification_messages_token"]
    assert isinstance(optin["notification_messages_token"], str)
    assert isinstance(optin["token_expiry_timestamp"], int)
    assert optin["user_token_status"] == "NOT_REFRESHED"


async def test_message_edits_count_up_to_five(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    said = await say(graph, "Do you ship to Lisbon?")
    for n in range(1, 6):
        await act(graph, "edit", mid=said["mid"], text=f"Do you ship to Porto? ({n})")
    sixth = await graph.post(
        "/_emulator/act/edit",
        json={"page_id": PAGE, "person_id": JOAO, "mid": said["mid"], "text": "again"},
    )
    assert sixth.status_code == 400
    page_mid = await reply(graph, token, {"text": "yes"})
    not_theirs = await graph.post(
        "/_emulator/act/edit",
        json={"page_id": PAGE, "person_id": JOAO, "mid": page_mid, "text": "no"},
    )
    assert not_theirs.status_code == 400
    await emulator.meta.drain()

    edits = receiver.of_kind("message_edit")
    for event in edits:
        from_joao(event)
    assert [e["message_edit"] for e in edits] == [
        {"mid": said["mid"], "text": f"Do you ship to Porto? ({n})", "num_edit": n}
        for n in range(1, 6)
    ]


# --- account linking and policy enforcement (§3.20) -----------------------------------------


async def test_account_linking(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph)
    await act(graph, "account_linking", status="linked")
    await act(graph, "account_linking", status="unlinked")
    await emulator.meta.drain()

    linked, unlinked = receiver.of_kind("account_linking")
    from_joao(linked)
    assert linked["account_linking"]["status"] == "linked"
    assert isinstance(linked["account_linking"]["authorization_code"], str)
    assert unlinked["account_linking"] == {"status": "unlinked"}


async def test_policy_enforcement_block_restricts_the_page(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    token = await connect(graph)
    await say(graph, "hi")
    await act(graph, "policy_enforcement", action="block", reason="Spammy behaviour.")
    blocked = await send(
        graph,
        token,
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "hello"}},
    )
    assert blocked.status_code == 400
    error = blocked.json()["error"]
    assert (error["code"], error["error_subcode"]) == (10, 1893063)

    await act(graph, "policy_enforcement", action="unblock", reason="ignored on unblock")
    assert (await reply(graph, token, {"text": "hello again"})).startswith("m_")
    await emulator.meta.drain()

    block, unblock = receiver.of_kind("policy_enforcement")
    assert "sender" not in block
    assert block["recipient"] == {"id": PAGE}
    assert block["policy_enforcement"] == {"action": "block", "reason": "Spammy behaviour."}
    assert unblock["policy_enforcement"] == {"action": "unblock"}
