"""Send API `message` objects (digest §5.3, §5.5), built and checked against Meta's limits.

Every builder returns the plain JSON object Meta expects. `check_message` holds the limits and
raises BadRequest before anything is sent; builders and `SendClient` both go through it, so a
hand-written message gets the same checks. Lengths count characters (code points), as Python
and the emulator do; whether Meta counts UTF-16 units instead is unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import BadRequest

Message = dict[str, Any]
"""A Send API `message` object."""

MAX_TEXT = 2000
"""Text must be shorter than this (digest: "< 2000 characters")."""
MAX_METADATA = 1000
"""`metadata` must be shorter than this."""
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
"""Quick-reply and button titles: at most this many characters."""
MAX_PAYLOAD = 1000
MAX_BUTTON_TEXT = 640
MAX_BUTTONS = 3
MAX_ELEMENTS = 10
MAX_ELEMENT_TEXT = 80
MEDIA_KINDS = ("image", "audio", "video", "file")
QUICK_REPLY_TYPES = ("text", "user_phone_number", "user_email")
BUTTON_TYPES = (
    "web_url",
    "postback",
    "phone_number",
    "account_link",
    "account_unlink",
    "game_play",
)

MediaKind = Literal["image", "audio", "video", "file"]


def _fail(where: str, problem: str) -> BadRequest:
    return BadRequest(f"message{where} {problem}")


def _text(value: Any, where: str, limit: int, *, below: bool = False) -> None:
    if not isinstance(value, str) or not value:
        raise _fail(where, "must be a non-empty string")
    too_long = len(value) >= limit if below else len(value) > limit
    if too_long:
        bound = f"shorter than {limit}" if below else f"at most {limit}"
        raise _fail(where, f"must be {bound} characters (is {len(value)})")


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise _fail(where, "must be an http(s) URL")
    return value


def _check_quick_reply(reply: Any, where: str) -> None:
    if not isinstance(reply, Mapping):
        raise _fail(where, "must be an object")
    kind = reply.get("content_type", "text")
    if kind not in QUICK_REPLY_TYPES:
        raise _fail(f"{where}[content_type]", f"must be one of {', '.join(QUICK_REPLY_TYPES)}")
    if kind != "text":
        return
    if reply.get("image_url") is not None:
        _url(reply["image_url"], f"{where}[image_url]")
    elif not reply.get("title") or reply.get("payload") in (None, ""):
        raise _fail(where, "needs a title and a payload (or an image_url)")
    if reply.get("title"):
        _text(reply["title"], f"{where}[title]", MAX_TITLE)
    payload = reply.get("payload")
    if payload not in (None, "") and len(str(payload)) > MAX_PAYLOAD:
        raise _fail(f"{where}[payload]", f"must be at most {MAX_PAYLOAD} characters")


def _check_button(button: Any, where: str) -> None:
    if not isinstance(button, Mapping) or button.get("type") not in BUTTON_TYPES:
        raise _fail(f"{where}[type]", f"must be one of {', '.join(BUTTON_TYPES)}")
    kind = button["type"]
    if kind not in ("account_link", "account_unlink"):
        _text(button.get("title"), f"{where}[title]", MAX_TITLE)
    if kind in ("web_url", "account_link"):
        _url(button.get("url"), f"{where}[url]")
    if kind == "postback":
        _text(button.get("payload"), f"{where}[payload]", MAX_PAYLOAD)
    if kind == "phone_number":
        number = button.get("payload")
        if not isinstance(number, str) or not number.startswith("+"):
            raise _fail(f"{where}[payload]", "must be a phone number starting with +")


def _check_buttons(buttons: Any, where: str, *, minimum: int = 0) -> None:
    if buttons is None and minimum == 0:
        return
    if not isinstance(buttons, list) or not minimum <= len(buttons) <= MAX_BUTTONS:
        raise _fail(where, f"must hold {minimum} to {MAX_BUTTONS} buttons")
    for i, button in enumerate(buttons):
        _check_button(button, f"{where}[{i}]")


def _check_template(payload: Mapping[str, Any], where: str) -> None:
    kind = payload.get("template_type")
    if kind == "button":
        _text(payload.get("text"), f"{where}[text]", MAX_BUTTON_TEXT)
        _check_buttons(payload.get("buttons"), f"{where}[buttons]", minimum=1)
    elif kind in ("generic", "media"):
        elements = payload.get("elements")
        most = MAX_ELEMENTS if kind == "generic" else 1
        if not isinstance(elements, list) or not 1 <= len(elements) <= most:
            raise _fail(f"{where}[elements]", f"must hold 1 to {most} elements")
        for i, element in enumerate(elements):
            at = f"{where}[elements][{i}]"
            if not isinstance(element, Mapping):
                raise _fail(at, "must be an object")
            (_check_element if kind == "generic" else _check_media)(element, at)
    # Receipt, product, coupon and the other special-purpose templates pass as given.


def _check_element(element: Mapping[str, Any], where: str) -> None:
    _text(element.get("title"), f"{where}[title]", MAX_ELEMENT_TEXT)
    if element.get("subtitle") is not None:
        _text(element["subtitle"], f"{where}[subtitle]", MAX_ELEMENT_TEXT)
    if element.get("image_url") is not None:
        _url(element["image_url"], f"{where}[image_url]")
    action = element.get("default_action")
    if action is not None:
        if not isinstance(action, Mapping) or action.get("type") != "web_url" or "title" in action:
            raise _fail(f"{where}[default_action]", "must be a web_url button without a title")
        _url(action.get("url"), f"{where}[default_action][url]")
    _check_buttons(element.get("buttons"), f"{where}[buttons]")


def _check_media(element: Mapping[str, Any], where: str) -> None:
    if element.get("media_type") not in ("image", "video"):
        raise _fail(f"{where}[media_type]", "must be image or video")
    if (element.get("url") is None) == (element.get("attachment_id") is None):
        raise _fail(where, "needs exactly one of url and attachment_id")
    if element.get("url") is not None:
        host = urlsplit(_url(element["url"], f"{where}[url]")).hostname or ""
        if host != "facebook.com" and not host.endswith(".facebook.com"):
            raise _fail(f"{where}[url]", "must be a Facebook URL (Meta refuses others)")
    _check_buttons(element.get("buttons"), f"{where}[buttons]")


def check_message(message: Any) -> None:
    """Raise BadRequest where Meta would refuse this `message` for its shape or limits."""
    if not isinstance(message, Mapping):
        raise _fail("", "must be an object")
    present = [k for k in ("text", "attachment", "sticker_id") if message.get(k) is not None]
    if len(present) != 1:
        raise _fail("", "needs exactly one of text, attachment and sticker_id")
    if "text" in present:
        _text(message["text"], "[text]", MAX_TEXT, below=True)
    if "attachment" in present:
        item = message["attachment"]
        if not isinstance(item, Mapping) or not isinstance(item.get("payload"), Mapping):
            raise _fail("[attachment]", "must be an object with a payload object")
        payload, kind = item["payload"], item.get("type")
        if kind in MEDIA_KINDS:
            if (payload.get("url") is None) == (payload.get("attachment_id") is None):
                raise _fail("[attachment][payload]", "needs exactly one of url and attachment_id")
            if payload.get("url") is not None:
                _url(payload["url"], "[attachment][payload][url]")
        elif kind == "template":
            _check_template(payload, "[attachment][payload]")
        else:
            raise _fail("[attachment][type]", f"must be one of {', '.join(MEDIA_KINDS)}, template")
    if message.get("metadata") is not None:
        _text(message["metadata"], "[metadata]", MAX_METADATA, below=True)
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list) or not 1 <= len(quick) <= MAX_QUICK_REPLIES:
            raise _fail("[quick_replies]", f"must hold 1 to {MAX_QUICK_REPLIES} quick replies")
        for i, reply in enumerate(quick):
            _check_quick_reply(reply, f"[quick_replies][{i}]")


# --- builders --------------------------------------------------------------------------------


def _finish(message: Message, quick_replies: Sequence[Mapping[str, Any]]) -> Message:
    if quick_replies:
        message["quick_replies"] = [dict(q) for q in quick_replies]
    check_message(message)
    return message


def text(body: str, *, quick_replies: Sequence[Mapping[str, Any]] = ()) -> Message:
    return _finish({"text": body}, quick_replies)


def attachment(
    kind: MediaKind,
    *,
    url: str | None = None,
    attachment_id: str | None = None,
    is_reusable: bool = False,
    quick_replies: Sequence[Mapping[str, Any]] = (),
) -> Message:
    """An image, audio, video or file: by URL (Meta fetches it) or by a saved attachment id.

    `is_reusable` asks Meta for an `attachment_id` to send the same file again later.
    """
    payload: dict[str, Any] = {"url": url} if url is not None else {}
    if attachment_id is not None:
        payload["attachment_id"] = attachment_id
    if is_reusable:
        payload["is_reusable"] = True
    return _finish({"attachment": {"type": kind, "payload": payload}}, quick_replies)


def quick_reply(title: str, payload: str, *, image_url: str | None = None) -> dict[str, Any]:
    reply = {"content_type": "text", "title": title, "payload": payload}
    if image_url is not None:
        reply["image_url"] = image_url
    _check_quick_reply(reply, "[quick_replies][]")
    return reply


def email_quick_reply() -> dict[str, Any]:
    """Offers the person's email address; the tap brings it as text and payload."""
    return {"content_type": "user_email"}


