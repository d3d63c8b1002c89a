"""Builders for the webhook events of digest §3: one function per event kind, exact shapes."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

# Webhook field (subscription name) for each event key (digest §3.1).
FIELD_OF_KEY = {
    "message": "messages",
    "postback": "messaging_postbacks",
    "delivery": "message_deliveries",
    "read": "message_reads",
    "reaction": "message_reactions",
    "message_edit": "message_edits",
    "referral": "messaging_referrals",
    "optin": "messaging_optins",
    "pass_thread_control": "messaging_handovers",
    "take_thread_control": "messaging_handovers",
    "request_thread_control": "messaging_handovers",
    "app_roles": "messaging_handovers",
    "policy_enforcement": "messaging_policy_enforcement",
    "account_linking": "messaging_account_linking",
}

# What a non-owner app sees under `standby` (digest §3.18).
STANDBY_KEYS = {"message", "read", "delivery", "postback"}

REACTIONS = {
    "\U0001f606": "smile",
    "\U0001f604": "smile",
    "\U0001f60a": "smile",
    "\U0001f620": "angry",
    "\U0001f622": "sad",
    "\U0001f62e": "wow",
    "\u2764\ufe0f": "love",
    "\u2764": "love",
    "\U0001f44d": "like",
    "\U0001f44e": "dislike",
}


def event_key(event: Event) -> str:
    """The key that names an event's kind; `message` with `is_echo` is still `message`."""
    for key in event:
        if key not in ("sender", "recipient", "timestamp"):
            return key
    raise ValueError("event without a kind")


def field_of(event: Event) -> str:
    key = event_key(event)
    if key == "message" and event["message"].get("is_echo"):
        return "message_echoes"
    return FIELD_OF_KEY.get(key, key)


def _from_user(psid: str, page_id: str, ts: int, key: str, body: dict[str, Any]) -> Event:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": ts, key: body}


def message(
    psid: str,
    page_id: str,
    ts: int,
    mid: str,
    *,
    text: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    quick_reply: str | None = None,
    reply_to: dict[str, Any] | None = None,
    referral: dict[str, Any] | None = None,
) -> Event:
    body: dict[str, Any] = {"mid": mid}
    if text is not None:
        body["text"] = text
    if quick_reply is not None:
        body["quick_reply"] = {"payload": quick_reply}
    if reply_to is not None:
        body["reply_to"] = reply_to
    if attachments:
        body["attachments"] = attachments
    if referral is not None:
        body["referral"] = referral
    return _from_user(psid, page_id, ts, "message", body)


def echo(
    page_id: str,
    psid: str,
    ts: int,
    mid: str,
    app_id: str,
    *,
    text: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    metadata: str | None = None,
    reply_to: str | None = None,
) -> Event:
    # app_id is a JSON number in real echoes (digest §3.10); sender and recipient are swapped.
    body: dict[str, Any] = {"is_echo": True, "app_id": int(app_id)}
    if metadata is not None:
        body["metadata"] = metadata
    body["mid"] = mid
    if text is not None:
        body["text"] = text
    if attachments:
        body["attachments"] = attachments
    if reply_to is not None:
        body["reply_to"] = {"mid": reply_to}
    return {"sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": ts, "message": body}


def echo_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    """How a sent attachment looks inside an echo: templates keep the pre-v6 `title`/`url`."""
    kind = attachment.get("type")
    payload = dict(attachment.get("payload") or {})
    if kind == "template":
        elements = payload.get("elements")
        if isinstance(elements, list):
            # Echoed media templates carry attachment_id as a number (digest §3.9). Copies: the
            # sent message keeps the string the Send API took.
            payload["elements"] = [_numeric_attachment_id(e) for e in elements]
        return {"type": "template", "title": "", "url": None, "payload": payload}
    payload.pop("is_reusable", None)
    return {"type": kind, "payload": payload}


def _numeric_attachment_id(element: Any) -> Any:
    value = str(element.get("attachment_id", "")) if isinstance(element, dict) else ""
    if not (value.isascii() and value.isdigit()):
        return element
    return {**element, "attachment_id": int(value)}


