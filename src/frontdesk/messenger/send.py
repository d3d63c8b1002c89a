"""The Send API client (digest §5): messages, sender actions and reusable attachments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from .batch import Batching
from .errors import BadRequest
from .messages import MAX_METADATA, MediaKind, check_message
from .transport import Answer, GraphTransport, unexpected
from .usage import Usage

MessagingType = Literal["RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"]
SenderAction = Literal["typing_on", "typing_off", "mark_seen", "react", "unreact"]
NotificationType = Literal["REGULAR", "SILENT_PUSH", "NO_PUSH"]

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")
NOTIFICATION_TYPES = ("REGULAR", "SILENT_PUSH", "NO_PUSH")
TAGS = ("HUMAN_AGENT", "CUSTOMER_FEEDBACK")
RETIRED_TAGS = ("ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE")
"""Refused by Meta with code 100 since 2026-04-27 (digest §5.4)."""
RECIPIENT_KEYS = ("id", "user_ref", "comment_id", "post_id", "notification_messages_token")


@dataclass(frozen=True, slots=True)
class SendResult:
    """What Meta answered to a message.

    `recipient_id` is None when the recipient was a `user_ref` (digest §12, pitfall 12);
    `attachment_id` is set only for a reusable attachment.
    """

    recipient_id: str | None
    message_id: str
    attachment_id: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    recipient_id: str | None
    usage: Usage | None = None


def recipient_of(recipient: str | Mapping[str, str]) -> dict[str, str]:
    """A PSID, or a recipient object with exactly one of Meta's recipient keys."""
    if isinstance(recipient, str):
        if not recipient:
            raise BadRequest("recipient is empty")
        return {"id": recipient}
    keys = [k for k in RECIPIENT_KEYS if recipient.get(k)]
    if len(keys) != 1 or len(recipient) != 1 or not isinstance(recipient[keys[0]], str):
        raise BadRequest(f"recipient needs exactly one of {', '.join(RECIPIENT_KEYS)}")
    return {keys[0]: recipient[keys[0]]}


def _optional(result: Mapping[str, Any], key: str) -> str | None:
    value = result.get(key)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


