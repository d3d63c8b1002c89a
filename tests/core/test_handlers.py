"""The Handler protocol: what a handler is given for one turn and what it gives back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from frontdesk.core import (
    SILENT,
    Author,
    Contact,
    EventKind,
    Handler,
    HandoffRequest,
    HistoryLine,
    InboundEvent,
    Outcome,
    ReceivedAttachment,
    Reply,
    Turn,
    is_human_request,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Concierge:
    """A tiny handler written the way every link kind is: it implements `handle`, nothing else."""

    async def handle(self, turn: Turn) -> Outcome:
        if turn.event.text and is_human_request(turn.event.text):
            return Outcome(
                replies=(Reply(text="Connecting you with a teammate."),),
                handoff=HandoffRequest(f"{turn.contact.display_name} asked for a person"),
            )
        if turn.event.kind is EventKind.POSTBACK and turn.event.payload == "GET_STARTED":
            return Outcome(replies=(Reply(text="Welcome!"),), mark_seen=True, typing=True)
        return SILENT


def turn(event: InboundEvent) -> Turn:
    return Turn(
        channel_id="chan-1",
        conversation_id="conv-1",
        contact=Contact("7301234567891234", locale="en_US"),
        event=event,
        history=(HistoryLine(Author.BOT, "Hi! How can I help?"),),
        now=NOW,
    )


async def test_a_handler_answers_a_turn_with_an_outcome() -> None:
    handler: Handler = Concierge()
    outcome = await handler.handle(turn(InboundEvent(EventKind.MESSAGE, text="Human please")))
    assert outcome == Outcome(
        replies=(Reply(text="Connecting you with a teammate."),),
        handoff=HandoffRequest("Messenger user \u00b71234 asked for a person"),
    )
    welcome = await handler.handle(turn(InboundEvent(EventKind.POSTBACK, payload="GET_STARTED")))
    assert (welcome.mark_seen, welcome.typing) == (True, True)
    photo = InboundEvent(
        EventKind.ATTACHMENT,
        attachments=(ReceivedAttachment("image", "https://media.example.com/p.jpg"),),
    )
    assert await handler.handle(turn(photo)) is SILENT


def test_silent_is_an_empty_outcome() -> None:
    assert Outcome(replies=(), handoff=None, mark_seen=False, typing=False) == SILENT


def test_a_turn_is_immutable_and_needs_an_aware_now() -> None:
    event = InboundEvent(EventKind.REFERRAL, ref="summer-ad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        turn(event).now = NOW  # type: ignore[misc]
    with pytest.raises(ValueError, match="now must be an aware"):
        dataclasses.replace(turn(event), now=datetime(2025, 3, 3))  # noqa: DTZ001 - the test
