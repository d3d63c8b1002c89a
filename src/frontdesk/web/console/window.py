"""Messenger's window in words, for the contact panel and the composer: what an agent's reply
would do now ("standard", "human agent tag", or "blocked" and why), decided by `core.policy`,
the same function the outbox applies when the reply is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from frontdesk.core.models import Author
from frontdesk.core.policy import Blocked, WindowState, decide, window_ends_at, window_state


@dataclass(frozen=True)
class Window:
    state: str
    """`open`, `human_agent_only` or `closed` (core.policy.WindowState)."""
    words: str
    ends_at: float | None


@dataclass(frozen=True)
class HowItGoes:
    kind: str
    """`standard`, `human_agent` or `blocked`."""
    words: str


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def span(seconds: float) -> str:
    """A span to come, in its two largest units: "23 h 12 m", "6 d 4 h", "3 m" (hours up to
    two days, so a fresh window reads "24 h 0 m")."""
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def window(last_user_at: float | None, now: float, *, has_human_agent: bool) -> Window:
    moment = datetime.fromtimestamp(now, UTC)
    state = window_state(_moment(last_user_at), moment)
    ends = window_ends_at(_moment(last_user_at), moment)
    ends_at = ends.timestamp() if ends is not None else None
    if state is WindowState.OPEN and ends_at is not None:
        return Window(state.value, f"Replies allowed for {span(ends_at - now)}", ends_at)
    if state is WindowState.HUMAN_AGENT_ONLY and ends_at is not None:
        if has_human_agent:
            words = f"Only a person can reply, with the human agent tag, until {stamp(ends_at)}"
        else:
            words = (
                "Closed: the 24 hours have passed, and this Page has no Human Agent permission "
                "for the 7 days after"
            )
        return Window(state.value, words, ends_at)
    if last_user_at is None:
        return Window(state.value, "Closed — the customer has never written", None)
    return Window(state.value, "Closed — the customer must write first", None)


def how_it_goes(last_user_at: float | None, now: float, *, has_human_agent: bool) -> HowItGoes:
    """What sending an agent's reply now would do."""
    decision = decide(
        Author.AGENT,
        _moment(last_user_at),
        datetime.fromtimestamp(now, UTC),
        channel_has_human_agent=has_human_agent,
    )
    if isinstance(decision, Blocked):
        return HowItGoes("blocked", f"Blocked: {decision.reason}")
    if decision.tag == "HUMAN_AGENT":
        return HowItGoes(
            "human_agent",
            "Goes with the human agent tag: the 24 hours have passed, and a person may still "
            "reply for 7 days after the customer's last message.",
        )
    return HowItGoes("standard", "Goes as a standard reply, inside the 24-hour window.")
