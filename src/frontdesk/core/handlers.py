"""The Handler protocol every link kind implements: the turn it gets, the outcome it gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .models import Author, Contact, EventKind, HandoffRequest, Reply, require_aware

if TYPE_CHECKING:
    from .rules.model import Bot


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
class Memory:
    """What a conversation remembers between turns, for the links that use it (`rules`).

    `state` is the handler's own JSON object exactly as its last Outcome stored it (None: it
    never stored one); only that handler reads it. `fields` (name → value) and `tags` belong
    to the contact and are shared: the inbox shows them, a bot's conditions read them.
    """

    state: Mapping[str, Any] | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tags: frozenset[str] = frozenset()


NO_MEMORY = Memory()


@dataclass(frozen=True, slots=True)
class HttpCall:
    """An HTTP request a handler wants made for it, outside any transaction. `body` is sent
    as JSON when not None; `timeout` bounds the whole call in seconds."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class CallResult:
    """What came of an HttpCall: the status and the body parsed as JSON (None when it was not
    JSON), or `error` in plain words when no answer came (refused address, timeout, network)."""

    status: int | None = None
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Later:
    """Continue this turn later: after `delay` seconds (a wait; the caller shows the typing
    indicator meanwhile), or once `call` has been made. The continuation comes back as a Turn
    whose `resumed` carries the same `token` (and the call's result), with the event of kind
    RESUME. Anything the contact sends meanwhile is a turn of its own, taken first."""

    token: str
    delay: float = 0.0
    call: HttpCall | None = None

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("a delay cannot be negative")


@dataclass(frozen=True, slots=True)
class Resumed:
    """Set on the turn that continues a `Later`: its token, and the call's result if any."""

    token: str
    result: CallResult | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything a handler gets for one inbound event. Ids are opaque strings to core.

    `history` is the recent conversation before this event, oldest first, as many lines as the
    link uses (the rule bot gets one: it asks only whether there is any); `now` (aware) is the
    time to use instead of reading a clock. `memory` is loaded by the caller for links that
    use it (else empty); `bot` is the channel's bot (current version) on a `rules` channel that
    has one; `resumed` is set when this turn continues a `Later` (then `event.kind` is RESUME).
    """

    channel_id: str
    conversation_id: str
    contact: Contact
    event: InboundEvent
    history: tuple[HistoryLine, ...]
    now: datetime
    memory: Memory = NO_MEMORY
    bot: Bot | None = None
    resumed: Resumed | None = None

    def __post_init__(self) -> None:
        require_aware(self.now, "now")
        if (self.resumed is None) != (self.event.kind is not EventKind.RESUME):
            raise ValueError("a RESUME event comes with `resumed`, and only it")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler wants done. The caller applies all of it in the turn's own transaction.

    `replies` are sent in order, then `handoff` (if any) takes effect, so a reply can announce
    it. `mark_seen` / `typing` are hints the caller may send as separate sender actions first;
    they never carry a message.

    Memory changes: `state` replaces the handler's stored state (None leaves it as it was; an
    empty mapping forgets it); `fields` sets the contact's fields (a None value removes one);
    `add_tags` / `remove_tags` change its tags. `resolve` marks the conversation resolved.
    `later` asks for the turn to continue later (see Later).
    """

    replies: tuple[Reply, ...] = ()
    handoff: HandoffRequest | None = None
    mark_seen: bool = False
    typing: bool = False
    state: Mapping[str, Any] | None = None
    fields: Mapping[str, str | None] = field(default_factory=dict)
    add_tags: frozenset[str] = frozenset()
    remove_tags: frozenset[str] = frozenset()
    resolve: bool = False
    later: Later | None = None


SILENT = Outcome()
"""Answer nothing (what the `inbox` link returns for every turn)."""


class Handler(Protocol):
    """Answers a channel's conversations. Called only while `handler_may_answer` holds, one turn
    at a time per conversation. It may do I/O (an endpoint's HTTP call, an LLM); core does none.
    An exception means "no answer this time" to the caller, which records it, never silence."""

    async def handle(self, turn: Turn) -> Outcome: ...


def answers(handler: Handler) -> bool:
    """False for a handler that declares it answers no turn (a class attribute `silent =
    True`, as the inbox's): the worker then builds no turn for it at all, saving the reads a
    turn takes (history, contact) on every message."""
    return not getattr(handler, "silent", False)
