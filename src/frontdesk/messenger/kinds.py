"""Each messaging event kind's JSON read into its typed fields (digest §3.2-§3.20).

A reader gets the kind's value, the whole event and where it sits (for reasons); it returns
the name of the event type and its fields, or raises `Malformed`. `events.parse` builds the
event from them, so this module knows JSON shapes and nothing of the event classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import content
from . import reader as read
from .reader import Malformed

Fields = tuple[str, dict[str, Any]]


def sender(item: Mapping[str, Any], where: str) -> str:
    envelope = read.obj(item.get("sender"), f"{where}.sender")
    return read.ident(envelope.get("id"), f"{where}.sender.id")


def recipient(item: Mapping[str, Any], where: str) -> str:
    envelope = read.obj(item.get("recipient"), f"{where}.recipient")
    return read.ident(envelope.get("id"), f"{where}.recipient.id")


def message(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    attachments = content.attachments(body.get("attachments"), f"{where}.attachments")
    legacy_sticker = read.opt_ident(body.get("sticker_id"), f"{where}.sticker_id")
    fields: dict[str, Any] = {
        "mid": read.ident(body.get("mid"), f"{where}.mid"),
        "text": read.opt_text(body.get("text"), f"{where}.text"),
        "attachments": attachments,
        "reply_to": content.reply_to(body.get("reply_to"), f"{where}.reply_to"),
        "sticker_id": legacy_sticker
        or next((a.sticker_id for a in attachments if a.sticker_id), None),
    }
    if read.flag(body.get("is_echo"), f"{where}.is_echo"):
        return "echo", {
            **fields,
            "psid": recipient(item, where),  # an echo goes from the Page to the person
            "app_id": read.opt_ident(body.get("app_id"), f"{where}.app_id"),
            "metadata": read.opt_text(body.get("metadata"), f"{where}.metadata"),
        }
    quick = read.opt_obj(body.get("quick_reply"), f"{where}.quick_reply") or {}
    commands = read.items(body.get("commands"), f"{where}.commands")
    return "message", {
        **fields,
        "psid": sender(item, where),
        "quick_reply_payload": read.opt_scalar(
            quick.get("payload"), f"{where}.quick_reply.payload"
        ),
        "referral": content.referral(body.get("referral"), f"{where}.referral"),
        "commands": tuple(
            read.text(read.obj(c, f"{where}.commands[{i}]").get("name"), f"{where}.commands[{i}]")
            for i, c in enumerate(commands)
        ),
    }


def postback(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    who = read.obj(item.get("sender"), f"{where}.sender")
    psid = read.opt_ident(who.get("id"), f"{where}.sender.id")
    user_ref = read.opt_ident(who.get("user_ref"), f"{where}.sender.user_ref")
    if psid is None and user_ref is None:
        raise Malformed(f"{where}: the sender has neither id nor user_ref")
    return "postback", {
        "psid": psid,
        "user_ref": user_ref,
        "mid": read.opt_ident(body.get("mid"), f"{where}.mid"),
        "title": read.opt_text(body.get("title"), f"{where}.title"),
        "payload": read.opt_scalar(body.get("payload"), f"{where}.payload"),
        "referral": content.referral(body.get("referral"), f"{where}.referral"),
    }


def delivery(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    mids = read.items(body.get("mids"), f"{where}.mids")
    return "delivery", {
        "psid": sender(item, where),
        "watermark": read.integer(body.get("watermark"), f"{where}.watermark"),
        "mids": tuple(read.ident(m, f"{where}.mids[{i}]") for i, m in enumerate(mids)),
    }


def receipt(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    return "read", {
        "psid": sender(item, where),
        "watermark": read.integer(body.get("watermark"), f"{where}.watermark"),
    }


def reaction(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    return "reaction", {
        "psid": sender(item, where),
        "mid": read.ident(body.get("mid"), f"{where}.mid"),
        "action": read.text(body.get("action"), f"{where}.action"),
        "reaction": read.opt_text(body.get("reaction"), f"{where}.reaction"),
        "emoji": read.opt_text(body.get("emoji"), f"{where}.emoji"),
    }


def referral(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    return "referral", {
        "psid": sender(item, where),
        "referral": content.referral(read.obj(value, where), where),
    }


def optin(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    # The checkbox plugin sends no sender at all: the person is only a user_ref (§3.16).
    who = read.opt_obj(item.get("sender"), f"{where}.sender") or {}
    psid = read.opt_ident(who.get("id"), f"{where}.sender.id")
    user_ref = read.opt_ident(body.get("user_ref", who.get("user_ref")), f"{where}.user_ref")
    if psid is None and user_ref is None:
        raise Malformed(f"{where}: neither sender.id nor user_ref")
    texts = {
        name: read.opt_text(body.get(key), f"{where}.{key}")
        for name, key in (
            ("ref", "ref"),
            ("kind", "type"),
            ("title", "title"),
            ("notification_messages_token", "notification_messages_token"),
            ("notification_messages_timezone", "notification_messages_timezone"),
            ("notification_messages_status", "notification_messages_status"),
            ("user_token_status", "user_token_status"),
        )
    }
    return "optin", {
        **texts,
        "psid": psid,
        "user_ref": user_ref,
        "payload": read.opt_scalar(body.get("payload"), f"{where}.payload"),
        "token_expiry_timestamp": read.opt_integer(
            body.get("token_expiry_timestamp"), f"{where}.token_expiry_timestamp"
        ),
    }


def message_edit(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    return "message_edit", {
        "psid": sender(item, where),
        "mid": read.ident(body.get("mid"), f"{where}.mid"),
        "text": read.opt_text(body.get("text"), f"{where}.text"),
        "num_edit": read.opt_integer(body.get("num_edit"), f"{where}.num_edit"),
    }


def _handover_fields(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Any:
    body = read.obj(value, where)
    # Meta's own examples swap sender and recipient here; the person is whichever isn't the Page.
    psid = sender(item, where)
    if psid == page_id:
        psid = recipient(item, where)
    return body, {
        "psid": psid,
        "metadata": read.opt_text(body.get("metadata"), f"{where}.metadata"),
    }


def _owner_change(kind: str) -> Callable[[Any, Mapping[str, Any], str, str], Fields]:
    def owner_change(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
        body, fields = _handover_fields(value, item, where, page_id)
        return kind, {
            **fields,
            "previous_owner_app_id": read.opt_ident(
                body.get("previous_owner_app_id"), f"{where}.previous_owner_app_id"
            ),
            "new_owner_app_id": read.opt_ident(
                body.get("new_owner_app_id"), f"{where}.new_owner_app_id"
            ),
        }

    return owner_change


def request_thread_control(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body, fields = _handover_fields(value, item, where, page_id)
    return "request_thread_control", {
        **fields,
        "requested_owner_app_id": read.opt_ident(
            body.get("requested_owner_app_id"), f"{where}.requested_owner_app_id"
        ),
    }


def app_roles(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    roles = {
        str(app_id): tuple(
            read.text(role, f"{where}[{app_id!r}][{i}]")
            for i, role in enumerate(read.items(names, f"{where}[{app_id!r}]"))
        )
        for app_id, names in body.items()
    }
    return "app_roles", {"psid": None, "roles": roles}


def policy_enforcement(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    return "policy_enforcement", {
        "psid": None,
        "action": read.text(body.get("action"), f"{where}.action"),
        "reason": read.opt_text(body.get("reason"), f"{where}.reason"),
    }


def account_linking(value: Any, item: Mapping[str, Any], where: str, page_id: str) -> Fields:
    body = read.obj(value, where)
    return "account_linking", {
        "psid": sender(item, where),
        "status": read.text(body.get("status"), f"{where}.status"),
        "authorization_code": read.opt_text(
            body.get("authorization_code"), f"{where}.authorization_code"
        ),
    }


READERS: dict[str, Callable[[Any, Mapping[str, Any], str, str], Fields]] = {
    "message": message,
    "postback": postback,
    "delivery": delivery,
    "read": receipt,
    "reaction": reaction,
    "referral": referral,
    "optin": optin,
    "message_edit": message_edit,
    "pass_thread_control": _owner_change("pass_thread_control"),
    "take_thread_control": _owner_change("take_thread_control"),
    "request_thread_control": request_thread_control,
    "app_roles": app_roles,
    "policy_enforcement": policy_enforcement,
    "account_linking": account_linking,
}
"""Event key → reader, in the order keys are looked for; any other key is an unknown kind."""

WITHOUT_PERSON = frozenset({"app_roles", "policy_enforcement"})
"""Kinds about the Page itself: their events concern no person (`psid` None)."""
