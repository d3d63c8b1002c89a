"""Keys over events: one to drop redeliveries (digest §4, rule 2), one to keep a person in order,
and `route`, which finds the latter for every event of a body without reading the events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import kinds
from .events import (
    DeliveryEvent,
    EchoEvent,
    Event,
    MessageEditEvent,
    MessageEvent,
    PassThreadControl,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    RequestThreadControl,
    TakeThreadControl,
    UnknownEvent,
    decode,
    read_event,
    walk,
)
from .events import Entry as _Entry


def _fingerprint(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def dedupe_key(event: Event) -> str:
    """Equal for redeliveries of one event, different for different events (digest §4, rule 2).

    Messages and echoes by `mid`, edits by `mid` + `num_edit`, receipts by person + watermark,
    postbacks by `mid` (else person + time + payload), handovers by person + time + new owner,
    reactions by message + action + time; anything else by a digest of its raw JSON. All are
    scoped to the Page. A standby copy and a messaging copy of one event share a key.
    """
    page, who, ts = event.page_id or "-", event.psid or "-", event.timestamp
    match event:
        case MessageEvent():
            return f"message:{page}:{event.mid}"
        case EchoEvent():
            return f"echo:{page}:{event.mid}"
        case MessageEditEvent():
            return f"edit:{page}:{event.mid}:{event.num_edit}"
        case DeliveryEvent():
            return f"delivery:{page}:{who}:{event.watermark}"
        case ReadEvent():
            return f"read:{page}:{who}:{event.watermark}"
        case PostbackEvent(mid=str() as mid):
            return f"postback:{page}:{mid}"
        case PostbackEvent():
            person = who if event.psid else f"user_ref={event.user_ref}"
            return f"postback:{page}:{person}:{ts}:{_fingerprint(event.payload)}"
        case PassThreadControl():
            return f"pass:{page}:{who}:{ts}:{event.new_owner_app_id}"
        case TakeThreadControl():
            return f"take:{page}:{who}:{ts}:{event.new_owner_app_id}"
        case RequestThreadControl():
            return f"request:{page}:{who}:{ts}:{event.requested_owner_app_id}"
        case ReactionEvent():
            return f"reaction:{page}:{who}:{event.mid}:{event.action}:{ts}"
        case UnknownEvent():
            return f"unknown:{page}:{_fingerprint(event.raw)}"
    name = type(event).__name__.removesuffix("Event").lower()
    return f"{name}:{page}:{_fingerprint(event.raw)}"


def conversation_key(event: Event) -> tuple[str, str] | None:
    """(Page id, PSID), or (Page id, "user_ref:" + ref) for a person known only by a user_ref.

    Events with the same key are processed one at a time, in order. None for events that
    concern no person (app roles, policy enforcement, most feed changes, unroutable events).
    """
    if event.page_id is None:
        return None
    if event.psid is not None:
        return (event.page_id, event.psid)
    user_ref = getattr(event, "user_ref", None)
    if isinstance(user_ref, str):
        return (event.page_id, f"user_ref:{user_ref}")
    return None


@dataclass(frozen=True, slots=True)
class Routed:
    """What the webhook intake needs of one event: where it goes, not what it says."""

    page_id: str | None
    person: str | None
    """The second half of the event's `conversation_key`, None when it has none."""
    standby: bool
    raw: Any

    @classmethod
    def of(cls, event: Event) -> Routed:
        key = conversation_key(event)
        return cls(event.page_id, key[1] if key else None, event.standby, event.raw)


def route(body: bytes | bytearray | str | Mapping[str, Any]) -> tuple[Routed, ...]:
    """Every event of a webhook body with its Page and person, in order: the same events,
    Pages and conversation keys as `parse` and `conversation_key` give, at a fraction of the
    cost, because messaging items are not read (the worker reads each one, later). Raises
    MalformedPayload exactly when `parse` does.

    An item that `parse` would find malformed may get a different person here: the one it is
    addressed from or to rather than its sender. Only the order of its processing depends on
    it, and either is a fine choice for an event that cannot be read."""
    return tuple(walk(decode(body), _route_item, Routed.of))


def _route_item(item: Any, where: str, entry: _Entry, standby: bool) -> Routed:
    if entry.page_id is None or not isinstance(item, Mapping):
        return Routed.of(read_event(item, where, entry, standby))
    return Routed(entry.page_id, _person(item, entry.page_id), standby, item)


def _id(party: Any, name: str) -> str | None:
    """`party[name]` when `party` is an object and that is an id (`reader.ident`'s rule)."""
    if not isinstance(party, Mapping):
        return None
    value = party.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def _person(item: Mapping[str, Any], page_id: str) -> str | None:
    """The person a messaging item concerns, by the rules of `kinds`: the sender, or the
    recipient of what the Page itself sent (echoes, handovers by the Page); a `user_ref` for
    someone known only by one (checkbox opt-ins, referrals); nobody for the Page's own events."""
    if next((kind for kind in kinds.READERS if kind in item), None) in kinds.WITHOUT_PERSON:
        return None
    sender = item.get("sender")
    psid = _id(sender, "id")
    if psid is None or psid == page_id:
        other = _id(item.get("recipient"), "id")
        if other is not None and other != page_id:
            psid = other
    if psid is not None:
        return psid
    user_ref = _id(item.get("optin"), "user_ref") or _id(sender, "user_ref")
    return f"user_ref:{user_ref}" if user_ref is not None else None