def phone_quick_reply() -> dict[str, Any]:
    return {"content_type": "user_phone_number"}


def postback_button(title: str, payload: str) -> dict[str, Any]:
    button = {"type": "postback", "title": title, "payload": payload}
    _check_button(button, "[buttons][]")
    return button


def url_button(
    title: str, url: str, *, webview_height_ratio: Literal["compact", "tall", "full"] | None = None
) -> dict[str, Any]:
    button = {"type": "web_url", "title": title, "url": url}
    if webview_height_ratio is not None:
        button["webview_height_ratio"] = webview_height_ratio
    _check_button(button, "[buttons][]")
    return button


def call_button(title: str, phone_number: str) -> dict[str, Any]:
    button = {"type": "phone_number", "title": title, "payload": phone_number}
    _check_button(button, "[buttons][]")
    return button


def _template(payload: dict[str, Any], quick_replies: Sequence[Mapping[str, Any]]) -> Message:
    return _finish({"attachment": {"type": "template", "payload": payload}}, quick_replies)


def button_template(
    body: str,
    buttons: Sequence[Mapping[str, Any]],
    *,
    quick_replies: Sequence[Mapping[str, Any]] = (),
) -> Message:
    payload = {"template_type": "button", "text": body, "buttons": [dict(b) for b in buttons]}
    return _template(payload, quick_replies)


