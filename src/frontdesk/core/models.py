"""The domain vocabulary: who wrote a message, where it stands, what a handler may send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

# Meta's limits on an outgoing message (digest §5.3, §5.5). "Characters" are code points.
TEXT_LIMIT = 2000  # text must be shorter than this
QUICK_REPLY_LIMIT = 13
TITLE_LIMIT = 20  # quick-reply and button titles
PAYLOAD_LIMIT = 1000  # quick-reply and postback payloads
METADATA_LIMIT = 1000  # metadata must be shorter than this
BUTTON_TEXT_LIMIT = 640  # the text of a button template
BUTTONS_LIMIT = 3
ELEMENTS_LIMIT = 10  # generic template cards
ELEMENT_TITLE_LIMIT = 80  # generic template title and subtitle


class Direction(StrEnum):
    """Which way a message went: from the contact to the Page, or from the Page to the contact."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Author(StrEnum):
    """Who wrote a message. `PAGE_INBOX` is a human replying from Meta's own inbox, not ours."""

    CONTACT = "contact"
    BOT = "bot"
    AI = "ai"
    ENDPOINT = "endpoint"
    AGENT = "agent"
    PAGE_INBOX = "page_inbox"

    @property
    def is_automated(self) -> bool:
        """True for messages no person wrote at the moment of sending (bot, AI, endpoint)."""
        return self in _AUTOMATED


_AUTOMATED = frozenset({Author.BOT, Author.AI, Author.ENDPOINT})


class EventKind(StrEnum):
    """A contact's action in neutral form, whatever Meta's webhook field carried it (and
    RESUME, the one kind that is no action of the contact's)."""

    MESSAGE = "message"  # text
    QUICK_REPLY = "quick_reply"  # a tapped chip: text plus payload
    ATTACHMENT = "attachment"  # image, audio, video, file, sticker, shared link
    LOCATION = "location"
    POSTBACK = "postback"  # a button or menu tap, Get Started
    REFERRAL = "referral"  # an m.me link or ad into an existing thread
    OPTIN = "optin"  # a plugin or notification opt-in
    REACTION = "reaction"
    RESUME = "resume"  # not the contact's: a turn the handler asked to continue (core.Later)


class MessageStatus(StrEnum):
    """Where an outgoing message stands. Use `advance` to apply an update, never assign."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    BLOCKED = "blocked"


# Every status a message may move to from each status. Skipping ahead along
# queued → sent → delivered → read is allowed: a read watermark can arrive before the delivery
# one, or before the worker has recorded the send. Failed and blocked are only reachable from
# queued: a watermark covering a message that never went out must not make it look delivered.
# Blocked is final. Failed has one way out, to sent: a send whose outcome was unknown (the
# worker died during the call) fails after waiting for its echo, and an echo that comes later
# still proves it went out; only our own echo records "sent", and Meta echoes only what it
# accepted. A retry is a new outbox entry, not a way back.
_FORWARD: Mapping[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.QUEUED: frozenset(
        {
            MessageStatus.SENT,
            MessageStatus.DELIVERED,
            MessageStatus.READ,
            MessageStatus.FAILED,
            MessageStatus.BLOCKED,
        }
    ),
    MessageStatus.SENT: frozenset({MessageStatus.DELIVERED, MessageStatus.READ}),
    MessageStatus.DELIVERED: frozenset({MessageStatus.READ}),
    MessageStatus.READ: frozenset(),
    MessageStatus.FAILED: frozenset({MessageStatus.SENT}),
    MessageStatus.BLOCKED: frozenset(),
}


def can_advance(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether `new` is a forward move from `current` (the same status is not a move)."""
    return new in _FORWARD[current]


def advance(current: MessageStatus, new: MessageStatus) -> MessageStatus:
    """The status after an update: `new` if it moves forward, else `current` (stale, ignored).

    Webhooks arrive late, twice and out of order, so a stale update is normal, not an error.
    """
    return new if can_advance(current, new) else current


