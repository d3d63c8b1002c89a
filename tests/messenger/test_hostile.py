"""Hostile webhook bodies: `parse` raises nothing but MalformedPayload, and never for an object;
`route` (the intake's quick reading) agrees with it.

Random JSON rarely looks like an envelope, so a second strategy fuzzes every field of a real
one: the recorded payloads with values swapped for arbitrary JSON at any depth.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.messenger import (
    Event,
    MalformedPayload,
    ReadEvent,
    UnknownEvent,
    conversation_key,
    dedupe_key,
    parse,
    read_stored,
    route,
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


# --- route: the intake's reading of a body --------------------------------------------------


def same_routing(body: Any) -> None:
    """`route` finds the events `parse` finds, each with its Page, standby flag, raw value and,
    for every event `parse` can read, its conversation key; it refuses what `parse` refuses."""
    try:
        events = parse(body).events
    except MalformedPayload:
        with pytest.raises(MalformedPayload):
            route(body)
        return
    routed = route(body)
    assert len(routed) == len(events)
    for event, where in zip(events, routed, strict=True):
        assert where.page_id == event.page_id
        assert (where.standby, where.raw) == (event.standby, event.raw)
        if not isinstance(event, UnknownEvent):
            key = conversation_key(event)
            assert where.person == (key[1] if key else None), event


def test_route_keys_every_recorded_payload_as_parse_does() -> None:
    for seed in SEEDS:
        same_routing(json.dumps(seed).encode())
        for event, where in zip(parse(seed).events, route(seed), strict=True):
            key = conversation_key(event)
            assert where.person == (key[1] if key else None), event


def test_route_gives_the_pages_own_events_no_person_even_with_a_sender() -> None:
    item = {"sender": {"id": "4242"}, "recipient": {"id": "9001"}, "timestamp": 1}
    bodies = [
        {**item, "app_roles": {"123": ["primary_receiver"]}},
        {**item, "policy_enforcement": {"action": "block", "reason": "spam"}},
    ]
    for event in bodies:
        body = {"object": "page", "entry": [{"id": "9001", "time": 1, "messaging": [event]}]}
        [typed] = parse(body).events
        assert not isinstance(typed, UnknownEvent)
        assert conversation_key(typed) is None
        assert route(body)[0].person is None


@given(st.binary(max_size=300))
def test_route_agrees_with_parse_on_arbitrary_bytes(body: bytes) -> None:
    same_routing(body)


@given(json_values)
def test_route_agrees_with_parse_on_arbitrary_json(value: Any) -> None:
    same_routing(json.dumps(value).encode())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_envelopes())
def test_route_agrees_with_parse_on_fuzzed_envelopes(body: Any) -> None:
    same_routing(body)
    same_routing(json.dumps(body).encode())


# --- one stored event, read alone ------------------------------------------------------------


def same_reading(item: Any, standby: bool) -> None:
    """`read_stored` reads an item as `parse` reads it alone in an entry whose time is 0."""
    channel = "standby" if standby else "messaging"
    body = {"object": "page", "entry": [{"id": "9001", "time": 0, channel: [item]}]}
    [expected] = parse(body).events
    found = read_stored("9001", item, standby)
    assert found == expected
    assert (type(found), found.raw) == (type(expected), expected.raw)


def stored_items() -> list[tuple[Any, bool]]:
    """Every messaging and standby item of the recorded payloads."""
    return [
        (item, channel == "standby")
        for seed in SEEDS
        for entry in seed["entry"]
        for channel in ("messaging", "standby")
        for item in entry.get(channel, [])
    ]


def test_a_stored_event_reads_as_parse_reads_it_for_every_recorded_item() -> None:
    items = stored_items()
    assert len(items) >= 30  # the recorded kinds, standby included
    assert any(standby for _, standby in items)
    for item, standby in items:
        same_reading(item, standby)


@given(json_values, st.booleans())
def test_a_stored_event_of_arbitrary_json_reads_as_parse_reads_it(
    value: Any, standby: bool
) -> None:
    same_reading(value, standby)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mutated_stored_event_reads_as_parse_reads_it(data: st.DataObject) -> None:
    item, standby = json.loads(json.dumps(data.draw(st.sampled_from(stored_items()))))
    for _ in range(data.draw(st.integers(1, 3))):
        if not isinstance(item, dict) or not item:
            break
        key = data.draw(st.sampled_from(sorted(item)))
        item[key] = data.draw(json_values)
    same_reading(item, standby)


@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 10**40])
def test_an_integer_no_database_can_hold_makes_the_event_unknown(big: int) -> None:
    person = {"sender": {"id": "7301"}, "recipient": {"id": "9001"}}
    items = [
        {**person, "timestamp": big, "message": {"mid": "m.1", "text": "hi"}},
        {**person, "timestamp": 1, "delivery": {"mids": ["m.1"], "watermark": big}},
        {**person, "timestamp": 1, "read": {"watermark": big}},
        {**person, "timestamp": 1, "message_edit": {"mid": "m.1", "text": "x", "num_edit": big}},
    ]
    for item in items:
        body = {"object": "page", "entry": [{"id": "9001", "time": 1, "messaging": [item]}]}
        [event] = parse(body).events
        assert isinstance(event, UnknownEvent), item
        assert "out of range" in (event.reason or ""), event.reason
        assert read_stored("9001", item) == event
    # The entry's time stands in for an item's missing one only when it could be stored.
    item = {**person, "delivery": {"watermark": 5}}
    body = {"object": "page", "entry": [{"id": "9001", "time": big, "messaging": [item]}]}
    [event] = parse(body).events
    assert isinstance(event, UnknownEvent)
    assert "timestamp" in (event.reason or "")
    # At the edges, a value that fits is read.
    fits = {**person, "timestamp": 2**63 - 1, "read": {"watermark": -(2**63)}}
    [event] = parse({"object": "page", "entry": [{"id": "9001", "messaging": [fits]}]}).events
    assert isinstance(event, ReadEvent)
    assert (event.timestamp, event.watermark) == (2**63 - 1, -(2**63))