def generic_element(
    title: str,
    *,
    subtitle: str | None = None,
    image_url: str | None = None,
    default_url: str | None = None,
    buttons: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One card of a generic template; `default_url` opens when the card itself is tapped."""
    element: dict[str, Any] = {"title": title}
    if subtitle is not None:
        element["subtitle"] = subtitle
    if image_url is not None:
        element["image_url"] = image_url
    if default_url is not None:
        element["default_action"] = {"type": "web_url", "url": default_url}
    if buttons:
        element["buttons"] = [dict(b) for b in buttons]
    _check_element(element, "[elements][]")
    return element


def generic_template(
    elements: Sequence[Mapping[str, Any]], *, quick_replies: Sequence[Mapping[str, Any]] = ()
) -> Message:
    """A card, or a carousel of up to ten."""
    payload = {"template_type": "generic", "elements": [dict(e) for e in elements]}
    return _template(payload, quick_replies)


def media_template(
    media_type: Literal["image", "video"],
    *,
    attachment_id: str | None = None,
    url: str | None = None,
    buttons: Sequence[Mapping[str, Any]] = (),
    quick_replies: Sequence[Mapping[str, Any]] = (),
) -> Message:
    """An image or video with buttons: a saved `attachment_id`, or a facebook.com `url`."""
    element: dict[str, Any] = {"media_type": media_type}
    if attachment_id is not None:
        element["attachment_id"] = attachment_id
    if url is not None:
        element["url"] = url
    if buttons:
        element["buttons"] = [dict(b) for b in buttons]
    return _template({"template_type": "media", "elements": [element]}, quick_replies)
