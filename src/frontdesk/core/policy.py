"""The one send policy: whether and how a message may reach a contact under Messenger's window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from .models import Author, EventKind, require_aware

WINDOW = timedelta(hours=24)
"""The standard messaging window after a contact's last qualifying action (digest §6)."""

HUMAN_AGENT_WINDOW = timedelta(days=7)
"""How long the HUMAN_AGENT tag lets a human reply after the contact's last action (§5.4)."""

RETIRED_TAGS: frozenset[str] = frozenset(
    {
        # Deprecated by Meta: error 100 from 2026-04-27 (digest §5.4, pitfall 18).
        "ACCOUNT_UPDATE",
        "CONFIRMED_EVENT_UPDATE",
        "POST_PURCHASE_UPDATE",
        # The pre-2020 set, long gone.
        "APPLICATION_UPDATE",
        "APPOINTMENT_UPDATE",
        "BUSINESS_PRODUCTIVITY",
        "COMMUNITY_ALERT",
        "CONFIRMED_EVENT_REMINDER",
        "FEATURE_FUNCTIONALITY_UPDATE",
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
    }
)
"""Message tags Frontdesk never sends: Meta refuses them. `decide` only ever picks HUMAN_AGENT."""

# The contact's actions that open or reset the window (digest §6); a quick-reply tap, an
# attachment and a location arrive as messages. Delivery and read receipts, echoes, edits,
# standby copies and handover events do not, nor does an unknown kind: a new event type must
# never make us send where Meta would refuse (listed one by one for the same reason). Comments
# and visitor posts open it on Meta's side too, but Frontdesk does not receive the feed.
WINDOW_OPENING_KINDS: frozenset[str] = frozenset(
    {
        EventKind.MESSAGE,
        EventKind.QUICK_REPLY,
        EventKind.ATTACHMENT,
        EventKind.LOCATION,
        EventKind.POSTBACK,
        EventKind.REACTION,
        EventKind.REFERRAL,
        EventKind.OPTIN,
    }
)


def opens_window(event_kind: str) -> bool:
    """Whether an inbound event of this kind opens (or resets) the 24-hour window."""
    return event_kind in WINDOW_OPENING_KINDS


class WindowState(StrEnum):
    """What the Page may still send, for the inbox's contact panel and composer."""

    OPEN = "open"  # anything, as a RESPONSE
    HUMAN_AGENT_ONLY = "human_agent_only"  # only a human, with the HUMAN_AGENT tag
    CLOSED = "closed"  # nothing until the contact writes again


class BlockCode(StrEnum):
    """Stable machine codes for a blocked send (stored with the message, matched by the UI)."""

    NEVER_MESSAGED = "never_messaged"
    WINDOW_CLOSED = "window_closed"
    NO_HUMAN_AGENT_PERMISSION = "no_human_agent_permission"
    HUMAN_AGENT_EXPIRED = "human_agent_expired"


@dataclass(frozen=True, slots=True)
class Allowed:
    """Send it, with this `messaging_type` and `tag` in the Send API request."""

    messaging_type: Literal["RESPONSE", "MESSAGE_TAG"]
    tag: Literal["HUMAN_AGENT"] | None = None


@dataclass(frozen=True, slots=True)
class Blocked:
    """Do not send: `reason` is for the business owner, `code` for machines."""

    reason: str
    code: BlockCode


Decision = Allowed | Blocked

RESPONSE = Allowed("RESPONSE")
HUMAN_AGENT = Allowed("MESSAGE_TAG", "HUMAN_AGENT")

_SENDERS = frozenset({Author.BOT, Author.AI, Author.ENDPOINT, Author.AGENT})


def decide(
    author: Author,
    last_user_at: datetime | None,
    now: datetime,
    *,
    channel_has_human_agent: bool,
) -> Decision:
    """How a message by `author` may be sent now, given the contact's last qualifying action.

    RESPONSE while less than 24 h have passed (at exactly 24 h the window is closed). After that,
    only an `AGENT` (a person typing in Frontdesk's inbox) may send, with the HUMAN_AGENT tag,
    while less than 7 days have passed and only if the channel has the Human Agent permission:
    tagging automated replies is a policy violation (pitfall 8). A `last_user_at` after `now`
    (clock skew) counts as inside the window.

    Raises ValueError for naive datetimes and for authors Frontdesk never sends as (`CONTACT`;
    `PAGE_INBOX`, whose messages Meta sends).
    """
    if author not in _SENDERS:
        raise ValueError(f"Frontdesk never sends as {author.value}")
    require_aware(now, "now")
    if last_user_at is None:
        return Blocked(
            "This customer has never written to the Page; Messenger only lets a Page reply "
            "after the customer writes first.",
            BlockCode.NEVER_MESSAGED,
        )
    require_aware(last_user_at, "last_user_at")
    age = now - last_user_at
    if age < WINDOW:
        return RESPONSE
    ago = f"The customer's last message was {_describe(age)} ago"
    if age >= HUMAN_AGENT_WINDOW:
        if author is Author.AGENT:
            return Blocked(
                f"{ago}; even a human agent can only reply within 7 days. "
                "The customer must write again first.",
                BlockCode.HUMAN_AGENT_EXPIRED,
            )
        return Blocked(
            f"{ago}; Messenger only allows replies within 24 hours. "
            "The customer must write again first.",
            BlockCode.WINDOW_CLOSED,
        )
    if author is not Author.AGENT:
        then = (
            "An agent can still reply from the inbox for 7 days."
            if channel_has_human_agent
            else "A human agent can still reply for 7 days if the Page has the Human Agent "
            "permission."
        )
        return Blocked(
            f"{ago}; Messenger only allows replies within 24 hours. {then}",
            BlockCode.WINDOW_CLOSED,
        )
    if not channel_has_human_agent:
        return Blocked(
            f"{ago}; Messenger only allows replies within 24 hours, and this Page does not have "
            "the Human Agent permission that lets agents reply for 7 days.",
            BlockCode.NO_HUMAN_AGENT_PERMISSION,
        )
    return HUMAN_AGENT


def window_state(last_user_at: datetime | None, now: datetime) -> WindowState:
    """The window as the contact panel shows it. HUMAN_AGENT_ONLY is the tag's time span alone:
    whether the channel holds the permission is for `decide` to check."""
    require_aware(now, "now")
    if last_user_at is None:
        return WindowState.CLOSED
    require_aware(last_user_at, "last_user_at")
    age = now - last_user_at
    if age < WINDOW:
        return WindowState.OPEN
    if age < HUMAN_AGENT_WINDOW:
        return WindowState.HUMAN_AGENT_ONLY
    return WindowState.CLOSED


def window_ends_at(last_user_at: datetime | None, now: datetime) -> datetime | None:
    """When the current `window_state` ends ("replies allowed for 23 h 12 m"); None if closed."""
    state = window_state(last_user_at, now)
    if last_user_at is None or state is WindowState.CLOSED:
        return None
    return last_user_at + (WINDOW if state is WindowState.OPEN else HUMAN_AGENT_WINDOW)


def _describe(age: timedelta) -> str:
    """A past span in whole hours under two days, whole days after: "26 hours", "3 days"."""
    hours = int(age.total_seconds() // 3600)
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"
