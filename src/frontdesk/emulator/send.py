"""Send API request validation with Meta's limits (digest §5): what may be sent, and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .errors import invalid_parameter, message_and_action, retired_tag

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY")
ACTIVE_TAGS = ("HUMAN_AGENT", "CUSTOMER_FEEDBACK")
RETIRED_TAGS = (
    "ACCOUNT_UPDATE",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    # The pre-2020 set, long gone (digest §5.4).
    "BUSINESS_PRODUCTIVITY",
    "COMMUNITY_ALERT",
    "GAME_EVENT",
    "ISSUE_RESOLUTION",
    "NON_PROMOTIONAL_SUBSCRIPTION",
    "PAIRING_UPDATE",
    "PAYMENT_UPDATE",
    "PERSONAL_FINANCE_UPDATE",
    "RESERVATION_UPDATE",
    "SHIPPING_UPDATE",
    "TICKET_UPDATE",
    "TRANSPORTATION_UPDATE",
    "FEATURE_FUNCTIONALITY_UPDATE",
    "APPOINTMENT_UPDATE",
    "APPLICATION_UPDATE",
)
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")
NOTIFICATION_TYPES = ("REGULAR", "SILENT_PUSH", "NO_PUSH")
MEDIA_TYPES = ("image", "audio", "video", "file")
QUICK_REPLY_TYPES = ("text", "user_phone_number", "user_email")
BUTTON_TYPES = (
    "web_url",
    "postback",
    "phone_number",
    "account_link",
    "account_unlink",
    "game_play",
)

# The digest says text must be "< 2000 characters" while some Meta errors say "<= 2000"; we keep
# the stricter reading so a connector that passes here passes on Meta.
MAX_TEXT = 1999
MAX_METADATA = 999
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_ELEMENTS = 10
MAX_ELEMENT_TEXT = 80
MAX_BUTTONS = 3
MAX_RECEIPT_ELEMENTS = 100


@dataclass
class SendRequest:
    recipient: dict[str, str]
    messaging_type: str
    tag: str | None = None
    sender_action: str | None = None
    action_payload: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    attachment: dict[str, Any] | None = None
    quick_replies: list[dict[str, Any]] = field(default_factory=list)
    metadata: str | None = None
    sticker_id: str | None = None
    reply_to: str | None = None
    persona_id: str | None = None
    notification_type: str = "REGULAR"
    thread_control: dict[str, str] | None = None

    @property
    def rate_kind(self) -> str:
        """Audio and video count against the 10/s media limit, everything else the 300/s one."""
        if self.attachment and self.attachment.get("type") in ("audio", "video"):
            return "media"
        return "text"

    @property
    def reusable(self) -> bool:
        payload = (self.attachment or {}).get("payload") or {}
        return bool(payload.get("is_reusable")) and self.attachment_type in MEDIA_TYPES

    @property
    def attachment_type(self) -> str | None:
        return None if self.attachment is None else str(self.attachment.get("type"))


def _require_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_parameter(f"param {name} must be a JSON object")
    return value


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise invalid_parameter(f"param {name} must be non-empty.")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise invalid_parameter(f"param {name} must be a string")
    text = str(value)
    if required and not text:
        raise invalid_parameter(f"param {name} must be non-empty.")
    if len(text) > limit:
        raise invalid_parameter(f"Length of param {name} must be less than or equal to {limit}")
    return text


def _url(value: Any, name: str) -> str:
    try:
        scheme = urlparse(value).scheme if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        scheme = None
    if scheme not in ("http", "https"):
        raise invalid_parameter(f"param {name} must be a valid URL")
    if len(value) > 2083:
        raise invalid_parameter(f"param {name} is too long")
    return str(value)  # a str already; mypy cannot narrow `value` through `scheme`


def parse(params: dict[str, Any], *, strict: bool = False) -> SendRequest:
    """Validate a Send API call; raise `GraphError` exactly where Meta would refuse it."""
    recipient = _require_dict(params.get("recipient"), "recipient")
    keys = [
        k
        for k in ("id", "user_ref", "comment_id", "post_id", "notification_messages_token")
        if recipient.get(k)
    ]
    if len(keys) != 1:
        raise invalid_parameter(
            "param recipient must have exactly one of id, user_ref, comment_id, post_id"
        )
    if keys[0] not in ("id", "user_ref"):
        raise invalid_parameter(
            f"The emulator has no Page posts, so recipient.{keys[0]} cannot be used"
        )
    recipient = {keys[0]: str(recipient[keys[0]])}

    message = params.get("message")
    action = params.get("sender_action")
    if message is not None and action is not None:
        raise message_and_action()
    if message is None and action is None:
        raise invalid_parameter("param message must be non-empty.")

    messaging_type = params.get("messaging_type")
    if messaging_type is None:
        if strict and action is None:
            raise invalid_parameter("param messaging_type is required")
        messaging_type = "RESPONSE"
    if messaging_type not in MESSAGING_TYPES:
        raise invalid_parameter(f"param messaging_type must be one of {', '.join(MESSAGING_TYPES)}")
    tag = params.get("tag")
    if tag is not None:
        if tag in RETIRED_TAGS:
            raise retired_tag(str(tag))
        if tag not in ACTIVE_TAGS:
            raise invalid_parameter(f"param tag must be one of {', '.join(ACTIVE_TAGS)}")
        if messaging_type != "MESSAGE_TAG":
            raise invalid_parameter("param tag requires messaging_type MESSAGE_TAG")
    elif messaging_type == "MESSAGE_TAG":
        raise invalid_parameter("param tag is required with messaging_type MESSAGE_TAG")

    notification_type = params.get("notification_type", "REGULAR")
    if notification_type not in NOTIFICATION_TYPES:
        raise invalid_parameter(
            f"param notification_type must be one of {', '.join(NOTIFICATION_TYPES)}"
        )

    request = SendRequest(
        recipient=recipient,
        messaging_type=str(messaging_type),
        tag=str(tag) if tag is not None else None,
        notification_type=str(notification_type),
    )
    if params.get("persona_id") is not None:
        request.persona_id = _text(params["persona_id"], "persona_id", 64)
    reply_to = params.get("reply_to")
    if reply_to is not None:
        request.reply_to = _text(
            _require_dict(reply_to, "reply_to").get("mid"), "reply_to[mid]", 200
        )
    control = params.get("thread_control")
    if control is not None:
        control = _require_dict(control, "thread_control")
        if control.get("control_type") not in ("pass", "release"):
            raise invalid_parameter("param thread_control[control_type] must be pass or release")
        request.thread_control = {k: str(v) for k, v in control.items() if v is not None}

    if action is not None:
        _parse_action(request, action, params.get("payload"))
    else:
        _parse_message(request, _require_dict(message, "message"))
    if request.tag == "CUSTOMER_FEEDBACK":
        payload = (request.attachment or {}).get("payload") or {}
        if payload.get("template_type") != "customer_feedback":
            raise invalid_parameter(
                "The CUSTOMER_FEEDBACK tag may only be used with the customer_feedback template"
            )
    return request


def _parse_action(request: SendRequest, action: Any, payload: Any) -> None:
    if action not in SENDER_ACTIONS:
        raise invalid_parameter(f"param sender_action must be one of {', '.join(SENDER_ACTIONS)}")
    request.sender_action = str(action)
    if action in ("react", "unreact"):
        body = _require_dict(payload, "payload")
        _text(body.get("message_id"), "payload[message_id]", 200)
        if action == "react":
            _text(body.get("reaction"), "payload[reaction]", 16)
        request.action_payload = body


def _parse_message(request: SendRequest, message: dict[str, Any]) -> None:
    kinds = [k for k in ("text", "attachment", "sticker_id") if message.get(k) is not None]
    if not kinds:
        raise invalid_parameter("param message must have text, attachment or sticker_id")
    if len(kinds) > 1:
        raise invalid_parameter("param message must have only one of text, attachment, sticker_id")
    if "text" in kinds:
        request.text = _text(message["text"], "message[text]", MAX_TEXT)
    elif "attachment" in kinds:
        request.attachment = _attachment(
            _require_dict(message["attachment"], "message[attachment]")
        )
    else:
        sticker = _text(message["sticker_id"], "message[sticker_id]", 32) or ""
        if not (sticker.isascii() and sticker.isdigit()):
            raise invalid_parameter("param message[sticker_id] must be a sticker id (a number)")
        request.sticker_id = sticker
    if message.get("metadata") is not None:
        request.metadata = _text(message["metadata"], "message[metadata]", MAX_METADATA)
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list) or not quick:
            raise invalid_parameter("param message[quick_replies] must be a non-empty array")
        if len(quick) > MAX_QUICK_REPLIES:
            raise invalid_parameter(
                f"param message[quick_replies] must have at most {MAX_QUICK_REPLIES} items"
            )
        request.quick_replies = [_quick_reply(q, i) for i, q in enumerate(quick)]


def _quick_reply(value: Any, index: int) -> dict[str, Any]:
    name = f"message[quick_replies][{index}]"
    reply = _require_dict(value, name)
    content_type = reply.get("content_type", "text")
    if content_type not in QUICK_REPLY_TYPES:
        raise invalid_parameter(
            f"param {name}[content_type] must be one of {', '.join(QUICK_REPLY_TYPES)}"
        )
    if content_type != "text":
        return {"content_type": content_type}
    image = reply.get("image_url")
    out: dict[str, Any] = {"content_type": "text"}
    title = _text(reply.get("title"), f"{name}[title]", MAX_TITLE, required=image is None)
    payload = _text(reply.get("payload"), f"{name}[payload]", MAX_PAYLOAD, required=image is None)
    out["title"] = title or ""
    out["payload"] = payload or ""
    if image is not None:
        out["image_url"] = _url(image, f"{name}[image_url]")
    return out


def _attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    kind = attachment.get("type")
    payload = _require_dict(attachment.get("payload", {}), "message[attachment][payload]")
    if kind in MEDIA_TYPES:
        has_url, has_id = payload.get("url") is not None, payload.get("attachment_id") is not None
        if has_url == has_id:
            raise invalid_parameter(
                "param message[attachment][payload] must have one of url, attachment_id"
            )
        out: dict[str, Any] = {}
        if has_url:
            out["url"] = _url(payload["url"], "message[attachment][payload][url]")
        else:
            out["attachment_id"] = _text(
                payload["attachment_id"], "message[attachment][payload][attachment_id]", 32
            )
        if payload.get("is_reusable") is not None:
            out["is_reusable"] = bool(payload["is_reusable"])
        return {"type": kind, "payload": out}
    if kind == "template":
        return {"type": "template", "payload": _template(payload)}
    raise invalid_parameter(
        "param message[attachment][type] must be one of image, audio, video, file, template"
    )


def _buttons(value: Any, name: str, *, minimum: int = 0) -> list[dict[str, Any]]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise invalid_parameter(f"param {name} must be an array")
    if not minimum <= len(value) <= MAX_BUTTONS:
        raise invalid_parameter(
            f"param {name} must have between {minimum} and {MAX_BUTTONS} buttons"
        )
    return [_button(b, f"{name}[{i}]") for i, b in enumerate(value)]


def _button(value: Any, name: str) -> dict[str, Any]:
    button = dict(_require_dict(value, name))
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise invalid_parameter(f"param {name}[type] must be one of {', '.join(BUTTON_TYPES)}")
    if kind not in ("account_link", "account_unlink"):
        _text(button.get("title"), f"{name}[title]", MAX_TITLE)
    if kind in ("web_url", "account_link"):
        _url(button.get("url"), f"{name}[url]")
    if kind == "postback":
        _text(button.get("payload"), f"{name}[payload]", MAX_PAYLOAD)
    if kind == "phone_number":
        number = _text(button.get("payload"), f"{name}[payload]", 32) or ""
        if not number.startswith("+"):
            raise invalid_parameter(f"param {name}[payload] must be a phone number starting with +")
    return button


def _elements(payload: dict[str, Any], maximum: int, minimum: int = 1) -> list[dict[str, Any]]:
    elements = payload.get("elements")
    if not isinstance(elements, list) or not minimum <= len(elements) <= maximum:
        raise invalid_parameter(
            "param message[attachment][payload][elements] must have between "
            f"{minimum} and {maximum} elements"
        )
    return [_require_dict(e, f"elements[{i}]") for i, e in enumerate(elements)]


def _template(payload: dict[str, Any]) -> dict[str, Any]:
    kind = payload.get("template_type")
    if kind == "button":
        _text(payload.get("text"), "message[attachment][payload][text]", MAX_BUTTON_TEXT)
        _buttons(payload.get("buttons"), "message[attachment][payload][buttons]", minimum=1)
    elif kind == "generic":
        for i, element in enumerate(_elements(payload, MAX_ELEMENTS)):
            _text(element.get("title"), f"elements[{i}][title]", MAX_ELEMENT_TEXT)
            _text(
                element.get("subtitle"),
                f"elements[{i}][subtitle]",
                MAX_ELEMENT_TEXT,
                required=False,
            )
            if element.get("image_url") is not None:
                _url(element["image_url"], f"elements[{i}][image_url]")
            action = element.get("default_action")
            if action is not None:
                action = _require_dict(action, f"elements[{i}][default_action]")
                if action.get("type") != "web_url" or "title" in action:
                    raise invalid_parameter(
                        f"param elements[{i}][default_action] must be a web_url without title"
                    )
                _url(action.get("url"), f"elements[{i}][default_action][url]")
            _buttons(element.get("buttons"), f"elements[{i}][buttons]")
    elif kind == "media":
        element = _elements(payload, 1)[0]
        if element.get("media_type") not in ("image", "video"):
            raise invalid_parameter("param elements[0][media_type] must be image or video")
        has_url, has_id = element.get("url") is not None, element.get("attachment_id") is not None
        if has_url == has_id:
            raise invalid_parameter("param elements[0] must have one of url, attachment_id")
        if has_url:
            host = urlparse(_url(element["url"], "elements[0][url]")).hostname or ""
            if not (host == "facebook.com" or host.endswith(".facebook.com")):
                raise invalid_parameter(
                    "Only Facebook URLs can be used in a media template", subcode=2018185
                )
        _buttons(element.get("buttons"), "elements[0][buttons]")
    elif kind == "receipt":
        for key in ("recipient_name", "order_number", "currency", "payment_method"):
            _text(payload.get(key), f"message[attachment][payload][{key}]", 200)
        summary = _require_dict(payload.get("summary"), "message[attachment][payload][summary]")
        if not isinstance(summary.get("total_cost"), int | float):
            raise invalid_parameter(
                "param message[attachment][payload][summary][total_cost] must be a number"
            )
        if payload.get("elements") is not None:
            for i, element in enumerate(_elements(payload, MAX_RECEIPT_ELEMENTS)):
                _text(element.get("title"), f"elements[{i}][title]", MAX_ELEMENT_TEXT)
                if not isinstance(element.get("price"), int | float):
                    raise invalid_parameter(f"param elements[{i}][price] must be a number")
    elif kind == "product":
        for i, element in enumerate(_elements(payload, MAX_ELEMENTS)):
            _text(element.get("id"), f"elements[{i}][id]", 64)
    elif kind in ("coupon", "customer_feedback", "image_grid", "customer_information"):
        pass  # special-purpose templates: accepted as given, rendered as a card
    else:
        raise invalid_parameter(
            "param message[attachment][payload][template_type] must be one of "
            "generic, button, media, receipt, product, coupon, customer_feedback, image_grid"
        )
    return dict(payload)
