"""The handoff state machine: whether the channel's handler or a human holds a conversation.

Three stages. `BOT`: the linked handler answers. `HUMAN_REQUESTED`: someone asked for a person
and the conversation waits for an agent; the handler is silent. `HUMAN`: an agent in Frontdesk's
inbox, or a person in Meta's Page Inbox, holds it; the handler is silent. Only handing back,
resolving, or a due timeout return it to `BOT`.

`transition` is pure: it takes the state, one event and the time, and returns the next state
with the effects the caller must carry out, as data. An event that does not apply in a stage
(a second "human" while one is awaited, a hand-back of a conversation the bot already holds, a
stale or repeated timer) returns the same state and no effects rather than raising: events
arrive concurrently and at least once, so a no-op is the idempotent answer, not a bug.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import assert_never

from .models import HandoffRequest, Owner, require_aware


class HandoffStage(StrEnum):
    """Who holds the conversation."""

    BOT = "bot"
    HUMAN_REQUESTED = "human_requested"
    HUMAN = "human"


@dataclass(frozen=True, slots=True)
class HandoffState:
    """One conversation's handoff state.

    `since`: when the current stage began. `requested_at`: when a person was asked for (kept
    while a human holds it). `assignee`: the agent holding it; None while waiting, or when the
    holder is someone in Meta's Page Inbox. `last_human_activity_at`: the last agent or Page
    Inbox action (kept after hand-back, for the record). `reason`: why a human holds it, for the
    inbox. `timeout_at`: when the pending timer is due (pickup or idle), None if none is.

    Invariants, checked on construction: datetimes are aware; in `BOT` nothing is requested,
    assigned or timed; in `HUMAN_REQUESTED` `requested_at` is set and no one is assigned.
    """

    stage: HandoffStage
    since: datetime
    requested_at: datetime | None = None
    assignee: str | None = None
    last_human_activity_at: datetime | None = None
    reason: str | None = None
    timeout_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "requested_at", "last_human_activity_at", "timeout_at"):
            moment = getattr(self, name)
            if moment is not None:
                require_aware(moment, name)
        if self.stage is HandoffStage.BOT and (
            self.requested_at is not None
            or self.assignee is not None
            or self.reason is not None
            or self.timeout_at is not None
        ):
            raise ValueError("a conversation the bot holds has no request, assignee or timer")
        if self.stage is HandoffStage.HUMAN_REQUESTED and (
            self.requested_at is None or self.assignee is not None
        ):
            raise ValueError("a waiting conversation has requested_at and no assignee")

    @classmethod
    def start(cls, now: datetime) -> HandoffState:
        """A new conversation: the handler holds it."""
        return cls(HandoffStage.BOT, since=now)

    @property
    def owner(self) -> Owner:
        return Owner.HANDLER if self.stage is HandoffStage.BOT else Owner.HUMAN


def handler_may_answer(state: HandoffState) -> bool:
    """True only in `BOT`: while a human is awaited or holds the conversation, the handler is
    silent (it is not even called)."""
    return state.stage is HandoffStage.BOT


@dataclass(frozen=True, slots=True)
class HandoffSettings:
    """A channel's handoff configuration.

    `auto_reply`: sent to the customer when a person is requested (the caller picks the
    business-hours or after-hours text). `pickup_timeout`: if no agent takes a waiting
    conversation by then, send `fallback_reply` and, if `fallback_to_handler`, hand it back.
    `idle_timeout`: a human-held conversation with no human activity that long goes back to the
    handler. Timeouts are positive; None disables them.
    """

    auto_reply: str | None = None
    pickup_timeout: timedelta | None = None
    fallback_reply: str | None = None
    fallback_to_handler: bool = False
    idle_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("pickup_timeout", "idle_timeout"):
            span = getattr(self, name)
            if span is not None and span <= timedelta(0):
                raise ValueError(f"{name} must be positive")


# Events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerAskedHuman:
    """The customer asked for a person: a command such as "human", or a button. `said` is the
    words or the button title, quoted in the reason."""

    said: str


@dataclass(frozen=True, slots=True)
class HandlerRequestedHandoff:
    """The handler (a rule, the AI, the endpoint's API) asked for a person."""

    request: HandoffRequest


@dataclass(frozen=True, slots=True)
class AgentAssigned:
    """An agent was assigned (or assigned themselves); it reassigns a human-held conversation."""

    agent: str

    def __post_init__(self) -> None:
        if not self.agent:
            raise ValueError("an assignment names the agent")


@dataclass(frozen=True, slots=True)
class AgentReplied:
    """An agent sent a message from Frontdesk's inbox. It claims an unassigned conversation;
    a reply from a second agent does not take it from the assignee."""

    agent: str

    def __post_init__(self) -> None:
        if not self.agent:
            raise ValueError("a reply names the agent")


@dataclass(frozen=True, slots=True)
class PageInboxReplied:
    """An echo from another app: a person replied outside Frontdesk (Meta's Page Inbox), or the
    Page Inbox took thread control."""


@dataclass(frozen=True, slots=True)
class HandedBack:
    """A person handed the conversation back to the handler (or thread control came back)."""


@dataclass(frozen=True, slots=True)
class IdleTimeout:
    """A timer set by `ScheduleTimeout` went off. It acts only if the state's timer is due."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The conversation was resolved; the next customer message goes to the handler."""


HandoffEvent = (
    CustomerAskedHuman
    | HandlerRequestedHandoff
    | AgentAssigned
    | AgentReplied
    | PageInboxReplied
    | HandedBack
    | IdleTimeout
    | Resolved
)


# Effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SilenceHandler:
    """Stop passing the conversation's events to the handler."""


@dataclass(frozen=True, slots=True)
class ResumeHandler:
    """Pass the conversation's events to the handler again, from the next one."""


@dataclass(frozen=True, slots=True)
class NotifyAgents:
    """A conversation waits for a person: tell the agents (inbox, browser notification)."""

    reason: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SendAutoReply:
    """Send this text to the customer as the bot (through the send policy like any reply)."""

    text: str


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Deliver `IdleTimeout` at `at`. It replaces any earlier timer of the conversation; an
    earlier one that still fires is harmless, as is one left behind after a hand-back."""

    at: datetime


Effect = SilenceHandler | ResumeHandler | NotifyAgents | SendAutoReply | ScheduleTimeout


@dataclass(frozen=True, slots=True)
class Transition:
    """The next state and the effects to carry out, in order, in the caller's transaction."""

    new_state: HandoffState
    effects: tuple[Effect, ...] = ()


DEFAULT_SETTINGS = HandoffSettings()


def transition(
    state: HandoffState,
    event: HandoffEvent,
    now: datetime,
    *,
    settings: HandoffSettings = DEFAULT_SETTINGS,
) -> Transition:
    """Apply one event at `now` (aware). See the module docstring for the no-op rule.

    | event                     | bot               | human_requested    | human             |
    |---------------------------|-------------------|--------------------|-------------------|
    | customer_asked_human      | → human_requested | no-op              | no-op             |
    | handler_requested_handoff | → human_requested | no-op              | no-op             |
    | agent_assigned            | → human           | → human            | human, reassigned |
    | agent_replied             | → human           | → human            | human, activity   |
    | page_inbox_replied        | → human           | → human            | human, activity   |
    | handed_back, resolved     | no-op             | → bot              | → bot             |
    | idle_timeout, when due    | no-op             | fallback (→ bot?)  | → bot             |

    The tests hold the full table, effects included.
    """
    require_aware(now, "now")
    match event:
        case CustomerAskedHuman(said=said):
            return _request(
                state, f'The customer asked for a person: "{said}"', None, now, settings
            )
        case HandlerRequestedHandoff(request=request):
            return _request(state, request.reason, request.note, now, settings)
        case AgentAssigned(agent=agent):
            return _human_acts(state, now, settings, agent, "An agent took the conversation")
        case AgentReplied(agent=agent):
            return _human_acts(
                state, now, settings, state.assignee or agent, "An agent replied from the inbox"
            )
        case PageInboxReplied():
            return _human_acts(
                state, now, settings, state.assignee, "Someone replied from Meta's Page Inbox"
            )
        case HandedBack() | Resolved():
            return _to_handler(state, now, ())
        case IdleTimeout():
            return _time_out(state, now, settings)
        case _:
            assert_never(event)


def _request(
    state: HandoffState,
    reason: str,
    note: str | None,
    now: datetime,
    settings: HandoffSettings,
) -> Transition:
    if state.stage is not HandoffStage.BOT:
        return Transition(state)
    timeout_at = now + settings.pickup_timeout if settings.pickup_timeout else None
    effects: list[Effect] = [SilenceHandler(), NotifyAgents(reason, note)]
    if settings.auto_reply:
        effects.append(SendAutoReply(settings.auto_reply))
    if timeout_at is not None:
        effects.append(ScheduleTimeout(timeout_at))
    new_state = HandoffState(
        HandoffStage.HUMAN_REQUESTED,
        since=now,
        requested_at=now,
        last_human_activity_at=state.last_human_activity_at,
        reason=reason,
        timeout_at=timeout_at,
    )
    return Transition(new_state, tuple(effects))


def _human_acts(
    state: HandoffState,
    now: datetime,
    settings: HandoffSettings,
    assignee: str | None,
    reason: str,
) -> Transition:
    """A person acted: the conversation is (or stays) theirs, and the idle timer restarts."""
    timeout_at = now + settings.idle_timeout if settings.idle_timeout else None
    effects: list[Effect] = []
    if state.stage is HandoffStage.BOT:
        effects.append(SilenceHandler())
    if timeout_at is not None:
        effects.append(ScheduleTimeout(timeout_at))
    new_state = HandoffState(
        HandoffStage.HUMAN,
        since=state.since if state.stage is HandoffStage.HUMAN else now,
        requested_at=state.requested_at,
        assignee=assignee,
        last_human_activity_at=now,
        reason=state.reason or reason,
        timeout_at=timeout_at,
    )
    return Transition(new_state, tuple(effects))


def _to_handler(state: HandoffState, now: datetime, first: tuple[Effect, ...]) -> Transition:
    if state.stage is HandoffStage.BOT:
        return Transition(state)
    new_state = HandoffState(
        HandoffStage.BOT, since=now, last_human_activity_at=state.last_human_activity_at
    )
    return Transition(new_state, (*first, ResumeHandler()))


def _time_out(state: HandoffState, now: datetime, settings: HandoffSettings) -> Transition:
    if state.timeout_at is None or now < state.timeout_at:
        return Transition(state)  # stale, repeated, or early: the state's own timer decides
    if state.stage is HandoffStage.HUMAN:
        return _to_handler(state, now, ())
    # HUMAN_REQUESTED: nobody picked it up in time.
    fallback: tuple[Effect, ...] = (
        (SendAutoReply(settings.fallback_reply),) if settings.fallback_reply else ()
    )
    if settings.fallback_to_handler:
        return _to_handler(state, now, fallback)
    return Transition(replace(state, timeout_at=None), fallback)


# Recognising "human" ------------------------------------------------------------------------

DEFAULT_HUMAN_COMMANDS: tuple[str, ...] = (
    "human",
    "agent",
    "/agent",
    "operator",
    "person",
    "real person",
    "live agent",
    "talk to a human",
    "talk to a person",
    "talk to someone",
    "speak to a human",
    "speak to a person",
)


def is_human_request(text: str, commands: Iterable[str] = DEFAULT_HUMAN_COMMANDS) -> bool:
    """Whether a customer's message asks for a person.

    True when the whole message is one of `commands`, or starts with one as whole words
    ("human please", "/agent my order is late"). Case, accents, punctuation and spacing are
    ignored ("HUMAN!", "Humàn", "/agent" = "agent"). A command inside a sentence does not count,
    so "I'm not human" stays with the handler.
    """
    words = _words(text)
    if not words:
        return False
    return any(words[: len(wanted)] == wanted for wanted in _command_words(tuple(commands)))


@functools.lru_cache(maxsize=256)
def _command_words(commands: tuple[str, ...]) -> tuple[list[str], ...]:
    """The commands as words, worked out once per set of commands, not once per message."""
    return tuple(wanted for wanted in map(_words, commands) if wanted)


def _words(text: str) -> list[str]:
    """Case-folded words without accents; anything but letters and digits separates words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        char if char.isalnum() else " "
        for char in decomposed
        if not unicodedata.category(char).startswith("M")
    )
    return "".join(kept).split()