def postback(
    psid: str,
    page_id: str,
    ts: int,
    mid: str,
    title: str,
    payload: str | None,
    referral: dict[str, Any] | None = None,
) -> Event:
    body: dict[str, Any] = {"mid": mid, "title": title}
    if payload is not None:
        body["payload"] = payload
    if referral is not None:
        body["referral"] = referral
    return _from_user(psid, page_id, ts, "postback", body)


def delivery(psid: str, page_id: str, ts: int, mids: list[str], watermark: int) -> Event:
    return _from_user(psid, page_id, ts, "delivery", {"mids": mids, "watermark": watermark})


def read(psid: str, page_id: str, ts: int, watermark: int) -> Event:
    return _from_user(psid, page_id, ts, "read", {"watermark": watermark})


def reaction(psid: str, page_id: str, ts: int, mid: str, emoji: str | None) -> Event:
    if emoji is None:
        body: dict[str, Any] = {"mid": mid, "action": "unreact"}
    else:
        name = REACTIONS.get(emoji, "other")
        body = {"mid": mid, "action": "react", "reaction": name, "emoji": emoji}
    return _from_user(psid, page_id, ts, "reaction", body)


def referral(psid: str, page_id: str, ts: int, ref: dict[str, Any]) -> Event:
    return _from_user(psid, page_id, ts, "referral", ref)


def optin(psid: str | None, page_id: str, ts: int, body: dict[str, Any]) -> Event:
    event: Event = {"recipient": {"id": page_id}, "timestamp": ts, "optin": body}
    if psid is not None:
        event = {"sender": {"id": psid}, **event}
    return event


def message_edit(psid: str, page_id: str, ts: int, mid: str, text: str, num_edit: int) -> Event:
    return _from_user(
        psid, page_id, ts, "message_edit", {"mid": mid, "text": text, "num_edit": num_edit}
    )


def pass_thread_control(
    psid: str, page_id: str, ts: int, previous: str | None, new: str, metadata: str | None
) -> Event:
    body: dict[str, Any] = {"previous_owner_app_id": previous, "new_owner_app_id": new}
    if metadata is not None:
        body["metadata"] = metadata
    return _from_user(psid, page_id, ts, "pass_thread_control", body)


def take_thread_control(
    psid: str, page_id: str, ts: int, previous: str | None, new: str, metadata: str | None
) -> Event:
    body: dict[str, Any] = {"previous_owner_app_id": previous, "new_owner_app_id": new}
    if metadata is not None:
        body["metadata"] = metadata
    return _from_user(psid, page_id, ts, "take_thread_control", body)


def request_thread_control(
    psid: str, page_id: str, ts: int, requester: str, metadata: str | None
) -> Event:
    # requested_owner_app_id is a number in Meta's documentation (digest §3.19).
    body: dict[str, Any] = {"requested_owner_app_id": int(requester)}
    if metadata is not None:
        body["metadata"] = metadata
    return _from_user(psid, page_id, ts, "request_thread_control", body)


def app_roles(page_id: str, ts: int, roles: dict[str, list[str]]) -> Event:
    return {"recipient": {"id": page_id}, "timestamp": ts, "app_roles": roles}


def policy_enforcement(page_id: str, ts: int, action: str, reason: str | None) -> Event:
    body: dict[str, Any] = {"action": action}
    if reason is not None and action != "unblock":
        body["reason"] = reason
    return {"recipient": {"id": page_id}, "timestamp": ts, "policy_enforcement": body}


def account_linking(
    psid: str, page_id: str, ts: int, status: str, authorization_code: str | None
) -> Event:
    body: dict[str, Any] = {"status": status}
    if authorization_code is not None and status == "linked":
        body["authorization_code"] = authorization_code
    return _from_user(psid, page_id, ts, "account_linking", body)


def entry(page_id: str, time_ms: int, channel: str, events: list[Event]) -> dict[str, Any]:
    return {"id": page_id, "time": time_ms, channel: events}


def envelope(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "page", "entry": entries}
