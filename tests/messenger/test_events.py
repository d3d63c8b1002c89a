"""`parse` on one recorded body per event kind of digest §3 (tests/payloads/), field by field.

Each expected event is written out whole: dataclass equality checks every typed field, and
`raw` (left out of equality) is checked to be the original dict.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from frontdesk.messenger import (
    AccountLinking,
    AppRoles,
    Attachment,
    ChangeEvent,
    Coordinates,
    DeliveryEvent,
    EchoEvent,
    Event,
    MalformedPayload,
    MessageEditEvent,
    MessageEvent,
    OptinEvent,
    PassThreadControl,
    PolicyEnforcement,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    Referral,
    ReferralEvent,
    ReplyTo,
    RequestThreadControl,
    TakeThreadControl,
    UnknownEvent,
    conversation_key,
    dedupe_key,
    parse,
)

from .conftest import PAGE, PAGE2, PAGE_INBOX, PAYLOADS, payload

PSID = "7301234567890123"
APP = "900100200300400"
OTHER_APP = "555666777888999"


def one(name: str) -> Event:
    """The single event of a payload file, after checking its `raw` is the original dict."""
    body = json.loads(payload(name))
    batch = parse(payload(name))
    assert batch.object == "page"
    [event] = batch.events
    [entry] = body["entry"]
    channel = next(c for c in ("messaging", "standby", "changes") if c in entry)
    assert event.raw == entry[channel][0]
    return event


def message(ts: int, mid: str, **fields: Any) -> MessageEvent:
    return MessageEvent(page_id=PAGE, psid=PSID, timestamp=ts, mid=mid, **fields)


# --- messages ------------------------------------------------------------------------------------


def test_text() -> None:
    assert one("text") == message(1767225601000, "m_T3xtAAAA1", text="Do you ship to Lisbon?")


def test_commands() -> None:
    assert one("message_commands") == message(
        1767225601500, "m_Cmd0001", text="/flights", commands=("flights",)
    )


@pytest.mark.parametrize(
    ("name", "ts", "mid", "text", "quick_payload"),
    [
        ("quick_reply", 1767225602000, "m_QrTap0001", "Green", "COLOR_GREEN"),
        ("quick_reply_email", 1767225602200, "m_QrMail001", "ana@example.com", "ana@example.com"),
    ],
)
def test_quick_reply_tap(name: str, ts: int, mid: str, text: str, quick_payload: str) -> None:
    assert one(name) == message(ts, mid, text=text, quick_reply_payload=quick_payload)


def test_reply_to() -> None:
    assert one("reply_to") == message(
        1767225603000,
        "m_Reply0001",
        text="Yes, that one",
        reply_to=ReplyTo(mid="m_PageMsg0042", is_self_reply=False),
    )


def test_several_images() -> None:
    urls = [
        "https://scontent.xx.fbcdn.net/v/t1.15752-9/123_n.jpg?_nc_cat=1&oh=00_Ab&oe=6A1C32D0",
        "https://scontent.xx.fbcdn.net/v/t1.15752-9/124_n.jpg?_nc_cat=1&oh=00_Ac&oe=6A1C32D0",
    ]
    assert one("attachment_image") == message(
        1767225604000,
        "m_Img0001",
        attachments=tuple(Attachment(kind="image", url=u, payload={"url": u}) for u in urls),
    )


@pytest.mark.parametrize(
    ("kind", "ts", "mid", "url"),
    [
        ("audio", 1767225604200, "m_Aud0001", "https://cdn.example.invalid/voice.mp4"),
        ("video", 1767225604400, "m_Vid0001", "https://cdn.example.invalid/clip.mp4"),
        ("file", 1767225604600, "m_Fil0001", "https://cdn.example.invalid/invoice.pdf"),
    ],
)
def test_binary_attachments(kind: str, ts: int, mid: str, url: str) -> None:
    expected = Attachment(kind=kind, url=url, payload={"url": url})
    assert one(f"attachment_{kind}") == message(ts, mid, attachments=(expected,))


def test_reel_and_post_keep_their_extra_fields() -> None:
    reel = one("attachment_reel")
    assert isinstance(reel, MessageEvent)
    assert reel.attachments == (
        Attachment(
            kind="reel",
            url="https://cdn.example.invalid/reel.mp4",
            title="Summer drop",
            payload={
                "url": "https://cdn.example.invalid/reel.mp4",
                "title": "Summer drop",
                "reel_video_id": "880011",
            },
        ),
    )
    post = one("attachment_post")
    assert isinstance(post, MessageEvent)
    [attachment] = post.attachments
    assert (attachment.kind, attachment.title, attachment.payload["id"]) == (
        "post",
        "New tees",
        "104857600012345_99",
    )


def test_appointment_booking() -> None:
    event = one("attachment_appointment_booking")
    assert isinstance(event, MessageEvent)
    assert event.attachments == (
        Attachment(
            kind="appointment_booking",
            payload={
                "booking_id": "bk_42",
                "status": "confirmed",
                "start_time": 1767312000,
                "end_time": 1767315600,
                "timezone": "Europe/Lisbon",
            },
        ),
    )


def test_sticker_arrives_twice_during_the_transition() -> None:
    url = "https://cdn.example.invalid/s.png"
    raw_payload = {"url": url, "sticker_id": 369239263222822}
    assert one("sticker") == message(
        1767225604990,
        "m_Stk0001",
        attachments=(
            Attachment(kind="sticker", url=url, sticker_id="369239263222822", payload=raw_payload),
            Attachment(kind="image", url=url, sticker_id="369239263222822", payload=raw_payload),
        ),
        sticker_id="369239263222822",
    )


def test_fallback_current_shape_in_metas_escaped_bytes() -> None:
    assert b"https:\\/\\/example.com" in payload("fallback")
    url = "https://example.com/p/9"
    assert one("fallback") == message(
        1767225605000,
        "m_Fb0001",
        text="look at this https://example.com/p/9",
        attachments=(
            Attachment(
                kind="fallback",
                url=url,
                title="Product 9 - Example Shop",
                payload={"url": url, "title": "Product 9 - Example Shop"},
            ),
        ),
    )


def test_fallback_legacy_shape_title_and_url_beside_type() -> None:
    assert one("fallback_legacy") == message(
        1767225605200,
        "m_Fb0002",
        text="https://example.com/p/10",
        attachments=(
            Attachment(
                kind="fallback", url="https://example.com/p/10", title="Product 10 - Example Shop"
            ),
        ),
    )


def test_fallback_without_payload() -> None:
    assert one("fallback_no_payload") == message(
        1767225605400, "m_Fb0003", attachments=(Attachment(kind="fallback"),)
    )


def test_legacy_location() -> None:
    point = {"lat": 38.7223, "long": -9.1393}
    assert one("location_legacy") == message(
        1767225605600,
        "m_Loc0001",
        attachments=(
            Attachment(
                kind="location",
                title="Ana's Location",
                url="https://www.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps",
                coordinates=Coordinates(lat=38.7223, long=-9.1393),
                payload={"coordinates": point},
            ),
        ),
    )


def test_click_to_messenger_ad_referral_inside_a_message() -> None:
    event = one("message_ad_referral")
    assert event == message(
        1767225611400,
        "m_Ctm0001",
        text="Is this still available?",
        referral=Referral(
            ref="spring",
            source="ADS",
            kind="OPEN_THREAD",
            ad_id="120210000000001",
            ads_context_data={"ad_title": "Spring sale", "post_id": "104857600012345_99"},
        ),
    )


def test_unicode_arrives_escaped_and_parses_to_text() -> None:
    raw = payload("text_unicode_escaped")
    assert raw.isascii()
    assert b"\\ud83d\\ude00" in raw
    assert b"\\/" in raw
    assert one("text_unicode_escaped") == message(
        1767225626000, "m_Uni0001", text="Olá 😀 äöå / 50% off"
    )


# --- echoes --------------------------------------------------------------------------------------


def echo(ts: int, mid: str, app_id: str, **fields: Any) -> EchoEvent:
    return EchoEvent(page_id=PAGE, psid=PSID, timestamp=ts, mid=mid, app_id=app_id, **fields)


def test_echo_with_metadata_has_a_string_app_id_and_the_user_as_psid() -> None:
    assert one("echo_text_metadata") == echo(
        1767225606000,
        "m_Echo0001",
        APP,
        text="We ship to Lisbon in 2-3 days.",
        metadata="conn:msg:8f1c2",
    )


def test_echo_of_a_human_in_the_page_inbox() -> None:
    event = one("echo_page_inbox")
    assert event == echo(
        1767225606200,
        "m_Echo0002",
        PAGE_INBOX,
        text="Hi, Morgan here. Let me check that for you.",
    )
    assert isinstance(event, EchoEvent)
    assert event.app_id != APP


def test_echo_of_a_template() -> None:
    template = {
        "template_type": "button",
        "text": "Pick one",
        "buttons": [{"type": "postback", "title": "Track order", "payload": "TRACK"}],
    }
    event = one("echo_template")
    assert event == echo(
        1767225605800,
        "m_Tpl0001",
        APP,
        attachments=(Attachment(kind="template", title="", payload=template),),
    )
    assert isinstance(event, EchoEvent)
    assert event.attachments[0].template_type == "button"


# --- postbacks, receipts, reactions, referrals, opt-ins, edits ---------------------------------


def test_postback_with_referral() -> None:
    assert one("postback_referral") == PostbackEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225607000,
        mid="m_Pb0001",
        title="Get Started",
        payload="GET_STARTED",
        referral=Referral(ref="summer_coupon", source="SHORTLINK", kind="OPEN_THREAD"),
    )


def test_get_started() -> None:
    assert one("get_started") == PostbackEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225607200,
        mid="m_Pb0002",
        title="Get Started",
        payload="GET_STARTED",
    )


def test_postback_from_a_plugin_has_a_user_ref_and_no_mid() -> None:
    event = one("postback_user_ref")
    assert event == PostbackEvent(
        page_id=PAGE,
        psid=None,
        user_ref="ur_5f2c9a",
        timestamp=1767225607400,
        title="Track order",
        payload="TRACK",
    )
    assert conversation_key(event) == (PAGE, "user_ref:ur_5f2c9a")


def test_delivery_with_mids() -> None:
    assert one("delivery") == DeliveryEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225608000,
        watermark=1767225606000,
        mids=("m_Echo0001",),
    )


def test_delivery_without_mids_nor_timestamp_takes_the_entry_time() -> None:
    assert one("delivery_without_mids") == DeliveryEvent(
        page_id=PAGE, psid=PSID, timestamp=1767225608200, watermark=1767225606000
    )


def test_read() -> None:
    assert one("read") == ReadEvent(
        page_id=PAGE, psid=PSID, timestamp=1767225609000, watermark=1767225606000
    )


def test_reaction_react_and_unreact() -> None:
    assert one("reaction_react") == ReactionEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225610000,
        mid="m_Echo0001",
        action="react",
        reaction="love",
        emoji="\u2764\ufe0f",
    )
    assert one("reaction_unreact") == ReactionEvent(
        page_id=PAGE, psid=PSID, timestamp=1767225610500, mid="m_Echo0001", action="unreact"
    )


def test_referral_from_an_mme_link() -> None:
    assert one("referral_mme") == ReferralEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225611000,
        referral=Referral(ref="store_qr_7", source="SHORTLINK", kind="OPEN_THREAD"),
    )


def test_referral_from_an_ad() -> None:
    assert one("referral_ads") == ReferralEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225611200,
        referral=Referral(
            ref="spring",
            source="ADS",
            kind="OPEN_THREAD",
            ad_id="120210000000001",
            ads_context_data={
                "ad_title": "Spring sale",
                "photo_url": "https://cdn.example.invalid/a.jpg",
                "post_id": "104857600012345_99",
                "product_id": "p-77",
            },
        ),
    )


def test_optin_send_to_messenger() -> None:
    assert one("optin_send_to_messenger") == OptinEvent(
        page_id=PAGE, psid=PSID, timestamp=1767225612000, ref="checkout_page"
    )


def test_optin_checkbox_has_no_sender_only_a_user_ref() -> None:
    event = one("optin_checkbox_user_ref")
    assert event == OptinEvent(
        page_id=PAGE, psid=None, timestamp=1767225613000, ref="order_1234", user_ref="ur_5f2c9a"
    )
    assert conversation_key(event) == (PAGE, "user_ref:ur_5f2c9a")


def test_optin_notification_messages() -> None:
    assert one("optin_notification_messages") == OptinEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225614000,
        kind="notification_messages",
        title="Weekly deals",
        payload="topic-weekly",
        notification_messages_token="nmt_AbCdEf",
        notification_messages_timezone="Europe/Lisbon",
        token_expiry_timestamp=1782777600,
        user_token_status="NOT_REFRESHED",
    )


def test_message_edit() -> None:
    assert one("message_edit") == MessageEditEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225615000,
        mid="m_T3xtAAAA1",
        text="Do you ship to Porto?",
        num_edit=1,
    )


def test_standby_message_is_marked_standby() -> None:
    assert one("standby_message") == MessageEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225616000,
        standby=True,
        mid="m_Sb0001",
        text="still there?",
    )


# --- handover, app roles, policy, account linking ------------------------------------------------


def test_pass_thread_control() -> None:
    assert one("pass_thread_control") == PassThreadControl(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225617000,
        previous_owner_app_id=OTHER_APP,
        new_owner_app_id=APP,
        metadata="escalated: refund question",
    )


def test_take_thread_control_by_the_page_inbox() -> None:
    assert one("take_thread_control") == TakeThreadControl(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225618000,
        previous_owner_app_id=APP,
        new_owner_app_id=PAGE_INBOX,
        metadata="agent picked up in inbox",
    )


def test_request_thread_control_with_a_numeric_app_id() -> None:
    assert one("request_thread_control") == RequestThreadControl(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225619000,
        requested_owner_app_id=OTHER_APP,
        metadata="customer asked for human",
    )


def test_handover_with_sender_and_recipient_swapped_still_finds_the_person() -> None:
    body = json.loads(payload("pass_thread_control"))
    event = body["entry"][0]["messaging"][0]
    event["sender"], event["recipient"] = event["recipient"], event["sender"]
    [parsed] = parse(body).events
    assert isinstance(parsed, PassThreadControl)
    assert parsed.psid == PSID


def test_app_roles() -> None:
    event = one("app_roles")
    assert event == AppRoles(
        page_id=PAGE,
        psid=None,
        timestamp=1767225620000,
        roles={APP: ("primary_receiver",)},
    )
    assert conversation_key(event) is None


def test_policy_enforcement() -> None:
    assert one("policy_enforcement") == PolicyEnforcement(
        page_id=PAGE,
        psid=None,
        timestamp=1767225621000,
        action="warning",
        reason="Spammy behaviour detected on tagged messages.",
    )


def test_account_linking() -> None:
    assert one("account_linking") == AccountLinking(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225622000,
        status="linked",
        authorization_code="our-auth-code-42",
    )


# --- envelopes: batches, changes, unknown kinds, 2016 payloads ----------------------------------


def test_a_batch_of_three_entries_of_two_pages_keeps_every_event_in_order() -> None:
    batch = parse(payload("batch_three_entries"))
    assert batch.events == (
        MessageEvent(page_id=PAGE, psid=PSID, timestamp=1767225630000, mid="m_B1", text="one"),
        ReadEvent(page_id=PAGE, psid=PSID, timestamp=1767225630050, watermark=1767225629000),
        MessageEvent(
            page_id=PAGE2,
            psid="7309999999999999",
            timestamp=1767225630100,
            mid="m_B2",
            text="other page",
        ),
    )
    assert [conversation_key(e) for e in batch] == [
        (PAGE, PSID),
        (PAGE, PSID),
        (PAGE2, "7309999999999999"),
    ]


def test_feed_change() -> None:
    event = one("changes_feed")
    assert isinstance(event, ChangeEvent)
    assert (event.page_id, event.psid, event.timestamp, event.field_name) == (
        PAGE,
        None,
        1767225623000,
        "feed",
    )
    assert event.value["comment_id"] == "99_1001"
    assert conversation_key(event) is None


def test_inbox_labels_change_names_the_person() -> None:
    event = one("changes_inbox_labels")
    assert isinstance(event, ChangeEvent)
    assert (event.field_name, event.psid) == ("inbox_labels", PSID)


def test_unknown_kind_is_kept_raw_with_its_envelope() -> None:
    event = one("unknown_event")
    assert event == UnknownEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1767225625000,
        reason="unsupported event kind 'game_play'",
        kind="game_play",
    )
    assert conversation_key(event) == (PAGE, PSID)


def test_2016_payload_with_numeric_ids_seq_and_a_legacy_sticker() -> None:
    url = "https://scontent.xx.fbcdn.net/t39.1997-6/851557_369239266556155_759568595_n.png"
    assert one("legacy_2016_numeric_ids") == MessageEvent(
        page_id=PAGE,
        psid=PSID,
        timestamp=1457764197627,
        mid="mid.1457764197618:41d102a3e1ae206a38",
        attachments=(Attachment(kind="image", url=url, payload={"url": url}),),
        sticker_id="369239263222822",
    )


def test_every_payload_file_parses_to_typed_events() -> None:
    """Only the deliberately unknown kind may give an UnknownEvent."""
    files = sorted(PAYLOADS.glob("*.json"))
    assert len(files) >= 40
    for path in files:
        events = parse(path.read_bytes()).events
        assert events, path.name
        unknown = [e for e in events if isinstance(e, UnknownEvent)]
        assert unknown == [] or path.stem == "unknown_event", (path.name, unknown)


# --- malformed pieces ----------------------------------------------------------------------------


def body_with(event: Any, **entry: Any) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event], **entry}]}


GOOD = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 5}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**GOOD, "message": {"text": "no mid"}}, "entry[0].messaging[0].message.mid is missing"),
        (
            {"recipient": {"id": PAGE}, "timestamp": 5, "message": {"mid": "m_1"}},
            "entry[0].messaging[0].message.sender is not an object",
        ),
        (
            {**GOOD, "sender": {"id": True}, "message": {"mid": "m_1"}},
            "entry[0].messaging[0].message.sender.id is missing or not an id",
        ),
        (
            {**GOOD, "message": {"mid": "m_1", "text": 42}},
            "entry[0].messaging[0].message.text is missing or not a string",
        ),
        (
            {**GOOD, "message": {"mid": "m_1", "attachments": {"type": "image"}}},
            "entry[0].messaging[0].message.attachments is not a list",
        ),
        (
            {**GOOD, "timestamp": "yesterday", "read": {"watermark": 1}},
            "entry[0].messaging[0].timestamp is missing or not an integer",
        ),
        ({**GOOD, "delivery": {"mids": []}}, "entry[0].messaging[0].delivery.watermark is missing"),
        ({**GOOD, "message": None}, "entry[0].messaging[0].message is not an object"),
        (GOOD, "no event key"),
        (
            {"recipient": {"id": PAGE}, "timestamp": 5, "optin": {"ref": "x"}},
            "entry[0].messaging[0].optin: neither sender.id nor user_ref",
        ),
    ],
)
def test_malformed_events_become_unknown_with_a_reason(event: Any, reason: str) -> None:
    [parsed] = parse(body_with(event)).events
    assert isinstance(parsed, UnknownEvent)
    assert parsed.reason.startswith(reason), parsed.reason
    assert parsed.raw is event
    assert parsed.page_id == PAGE


def test_an_unknown_event_keeps_what_could_be_read() -> None:
    [parsed] = parse(body_with({**GOOD, "message": {"text": "no mid"}})).events
    assert isinstance(parsed, UnknownEvent)
    assert (parsed.psid, parsed.timestamp, parsed.kind) == (PSID, 5, "message")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"entry": []}, "object is missing"),
        ({"object": "instagram", "entry": []}, "object is 'instagram', not 'page'"),
        ({"object": "page"}, "entry is missing or not a list"),
        ({"object": "page", "entry": [7]}, "entry[0] is not an object"),
        ({"object": "page", "entry": [{"id": PAGE}]}, "entry[0] has no messaging"),
        ({"object": "page", "entry": [{"id": PAGE, "messaging": {}}]}, "entry[0].messaging is"),
        (
            {"object": "page", "entry": [{"messaging": [{**GOOD, "read": {"watermark": 1}}]}]},
            "entry[0].id is missing",
        ),
        ({"object": "page", "entry": [{"id": PAGE, "changes": [{"field": "feed"}]}]}, "entry[0]."),
    ],
)
def test_malformed_envelopes_are_kept_not_raised(body: Any, reason: str) -> None:
    [parsed] = parse(body).events
    assert isinstance(parsed, UnknownEvent)
    assert parsed.reason.startswith(reason), parsed.reason


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'"page"', b"\xff\xfe{", b'{"a": NaN}', b"[" * 100_000]
)
def test_only_a_body_that_is_not_a_json_object_raises(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse(body)


# --- keys ----------------------------------------------------------------------------------------


def test_dedupe_keys_follow_the_digest() -> None:
    keys = {name: dedupe_key(one(name)) for name in ("text", "echo_text_metadata", "message_edit")}
    assert keys == {
        "text": f"message:{PAGE}:m_T3xtAAAA1",
        "echo_text_metadata": f"echo:{PAGE}:m_Echo0001",
        "message_edit": f"edit:{PAGE}:m_T3xtAAAA1:1",
    }
    assert dedupe_key(one("delivery")) == f"delivery:{PAGE}:{PSID}:1767225606000"
    assert dedupe_key(one("read")) == f"read:{PAGE}:{PSID}:1767225606000"
    assert dedupe_key(one("postback_referral")) == f"postback:{PAGE}:m_Pb0001"
    assert dedupe_key(one("pass_thread_control")) == f"pass:{PAGE}:{PSID}:1767225617000:{APP}"


def test_a_redelivery_has_the_same_key_and_a_different_event_does_not() -> None:
    names = [p.stem for p in sorted(PAYLOADS.glob("*.json"))]
    first = {n: [dedupe_key(e) for e in parse(payload(n))] for n in names}
    again = {n: [dedupe_key(e) for e in parse(payload(n))] for n in names}
    assert first == again
    every = [k for keys in first.values() for k in keys]
    # Every file holds a different event, so every key differs, except for the two deliveries:
    # same Page, person and watermark is the same receipt (digest §4), mids or not.
    duplicates = {k for k in every if every.count(k) > 1}
    assert duplicates == {f"delivery:{PAGE}:{PSID}:1767225606000"}


def test_postback_without_mid_is_keyed_by_person_time_and_payload() -> None:
    event = one("postback_user_ref")
    other = PostbackEvent(
        page_id=PAGE, psid=None, user_ref="ur_5f2c9a", timestamp=1767225607400, payload="OTHER"
    )
    assert dedupe_key(event).startswith(f"postback:{PAGE}:user_ref=ur_5f2c9a:1767225607400:")
    assert dedupe_key(event) != dedupe_key(other)


def test_standby_and_messaging_copies_share_a_key() -> None:
    body = json.loads(payload("standby_message"))
    entry = body["entry"][0]
    entry["messaging"] = entry["standby"]
    messaging, standby = parse(body).events
    assert [messaging.standby, standby.standby] == [False, True]
    assert dedupe_key(standby) == dedupe_key(messaging)
