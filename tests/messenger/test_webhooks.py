"""Every event kind the emulator sends, received by the adapter: verified, typed, keyed.

The emulator was written from the digest independently of the adapter, so this checks the
parser against a second reading of Meta's documentation, on real signed bytes.
"""

from __future__ import annotations

from collections import Counter

import httpx

from frontdesk.emulator import Emulator
from frontdesk.messenger import (
    AccountLinking,
    AppRoles,
    DeliveryEvent,
    EchoEvent,
    GraphClient,
    MessageEditEvent,
    MessageEvent,
    OptinEvent,
    PolicyEnforcement,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    ReferralEvent,
    SendClient,
    TakeThreadControl,
    UnknownEvent,
    conversation_key,
    dedupe_key,
    messages,
)

from .conftest import APP_ID, JOAO_PSID, PAGE, PAGE_INBOX, Receiver, act, ok
from .test_signature import connect


async def test_every_kind_arrives_typed(
    emulator: Emulator,
    graph: GraphClient,
    sender: SendClient,
    control: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    token = await connect(graph, control)
    await ok(control.patch(f"/_emulator/pages/{PAGE}", json={"default_app_id": APP_ID}))
    await ok(
        control.post(
            "/v25.0/me/messenger_profile",
            params={"access_token": token},
            json={"get_started": {"payload": "GET_STARTED"}},
        )
    )
    said = await act(control, "message", text="Do you ship to Lisbon?")
    await act(control, "message", text="Green", quick_reply="COLOR_GREEN")
    await act(control, "message", location={"lat": 38.7223, "long": -9.1393})
    await act(control, "postback", title="Track order", payload="TRACK")
    await act(control, "get_started", ref="summer_coupon")
    sent = await sender.send_message(
        token, JOAO_PSID, messages.text("We ship in 2 days."), metadata="fd:1"
    )
    await act(control, "message", text="Great", reply_to=sent.message_id)
    await act(control, "reaction", mid=sent.message_id, emoji="❤")
    await act(control, "delivery")
    await act(control, "read")
    await act(control, "referral", ref="promo", source="SHORTLINK")
    await act(control, "optin", type="notification_messages", title="Deals", payload="deals")
    await act(control, "edit", mid=said["mid"], text="Do you ship to Porto?")
    await act(control, "account_linking", status="linked")
    await act(control, "policy_enforcement", action="warning", reason="spam")
    await act(control, "page_inbox_reply", text="Hi, Morgan here")
    await act(control, "message", text="thanks Morgan")
    await ok(control.post("/_emulator/drain"))

    assert receiver.posts
    assert all(post["valid"] for post in receiver.posts)
    events = [event for batch in receiver.batches for event in batch]
    assert [e for e in events if isinstance(e, UnknownEvent)] == []
    kinds = Counter(type(e).__name__ for e in events)
    for kind in (
        MessageEvent,
        EchoEvent,
        PostbackEvent,
        ReactionEvent,
        DeliveryEvent,
        ReadEvent,
        ReferralEvent,
        OptinEvent,
        MessageEditEvent,
        AccountLinking,
        PolicyEnforcement,
        AppRoles,
        TakeThreadControl,
    ):
        assert kinds[kind.__name__] >= 1, (kind, kinds)

    ours = [e for e in events if isinstance(e, EchoEvent) and e.app_id == APP_ID]
    assert [(e.mid, e.metadata, e.psid) for e in ours] == [(sent.message_id, "fd:1", JOAO_PSID)]
    human = [e for e in events if isinstance(e, EchoEvent) and e.app_id == PAGE_INBOX]
    assert [e.text for e in human] == ["Hi, Morgan here"]
    [location] = [e for e in events if isinstance(e, MessageEvent) and e.attachments]
    assert location.attachments[0].coordinates is not None
    assert location.attachments[0].coordinates.long == -9.1393
    [tap] = [e for e in events if isinstance(e, MessageEvent) and e.quick_reply_payload]
    assert tap.quick_reply_payload == "COLOR_GREEN"
    [reply] = [e for e in events if isinstance(e, MessageEvent) and e.reply_to]
    assert reply.reply_to is not None
    assert reply.reply_to.mid == sent.message_id
    [take] = [e for e in events if isinstance(e, TakeThreadControl)]
    assert (take.previous_owner_app_id, take.new_owner_app_id) == (APP_ID, PAGE_INBOX)
    [after] = [e for e in events if e.standby and isinstance(e, MessageEvent)]
    assert after.text == "thanks Morgan"  # the inbox owns the thread now: a standby copy
    [edit] = [e for e in events if isinstance(e, MessageEditEvent)]
    assert (edit.mid, edit.text) == (said["mid"], "Do you ship to Porto?")

    person = [e for e in events if not isinstance(e, PolicyEnforcement | AppRoles)]
    assert {conversation_key(e) for e in person} == {(PAGE, JOAO_PSID)}
    assert len({dedupe_key(e) for e in events}) == len(events)


async def test_a_duplicated_delivery_has_the_same_dedupe_key(
    emulator: Emulator, graph: GraphClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await ok(control.patch("/_emulator/settings", json={"webhooks": {"duplicate_rate": 1.0}}))
    await connect(graph, control)
    await act(control, "message", text="once")
    await ok(control.post("/_emulator/drain"))
    events = [event for batch in receiver.batches for event in batch]
    assert len(events) >= 2
    assert len({dedupe_key(e) for e in events}) == 1
