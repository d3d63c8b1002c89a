"""How a channel's state reads in the console: its status in words, how it was connected, and
the rows of the channels table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from frontdesk.store import hooks
from frontdesk.store.activity import Activity, Last
from frontdesk.store.channels import ACTIVE, REMOVED, ChannelSummary

STATUS_WORDS = {
    ACTIVE: "Connected",
    "reconnect_needed": "Reconnect needed",
    "restricted": "Restricted by Meta",
    "webhook_not_verified": "Webhook not verified",
    "not_subscribed": "Not subscribed to the Page",
    "development_mode": "App in development mode",
    "no_events": "No events",
    "send_failing": "Replies failing",
    "bot_failing": "Bot not answering",
    REMOVED: "Removed, history kept",
    "erasing": "Removed, history being deleted",
    "waiting": "Waiting for Meta",
}
LINK_WORDS = {
    "inbox": "Inbox (people answer)",
    "rules": "Rule bot",
    "endpoint": "Your own service (endpoint)",
    "ai": "AI agent",
}
VIA_WORDS = {None: "Facebook login", hooks.LOGIN: "Facebook login", hooks.MANUAL: "Manual setup"}


def hours(seconds: float) -> int:
    return max(1, math.floor(seconds / 3600))


@dataclass(frozen=True)
class Row:
    """One channel as the table shows it."""

    channel: ChannelSummary
    status: str
    """A key of STATUS_WORDS (the CSS class too)."""
    words: str
    via: str | None
    """hooks.MANUAL, hooks.LOGIN (own app) or None (the operator's app, by Facebook login)."""
    last_in: Last | None
    last_out: Last | None

    @property
    def manual(self) -> bool:
        return self.via == hooks.MANUAL

    @property
    def removed(self) -> bool:
        return self.channel.status == REMOVED


def row(
    channel: ChannelSummary,
    own: hooks.Own | None,
    activity: Activity,
    now: float,
    quiet_hours: float,
) -> Row:
    status = channel.status
    last_in = activity.last_in
    words = STATUS_WORDS.get(status, status.replace("_", " ").capitalize())
    if channel.erasing:
        status, words = "erasing", STATUS_WORDS["erasing"]
    elif status == "no_events" and last_in is not None:
        words = f"No events for {hours(now - last_in.at)} hours"
    elif status == ACTIVE:
        if own is not None and own.via == hooks.MANUAL and not own.verified:
            status, words = "waiting", STATUS_WORDS["waiting"]
        elif last_in is not None and now - last_in.at >= quiet_hours * 3600:
            status, words = "no_events", f"No events for {hours(now - last_in.at)} hours"
    return Row(
        channel,
        status,
        words,
        None if own is None else own.via,
        last_in,
        activity.last_out,
    )