class FailureCode(StrEnum):
    """Why an outgoing message ended `failed` or `blocked`, for machines: stored beside the
    reason people read (`failure_reason`), which no code ever matches. NULL on messages that
    failed before codes were kept."""

    # Meta refused it, sorted by code and subcode (`messenger.errors`, digest §9).
    DEV_MODE = "dev_mode"  # the app is in development mode / lacks Advanced Access
    PAGE_RESTRICTED = "page_restricted"  # Meta restricted the Page from sending
    THREAD_ELSEWHERE = "thread_elsewhere"  # another app or Meta's Page Inbox has the thread
    PERMISSION = "permission"  # any other permission, review or Page-state refusal
    TOKEN_BROKEN = "token_broken"  # noqa: S105 - a code: the Page token no longer works
    USER_UNREACHABLE = "user_unreachable"  # blocked the Page, left Messenger, unknown PSID
    WINDOW_CLOSED = "window_closed"  # outside the 24-hour window (Meta's answer or the policy)
    BAD_REQUEST = "bad_request"  # Messenger does not accept what the message contains
    OTHER = "other"  # a Graph error of no kind above
    # Frontdesk gave up on it.
    TRY_LATER = "try_later"  # Messenger kept answering "try again later" (throttled, or down)
    OUTCOME_UNKNOWN = "outcome_unknown"  # interrupted during the call, and no echo came
    CHANNEL_REMOVED = "channel_removed"  # the Page was removed from Frontdesk
    # The send policy held it back before Meta was asked (`core.policy.BlockCode`, same words).
    NEVER_MESSAGED = "never_messaged"
    NO_HUMAN_AGENT_PERMISSION = "no_human_agent_permission"
    HUMAN_AGENT_EXPIRED = "human_agent_expired"


class LinkKind(StrEnum):
    """What a channel is linked to: the one handler that answers its conversations."""

    ENDPOINT = "endpoint"
    RULES = "rules"
    AI = "ai"
    INBOX = "inbox"

    @property
    def author(self) -> Author:
        """The author of the handler's replies; the inbox handler answers nothing itself, so
        anything automatic on an inbox channel (a handoff auto-reply) is the bot's."""
        return _LINK_AUTHORS[self]


_LINK_AUTHORS: Mapping[LinkKind, Author] = {
    LinkKind.ENDPOINT: Author.ENDPOINT,
    LinkKind.RULES: Author.BOT,
    LinkKind.AI: Author.AI,
    LinkKind.INBOX: Author.BOT,
}


class ConversationStatus(StrEnum):
    """An inbox status. `PENDING` waits for an agent; a `RESOLVED` one reopens on the next
    customer message; `SNOOZED` reopens at a time."""

    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class Owner(StrEnum):
    """Who answers a conversation right now: the channel's handler, or a human."""

    HANDLER = "handler"
    HUMAN = "human"


class InvalidReply(ValueError):  # noqa: N818 - the domain's word, as in "an invalid reply"
    """A reply Meta would refuse; the message names the field and the limit."""


@dataclass(frozen=True, slots=True)
class QuickReply:
    """One quick-reply chip. `user_email` / `user_phone_number` chips carry no title or payload."""

    title: str = ""
    payload: str = ""
    content_type: Literal["text", "user_email", "user_phone_number"] = "text"
    image_url: str | None = None

    def __post_init__(self) -> None:
        if self.content_type != "text":
            if self.title or self.payload or self.image_url:
                raise InvalidReply(f"a {self.content_type} quick reply takes no title or payload")
            return
        if not self.title and not self.image_url:
            raise InvalidReply("a quick reply needs a title (or an image)")
        if len(self.title) > TITLE_LIMIT:
            raise InvalidReply(f"quick reply title is over {TITLE_LIMIT} characters")
        if not self.payload and not self.image_url:
            raise InvalidReply("a quick reply needs a payload (or an image)")
        if len(self.payload) > PAYLOAD_LIMIT:
            raise InvalidReply(f"quick reply payload is over {PAYLOAD_LIMIT} characters")


@dataclass(frozen=True, slots=True)
class Attachment:
    """Media to send, by a public URL or by an `attachment_id` uploaded before (exactly one)."""

    kind: Literal["image", "audio", "video", "file"]
    url: str | None = None
    attachment_id: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.attachment_id is None):
            raise InvalidReply("an attachment needs exactly one of url or attachment_id")
        if not (self.url or self.attachment_id):
            raise InvalidReply("an attachment's url or attachment_id is empty")


