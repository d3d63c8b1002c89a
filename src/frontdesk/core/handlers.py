"""The Handler protocol every link kind implements: the turn it gets, the outcome it gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from .models import Author, Contact, EventKind, HandoffRequest, Reply, require_aware


class ReceivedAttachment(NamedTuple):
    """Media the contact sent: Meta's attachment type and our stored copy's URL."""

    kind: str
    url: str


class HistoryLine(NamedTuple):
    """One earlier message of the conversation, as a handler may read it."""

    author: Author
    text: str


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """The contact's action in neutral form; fields a kind does not carry are None or empty.

    `payload`: of a postback, a quick reply or an opt-in. `ref`: of a referral, or of a postback
    or opt-in that came through an m.me link or ad.
    """

    kind: EventKind
    text: str | None = None
    payload: str | None = None
    attachments: tuple[ReceivedAttachment, ...] = ()
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything a handler gets for one inbound event. Ids are opaque strings to core.

    `history` is the recent conversation before this event, oldest first; `now` (aware) is the
    time to use instead of reading a clock.
    """

    channel_id: str
    conversation_id: str
    contact: Contact
    event: InboundEvent
    history: tuple[HistoryLine, ...]
    now: datetime

    def __post_init__(self) -> None:
        require_aware(self.now, "now")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler wants done: `replies` are sent in order, then `handoff` (if any) takes
    effect, so a reply can announce it. `mark_seen` / `typing` are hints the caller may send as
    separate sender actions first; they never carry a message."""

    replies: tuple[Reply, ...] = ()
    handoff: HandoffRequest | None = None
    mark_seen: bool = False
    typing: bool = False


SILENT = Outcome()
"""Answer nothing (what the `inbox` link returns for every turn)."""


class Handler(Protocol):
    """Answers a channel's conversations. Called only while `handler_may_answer` holds, one turn
    at a time per conversation. It may do I/O (an endpoint's HTTP call, an LLM); core does none.
    An exception means "no answer this time" to the caller, which records it, never silence."""

    async def handle(self, turn: Turn) -> Outcome: ...
