"""Keys over events: one to drop redeliveries (digest §4, rule 2), one to keep a person in order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
)


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