class SendClient:
    """Sends as a Page with its Page token, to `/{page_id}/messages` (`me` by default).

    Checks Meta's limits first and raises BadRequest without calling; every failure Meta
    answers is raised as the typed error of `errors.classify`.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        graph_url: str,
        version: str = "v25.0",
        *,
        batch: bool = False,
        app_token: str | None = None,
    ) -> None:
        """With `batch`, messages and sender actions that wait at the same moment go to Meta
        as one Graph batch request (`messenger.batch`); given the app's token too, the sends
        of all Pages share those requests."""
        if app_token is not None and not batch:
            raise ValueError("the app's token serves shared batches: it needs batch=True")
        self.transport = GraphTransport(http, graph_url, version)
        self.batching = Batching(self.transport, app_token=app_token) if batch else None

    async def _post(self, path: str, token: str, body: Mapping[str, Any], same_app: bool) -> Answer:
        if self.batching is not None:
            return await self.batching.post(path, token=token, json=body, same_app=same_app)
        return await self.transport.call("POST", path, token=token, json=body)

    async def send_message(
        self,
        page_token: str,
        recipient: str | Mapping[str, str],
        message: Mapping[str, Any],
        *,
        messaging_type: MessagingType = "RESPONSE",
        tag: str | None = None,
        metadata: str | None = None,
        notification_type: NotificationType | None = None,
        reply_to: str | None = None,
        persona_id: str | None = None,
        page_id: str = "me",
        same_app: bool = False,
    ) -> SendResult:
        """Send `message` (see `messages`) with `messaging_type` always stated.

        `metadata` (< 1000 characters) comes back in the echo, to recognise our own sends;
        `reply_to` quotes a message id; `tag` needs `messaging_type="MESSAGE_TAG"`. With
        `same_app`, the Page token was issued to the app whose token this client holds: the
        call may share a batch with other Pages' calls.
        """
        content = dict(message)
        if metadata is not None:
            if len(metadata) >= MAX_METADATA:
                raise BadRequest(f"metadata must be shorter than {MAX_METADATA} characters")
            content["metadata"] = metadata
        check_message(content)
        body: dict[str, Any] = {
            "recipient": recipient_of(recipient),
            "messaging_type": _messaging_type(messaging_type, tag),
            "message": content,
        }
        if tag is not None:
            body["tag"] = tag
        if notification_type is not None:
            if notification_type not in NOTIFICATION_TYPES:
                raise BadRequest(
                    f"notification_type must be one of {', '.join(NOTIFICATION_TYPES)}"
                )
            body["notification_type"] = notification_type
        if reply_to is not None:
            if not reply_to:
                raise BadRequest("reply_to is empty")
            body["reply_to"] = {"mid": reply_to}
        if persona_id is not None:
            body["persona_id"] = persona_id
        path = f"{page_id}/messages"
        answer = await self._post(path, page_token, body, same_app)
        result = answer.body
        if not isinstance(result, Mapping) or _optional(result, "message_id") is None:
            raise unexpected(path, "no message_id")
        return SendResult(
            recipient_id=_optional(result, "recipient_id"),
            message_id=str(result["message_id"]),
            attachment_id=_optional(result, "attachment_id"),
            usage=answer.usage,
        )

    async def sender_action(
        self,
        page_token: str,
        recipient: str | Mapping[str, str],
        action: SenderAction,
        *,
        message_id: str | None = None,
        reaction: str | None = None,
        page_id: str = "me",
    ) -> ActionResult:
        """Typing on/off, mark seen, or react/unreact to `message_id`.

        Sent alone, as Meta requires: only `recipient`, `sender_action` (and the reaction's
        `payload`); no `messaging_type`, which the reference attaches to messages only.
        """
        if action not in SENDER_ACTIONS:
            raise BadRequest(f"sender_action must be one of {', '.join(SENDER_ACTIONS)}")
        body: dict[str, Any] = {"recipient": recipient_of(recipient), "sender_action": action}
        if action in ("react", "unreact"):
            if not message_id:
                raise BadRequest(f"{action} needs the message_id")
            payload = {"message_id": message_id}
            if action == "react":
                if not reaction:
                    raise BadRequest("react needs the reaction (an emoji)")
                payload["reaction"] = reaction
            body["payload"] = payload
        answer = await self._post(f"{page_id}/messages", page_token, body, same_app=False)
        result = answer.body if isinstance(answer.body, Mapping) else {}
        return ActionResult(recipient_id=_optional(result, "recipient_id"), usage=answer.usage)

    async def upload_attachment(
        self, page_token: str, kind: MediaKind, url: str, *, page_id: str = "me"
    ) -> str:
        """Have Meta fetch `url` once and keep it; returns the `attachment_id` to send later.

        Ids are private to the Page and expire (90 days in current docs): a stale one fails
        with BadRequest subcode 2018074, and the file must be uploaded again.
        """
        check_message({"attachment": {"type": kind, "payload": {"url": url}}})
        path = f"{page_id}/message_attachments"
        body = {
            "message": {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}
        }
        answer = await self.transport.call("POST", path, token=page_token, json=body)
        result = answer.body if isinstance(answer.body, Mapping) else {}
        attachment_id = _optional(result, "attachment_id")
        if attachment_id is None:
            raise unexpected(path, "no attachment_id")
        return attachment_id


def _messaging_type(messaging_type: str, tag: str | None) -> str:
    if messaging_type not in MESSAGING_TYPES:
        raise BadRequest(f"messaging_type must be one of {', '.join(MESSAGING_TYPES)}")
    if tag is None:
        if messaging_type == "MESSAGE_TAG":
            raise BadRequest("messaging_type MESSAGE_TAG needs a tag")
        return messaging_type
    if tag in RETIRED_TAGS:
        raise BadRequest(f"the message tag {tag} is retired; Meta refuses it")
    if tag not in TAGS:
        raise BadRequest(f"tag must be one of {', '.join(TAGS)}")
    if messaging_type != "MESSAGE_TAG":
        raise BadRequest("a tag needs messaging_type MESSAGE_TAG")
    return messaging_type