@dataclass(frozen=True, slots=True)
class Reply:
    """One message a handler wants to send: exactly one of text, attachment or template.

    `template` is the Send API's template payload (`{"template_type": "button", ...}`) and is
    treated as read-only. Construction raises `InvalidReply` when Meta would refuse the message:
    text of 2000 characters or more, over 13 quick replies, a title over 20 or a payload over
    1000 characters, metadata of 1000 or more, and the button / generic / media template limits.
    """

    text: str | None = None
    attachment: Attachment | None = None
    template: Mapping[str, object] | None = field(default=None, hash=False)
    quick_replies: tuple[QuickReply, ...] = ()
    metadata: str | None = None

    def __post_init__(self) -> None:
        given = sum(part is not None for part in (self.text, self.attachment, self.template))
        if given != 1:
            raise InvalidReply("a reply has exactly one of text, attachment or template")
        if self.text is not None:
            if not self.text.strip():
                raise InvalidReply("reply text is empty")
            if len(self.text) >= TEXT_LIMIT:
                raise InvalidReply(f"reply text must be under {TEXT_LIMIT} characters")
        if self.template is not None:
            _check_template(self.template)
        if len(self.quick_replies) > QUICK_REPLY_LIMIT:
            raise InvalidReply(f"at most {QUICK_REPLY_LIMIT} quick replies")
        if self.metadata is not None and len(self.metadata) >= METADATA_LIMIT:
            raise InvalidReply(f"metadata must be under {METADATA_LIMIT} characters")


def _check_template(template: Mapping[str, object]) -> None:
    """Meta's limits for the templates Frontdesk builds; other template types pass unchecked."""
    kind = template.get("template_type")
    if not isinstance(kind, str) or not kind:
        raise InvalidReply("a template needs a template_type")
    if kind == "button":
        text = template.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidReply("a button template needs text")
        if len(text) > BUTTON_TEXT_LIMIT:
            raise InvalidReply(f"button template text is over {BUTTON_TEXT_LIMIT} characters")
        _check_buttons(template.get("buttons"), at_least=1)
    elif kind in ("generic", "media"):
        elements = template.get("elements")
        if not isinstance(elements, list | tuple) or not elements:
            raise InvalidReply(f"a {kind} template needs elements")
        most = ELEMENTS_LIMIT if kind == "generic" else 1
        if len(elements) > most:
            raise InvalidReply(f"a {kind} template has at most {most} element(s)")
        for element in elements:
            if not isinstance(element, Mapping):
                raise InvalidReply(f"a {kind} template element must be an object")
            if kind == "generic":
                _check_card(element)
            _check_buttons(element.get("buttons", ()), at_least=0)


def _check_card(element: Mapping[str, object]) -> None:
    title = element.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InvalidReply("a generic template card needs a title")
    for name in ("title", "subtitle"):
        value = element.get(name)
        if isinstance(value, str) and len(value) > ELEMENT_TITLE_LIMIT:
            raise InvalidReply(f"card {name} is over {ELEMENT_TITLE_LIMIT} characters")


def _check_buttons(buttons: object, *, at_least: int) -> None:
    if not isinstance(buttons, list | tuple):
        raise InvalidReply("buttons must be a list")
    if not at_least <= len(buttons) <= BUTTONS_LIMIT:
        raise InvalidReply(f"{at_least} to {BUTTONS_LIMIT} buttons")
    for button in buttons:
        if not isinstance(button, Mapping):
            raise InvalidReply("a button must be an object")
        title = button.get("title")
        if isinstance(title, str) and len(title) > TITLE_LIMIT:
            raise InvalidReply(f"button title is over {TITLE_LIMIT} characters")
        payload = button.get("payload")
        if isinstance(payload, str) and len(payload) > PAYLOAD_LIMIT:
            raise InvalidReply(f"button payload is over {PAYLOAD_LIMIT} characters")


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """A handler asking for a human: `reason` is shown in the inbox, `note` only to agents."""

    reason: str
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a handoff request needs a reason")


@dataclass(frozen=True, slots=True)
class Contact:
    """A person on Messenger as one Page sees them (PSIDs are per Page).

    `name` and `first_name` are None until the profile is known (fetching it is best-effort);
    until then `display_name` reads "Messenger user ·1234" (the PSID's last four digits), never
    an invented name.
    """

    psid: str
    name: str | None = None
    first_name: str | None = None
    locale: str | None = None

    def __post_init__(self) -> None:
        if not self.psid:
            raise ValueError("a contact needs a PSID")

    @property
    def display_name(self) -> str:
        for known in (self.name, self.first_name):
            if known and known.strip():
                return known.strip()
        return fallback_name(self.psid)


def fallback_name(psid: str) -> str:
    """The name shown for a contact whose profile is unknown: "Messenger user ·" + last 4."""
    return f"Messenger user \u00b7{psid[-4:]}"


def require_aware(moment: datetime, name: str) -> None:
    """Raise ValueError for a naive datetime: every time in core is aware (the window, timers)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
