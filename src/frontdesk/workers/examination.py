"""What one examination of a channel works from: the doctor's setup, Meta's answers, what
Frontdesk saw (`evidence.Facts`), and the words the checks share.

The checks themselves are in `setup_checks` (the Page's setup on Meta) and `traffic_checks`
(what its messages show); `doctor` asks Meta and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from frontdesk.messenger import AppSubscription, GraphError, SubscribedApp, TokenBroken, TokenInfo
from frontdesk.store.meta_apps import MetaApp

from .evidence import Facts
from .findings import Check, Finding, Verdict

REQUIRED_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "messaging_referrals",
    "messaging_optins",
    "message_edits",
    "standby",
    "messaging_handovers",
)
"""Webhook fields Frontdesk needs at both the app and the Page level (digest §4: events flow only
for fields subscribed at both)."""
REQUIRED_PERMISSIONS = {
    "pages_messaging": "without it Frontdesk can neither receive nor send messages",
    "pages_manage_metadata": "without it Frontdesk cannot subscribe to the Page's messages",
    "pages_show_list": "without it Frontdesk cannot find the Page when it is reconnected",
}
"""Digest §8.11, what Frontdesk uses today."""
MAX_QUOTE = 200
"""Meta's own words are quoted at most this long (they come from outside)."""

NEEDS_TOKEN = "Needs a Page token that Meta accepts (see “Page token”)."  # noqa: S105 - words
RECONNECT = "Reconnect the Page in Frontdesk: log in to Facebook and allow everything it asks."


@dataclass(frozen=True)
class Setup:
    """The doctor's settings: the operator's Meta app, and where webhooks must point."""

    operator: MetaApp = field(repr=False)
    """The app of channels whose workspace has none of its own (FRONTDESK_META_*)."""
    callback_url: str
    """`FRONTDESK_PUBLIC_URL` + /webhooks/messenger."""
    quiet_hours: float = 24.0
    """No event for this long, after earlier events, fails "Messages arriving"."""
    timeout: float = 10.0
    """Seconds each call to Meta may take; slower counts as no answer."""


@dataclass(frozen=True)
class Unanswered:
    """A Graph call that gave nothing usable: why, and Meta's error when there was one."""

    why: str
    error: GraphError | None = None


@dataclass(frozen=True)
class Answers:
    """What Meta said to the doctor's five questions (or why it said nothing usable)."""

    token: TokenInfo | Unanswered
    page: dict[str, Any] | Unanswered
    tasks: dict[str, Any] | Unanswered
    app_subscriptions: list[AppSubscription] | Unanswered
    page_subscriptions: list[SubscribedApp] | Unanswered


@dataclass(frozen=True)
class Examination:
    """One channel's examination: everything a check may look at, and how it words a verdict."""

    setup: Setup
    app: MetaApp
    facts: Facts
    answers: Answers
    now: float

    def passed(self, check: Check, detail: str) -> Finding:
        return Finding(check, Verdict.PASS, detail)

    def failed(self, check: Check, detail: str, fix: str) -> Finding:
        return Finding(check, Verdict.FAIL, detail, fix)

    def unknown(self, check: Check, why: str) -> Finding:
        return Finding(check, Verdict.UNKNOWN, why)

    @property
    def callback_url(self) -> str:
        """Where the app's webhook must point: this Frontdesk's, or a manually connected
        channel's own URL."""
        key = self.facts.webhook_key
        return self.setup.callback_url if key is None else f"{self.setup.callback_url}/{key}"

    @property
    def app_refused(self) -> bool:
        """Meta refused Frontdesk's own app token (wrong app id or secret)."""
        subs = self.answers.app_subscriptions
        return isinstance(subs, Unanswered) and isinstance(subs.error, TokenBroken)

    @property
    def valid_token(self) -> TokenInfo | None:
        info = self.answers.token
        if isinstance(info, TokenInfo) and info.is_valid and info.app_id == self.app.app_id:
            return info
        return None


# --- words -----------------------------------------------------------------------------------


def codes_of(code: int | None, subcode: int | None) -> str:
    return f"{code}/{subcode}" if subcode is not None else f"{code}"


def quote(err: GraphError) -> str:
    text = str(err)
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def day_and_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: float) -> str:
    def count(n: int, unit: str) -> str:
        return f"{n} {unit}" if n == 1 else f"{n} {unit}s"

    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return count(round(seconds / 60), "minute")
    if seconds < 48 * 3600:
        return count(round(seconds / 3600), "hour")
    return count(round(seconds / 86400), "day")
