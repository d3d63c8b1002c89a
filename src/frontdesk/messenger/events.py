"""Webhook bodies parsed into typed events (digest §3): every entry, every kind, never fatal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import kinds
from . import reader as read
from .content import Attachment, Referral, ReplyTo
from .errors import MalformedPayload
from .reader import Malformed


class Event:
    """Base of every event: the Page and person it concerns, when, and the raw dict.

    Typed events always have `page_id` (the entry's id) and `timestamp` (ms); `psid` is the
    person (the sender, or the recipient of an echo) and None only for events without one
    (checkbox opt-ins by `user_ref`, app roles, policy enforcement). `UnknownEvent` may lack all
    three. `standby` marks events received because another app owns the thread (§3.18).
    """

    __slots__ = ()
    page_id: str | None
    psid: str | None
    timestamp: int | None
    standby: bool
    raw: Any


@dataclass(frozen=True, kw_only=True, slots=True)
class _Envelope(Event):
    page_id: str
    psid: str | None
    timestamp: int
    standby: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Content(_Envelope):
    psid: str
    mid: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: ReplyTo | None = None
    sticker_id: str | None = None
    """The sticker sent: from its attachment, or the 2016-era top-level `sticker_id`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageEvent(_Content):
    """A person's message: text, attachments, a quick-reply tap, a reply."""

    quick_reply_payload: str | None = None
    referral: Referral | None = None
    commands: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class EchoEvent(_Content):
    """A message the Page sent, echoed back; `psid` is its recipient.

    `app_id` is the app that sent it (a string here, though Meta sends a number): ours, another
    app, or Meta's Page Inbox when a human typed it. Never run bot logic on an echo.
    """

    app_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PostbackEvent(_Envelope):
    """A button tap (postback button, Get Started, menu, ice breaker).

    `payload` is None in standby copies; `user_ref` replaces `psid` for some plugins.
    """

    mid: str | None = None
    title: str | None = None
    payload: str | None = None
    referral: Referral | None = None
    user_ref: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryEvent(_Envelope):
    """Everything the Page sent before `watermark` (ms) reached the person; `mids` optional."""

    psid: str
    watermark: int
    mids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadEvent(_Envelope):
    """Everything the Page sent up to `watermark` (ms) was read."""

    psid: str
    watermark: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReactionEvent(_Envelope):
    psid: str
    mid: str
    action: str
    """react or unreact (an unreact may omit `reaction` and `emoji`)."""
    reaction: str | None = None
    emoji: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReferralEvent(_Envelope):
    """An existing thread re-entered from an m.me link, an ad, ..."""

    psid: str
    referral: Referral


@dataclass(frozen=True, kw_only=True, slots=True)
class OptinEvent(_Envelope):
    """An opt-in: Send to Messenger (`psid`), checkbox (`user_ref`, no `psid`), notifications."""

    ref: str | None = None
    user_ref: str | None = None
    kind: str | None = None
    """Meta's `type`, e.g. notification_messages."""
    title: str | None = None
    payload: str | None = None
    notification_messages_token: str | None = None
    notification_messages_timezone: str | None = None
    notification_messages_status: str | None = None
    token_expiry_timestamp: int | None = None
    user_token_status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageEditEvent(_Envelope):
    """The person edited message `mid`; `num_edit` counts edits so far."""

    psid: str
    mid: str
    text: str | None = None
    num_edit: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PassThreadControl(_Envelope):
    """Thread control was passed (to us, usually); `previous_owner_app_id` None when idle."""

    psid: str
    previous_owner_app_id: str | None = None
    new_owner_app_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TakeThreadControl(_Envelope):
    """Thread control was taken (from us, usually; by Meta's inbox when a human replies)."""

    psid: str
    previous_owner_app_id: str | None = None
    new_owner_app_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestThreadControl(_Envelope):
    psid: str
    requested_owner_app_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AppRoles(_Envelope):
    """A Page admin changed app roles: app id → roles."""

    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyEnforcement(_Envelope):
    """Meta warned, blocked or unblocked the Page; a block means sends will fail."""

    action: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountLinking(_Envelope):
    psid: str
    status: str
    authorization_code: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeEvent(_Envelope):
    """A non-messaging Page field from `entry.changes[]` (feed, inbox_labels, ...)."""

    field_name: str
    """Meta's `field`: feed, inbox_labels, ..."""
    value: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UnknownEvent(Event):
    """Anything not understood: an unknown kind, or a malformed piece. Never fatal, kept raw.

    `reason` says why in words; `kind` is the event key when one was recognisable.
    """

    page_id: str | None = None
    psid: str | None = None
    timestamp: int | None = None
    standby: bool = False
    reason: str
    kind: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """One webhook POST: every event of every entry, in the order they arrived."""

    object: str | None
    events: tuple[Event, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


# --- parsing -------------------------------------------------------------------------------------

_CLASSES: dict[str, type[_Envelope]] = {
    "message": MessageEvent,
    "echo": EchoEvent,
    "postback": PostbackEvent,
    "delivery": DeliveryEvent,
    "read": ReadEvent,
    "reaction": ReactionEvent,
    "referral": ReferralEvent,
    "optin": OptinEvent,
    "message_edit": MessageEditEvent,
    "pass_thread_control": PassThreadControl,
    "take_thread_control": TakeThreadControl,
    "request_thread_control": RequestThreadControl,
    "app_roles": AppRoles,
    "policy_enforcement": PolicyEnforcement,
    "account_linking": AccountLinking,
}
_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp"})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(body: bytes | bytearray | str | Mapping[str, Any]) -> Batch:
    """Every event of a webhook body, typed, in order: all entries; messaging, standby, changes.

    Raises MalformedPayload only when the body is not JSON or not a JSON object. Anything else
    that is not understood (another `object`, a malformed entry or event, an unknown kind)
    becomes an UnknownEvent with its reason and raw value: never lost, never fatal.
    """
    data = decode(body)
    kind = data.get("object")
    return Batch(
        object=kind if isinstance(kind, str) else None,
        events=tuple(walk(data, read_event, _same)),
        raw=data,
    )


def decode(body: bytes | bytearray | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON object of a webhook body; MalformedPayload when it is not one."""
    if isinstance(body, Mapping):
        data: Any = body
    elif isinstance(body, bytes | bytearray | str):
        try:
            data = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
            raise MalformedPayload("the webhook body is not JSON") from err
    else:
        raise MalformedPayload(f"cannot parse a {type(body).__name__} as a webhook body")
    if not isinstance(data, Mapping):
        raise MalformedPayload("the webhook body is not a JSON object")
    return data


T = TypeVar("T")
ItemReader = Callable[[Any, str, "Entry", bool], T]
"""Reads one messaging or standby item: (item, where, its entry, standby)."""


def walk(data: Mapping[str, Any], item: ItemReader[T], other: Callable[[Event], T]) -> Iterator[T]:
    """Every event of a decoded body, in order: `item` reads each messaging and standby item;
    everything else (feed changes, and what cannot be an event: another `object`, a malformed
    entry) is read as a typed event and given to `other`. `parse` and `keys.route` differ only
    in how they read an item."""
    kind = data.get("object")
    if kind != "page":
        reason = "object is missing" if kind is None else f"object is {_short(kind)}, not 'page'"
        yield other(UnknownEvent(reason=reason, raw=data))
        return
    entries = data.get("entry")
    if not isinstance(entries, list):
        yield other(UnknownEvent(reason="entry is missing or not a list", raw=data))
        return
    for i, entry in enumerate(entries):
        yield from _entry(entry, f"entry[{i}]", item, other)


def _same(event: Event) -> Event:
    return event


@dataclass(frozen=True, slots=True)
class Entry:
    """What an item needs of its entry."""

    page_id: str | None
    problem: str | None
    """Why `page_id` is None."""
    time: int | None


def _entry(
    value: Any, where: str, read_item: ItemReader[T], other: Callable[[Event], T]
) -> Iterator[T]:
    if not isinstance(value, Mapping):
        yield other(UnknownEvent(reason=f"{where} is not an object", raw=value))
        return
    page_id, problem = None, None
    try:
        page_id = read.ident(value.get("id"), f"{where}.id")
    except Malformed as err:
        problem = str(err)
    time = value.get("time")
    entry = Entry(page_id, problem, time if type(time) is int and time in read.INT64 else None)
    channels = [c for c in ("messaging", "standby", "changes") if c in value]
    if not channels:
        yield other(
            UnknownEvent(
                page_id=page_id, reason=f"{where} has no messaging, standby or changes", raw=value
            )
        )
    for channel in channels:
        standby = channel == "standby"
        try:
            pieces = read.items(value[channel], f"{where}.{channel}")
        except Malformed as err:
            yield other(
                UnknownEvent(page_id=page_id, standby=standby, reason=str(err), raw=value[channel])
            )
            continue
        for j, item in enumerate(pieces):
            at = f"{where}.{channel}[{j}]"
            if channel == "changes":
                yield other(_change(item, at, entry))
            else:
                yield read_item(item, at, entry, standby)


def _timestamp(item: Mapping[str, Any], entry: Entry, where: str) -> int:
    value = item.get("timestamp")
    if value is None:
        if entry.time is None:
            raise Malformed(f"{where} has no timestamp, nor has its entry a time")
        return entry.time  # Meta's delivery example omits the event's own timestamp
    return read.integer(value, f"{where}.timestamp")


def read_stored(page_id: str, item: Any, standby: bool = False) -> Event:
    """One messaging (or, with `standby`, standby) item kept apart from its body, as the
    webhook intake stores each event: read as `parse` reads it in an entry of `page_id` whose
    `time` is 0, without building that body around it."""
    where = "entry[0].standby[0]" if standby else "entry[0].messaging[0]"
    return read_event(item, where, Entry(page_id, None, 0), standby)


def read_event(item: Any, where: str, entry: Entry, standby: bool) -> Event:
    """One messaging or standby item, typed; an UnknownEvent when it cannot be read."""
    if not isinstance(item, Mapping):
        return UnknownEvent(
            page_id=entry.page_id, standby=standby, reason=f"{where} is not an object", raw=item
        )
    key = next((k for k in kinds.READERS if k in item), None)
    other = key or next((k for k in item if isinstance(k, str) and k not in _ENVELOPE_KEYS), None)
    try:
        if entry.page_id is None:
            raise Malformed(entry.problem or "the entry has no id")
        if key is None:
            raise Malformed(f"unsupported event kind {other!r}" if other else "no event key")
        timestamp = _timestamp(item, entry, where)
        name, fields = kinds.READERS[key](item[key], item, f"{where}.{key}", entry.page_id)
        return _CLASSES[name](
            page_id=entry.page_id, timestamp=timestamp, standby=standby, raw=item, **fields
        )
    except Malformed as err:
        psid = timestamp_guess = None
        with contextlib.suppress(Malformed):
            psid = kinds.sender(item, where)
        with contextlib.suppress(Malformed):
            timestamp_guess = _timestamp(item, entry, where)
        return UnknownEvent(
            page_id=entry.page_id,
            psid=psid,
            timestamp=timestamp_guess,
            standby=standby,
            reason=str(err),
            kind=other,
            raw=item,
        )


def _change(item: Any, where: str, entry: Entry) -> Event:
    try:
        change = read.obj(item, where)
        if entry.page_id is None:
            raise Malformed(entry.problem or "the entry has no id")
        if entry.time is None:
            raise Malformed(f"{where}: its entry has no time")
        name = read.text(change.get("field"), f"{where}.field")
        value = change.get("value")
        psid = None
        if name == "inbox_labels" and isinstance(value, Mapping):
            user = read.opt_obj(value.get("user"), f"{where}.value.user") or {}
            psid = read.opt_ident(user.get("id"), f"{where}.value.user.id")
        return ChangeEvent(
            page_id=entry.page_id,
            psid=psid,
            timestamp=entry.time,
            raw=change,
            field_name=name,
            value=value,
        )
    except Malformed as err:
        return UnknownEvent(
            page_id=entry.page_id, timestamp=entry.time, reason=str(err), kind="changes", raw=item
        )
