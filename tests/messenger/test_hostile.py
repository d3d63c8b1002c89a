"""Hostile webhook bodies: `parse` raises nothing but MalformedPayload, and never for an object.

Random JSON rarely looks like an envelope, so a second strategy fuzzes every field of a real
one: the recorded payloads with values swapped for arbitrary JSON at any depth.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.messenger import (
    Event,
    MalformedPayload,
    UnknownEvent,
    conversation_key,
    dedupe_key,
    parse,
    verify_signature,
)

from .conftest import PAYLOADS

SEEDS = [json.loads(p.read_bytes()) for p in sorted(PAYLOADS.glob("*.json"))]
KEYS = sorted(
    {
        "object",
        "entry",
        "id",
        "time",
        "messaging",
        "standby",
        "changes",
        "sender",
        "recipient",
        "timestamp",
        "user_ref",
        "message",
        "mid",
        "text",
        "is_echo",
        "app_id",
        "attachments",
        "payload",
        "type",
        "url",
        "coordinates",
        "quick_reply",
        "reply_to",
        "referral",
        "commands",
        "postback",
        "delivery",
        "read",
        "watermark",
        "mids",
        "reaction",
        "optin",
        "message_edit",
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
        "app_roles",
        "policy_enforcement",
        "account_linking",
        "field",
        "value",
    }
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def check(events: tuple[Event, ...]) -> None:
    """Whatever came out can be keyed, as the intake will do with every event."""
    for event in events:
        assert isinstance(dedupe_key(event), str)
        key = conversation_key(event)
        assert key is None or all(isinstance(part, str) for part in key)
        if isinstance(event, UnknownEvent):
            assert event.reason


@given(st.binary(max_size=300))
def test_arbitrary_bytes(body: bytes) -> None:
    try:
        batch = parse(body)
    except MalformedPayload:
        return
    check(batch.events)


@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    body = json.dumps(value).encode()
    if isinstance(value, dict):
        check(parse(body).events)
        check(parse(value).events)
        return
    try:
        parse(body)
    except MalformedPayload:
        return
    raise AssertionError("a JSON value that is not an object was accepted")


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> Any:
    """A recorded payload with a few values, anywhere in it, replaced by arbitrary JSON."""
    body = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 4))):
        node = body
        while True:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            if not children:
                break
            key, child = draw(st.sampled_from(children))
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if draw(st.integers(0, 5)) == 0 and isinstance(node, dict):
                del node[key]
            else:
                node[key] = draw(json_values)
            break
    return body


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_envelopes())
def test_fuzzed_envelopes_never_raise(body: Any) -> None:
    check(parse(body).events)
    check(parse(json.dumps(body).encode()).events)


@given(mutated_envelopes())
def test_every_event_is_accounted_for(body: Any) -> None:
    """Fuzzing may break events but never makes one disappear: one out for each piece in."""
    entries = body.get("entry")
    if body.get("object") != "page" or not isinstance(entries, list):
        return
    expected = 0
    for entry in entries:
        if not isinstance(entry, dict):
            expected += 1
            continue
        channels = [c for c in ("messaging", "standby", "changes") if c in entry]
        if not channels:
            expected += 1
        for channel in channels:
            items = entry[channel]
            expected += len(items) if isinstance(items, list) else 1
    assert len(parse(body)) == expected


@given(st.binary(max_size=200), st.text(max_size=80) | st.none(), st.text(min_size=1, max_size=20))
def test_signature_verification_never_raises_and_rejects_garbage(
    body: bytes, header: str | None, secret: str
) -> None:
    assert verify_signature(body, header, secret) is False
