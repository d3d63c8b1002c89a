"""The handoff state machine: the whole transition table, timers, and "human" recognition."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.core import (
    AgentAssigned,
    AgentReplied,
    CustomerAskedHuman,
    Effect,
    HandedBack,
    HandlerRequestedHandoff,
    HandoffEvent,
    HandoffRequest,
    HandoffSettings,
    HandoffStage,
    HandoffState,
    IdleTimeout,
    NotifyAgents,
    Owner,
    PageInboxReplied,
    Resolved,
    ResumeHandler,
    ScheduleTimeout,
    SendAutoReply,
    SilenceHandler,
    handler_may_answer,
    is_human_request,
    transition,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)  # every timer in the sample states is due
PICKUP = timedelta(minutes=10)
IDLE = timedelta(minutes=30)
AUTO = "Thanks! Someone from our team will be with you shortly."
FALLBACK = "Sorry, nobody is free right now. Our assistant will keep helping you."
SETTINGS = HandoffSettings(
    auto_reply=AUTO,
    pickup_timeout=PICKUP,
    fallback_reply=FALLBACK,
    fallback_to_handler=True,
    idle_timeout=IDLE,
)

ASKED = 'The customer asked for a person: "human"'
AI_UNSURE = HandoffRequest("The AI could not answer", note="Asked about a refund for order 1042")

BOT = HandoffState(HandoffStage.BOT, since=T0)
WAITING = HandoffState(
    HandoffStage.HUMAN_REQUESTED,
    since=T0,
    requested_at=T0,
    reason=ASKED,
    timeout_at=T0 + PICKUP,
)
HELD = HandoffState(
    HandoffStage.HUMAN,
    since=T0 + timedelta(minutes=5),
    requested_at=T0,
    assignee="ana",
    last_human_activity_at=T0 + timedelta(minutes=5),
    reason=ASKED,
    timeout_at=T0 + timedelta(minutes=35),
)
STATES = {HandoffStage.BOT: BOT, HandoffStage.HUMAN_REQUESTED: WAITING, HandoffStage.HUMAN: HELD}

EVENTS: dict[type[HandoffEvent], HandoffEvent] = {
    CustomerAskedHuman: CustomerAskedHuman("human"),
    HandlerRequestedHandoff: HandlerRequestedHandoff(AI_UNSURE),
    AgentAssigned: AgentAssigned("ben"),
    AgentReplied: AgentReplied("ben"),
    PageInboxReplied: PageInboxReplied(),
    HandedBack: HandedBack(),
    IdleTimeout: IdleTimeout(),
    Resolved: Resolved(),
}


def requested(reason: str) -> HandoffState:
    return HandoffState(
        HandoffStage.HUMAN_REQUESTED,
        since=NOW,
        requested_at=NOW,
        reason=reason,
        timeout_at=NOW + PICKUP,
    )


def held(
    since: datetime, assignee: str | None, reason: str, requested_at: datetime | None = None
) -> HandoffState:
    return HandoffState(
        HandoffStage.HUMAN,
        since=since,
        requested_at=requested_at,
        assignee=assignee,
        last_human_activity_at=NOW,
        reason=reason,
        timeout_at=NOW + IDLE,
    )


def back_to_bot(last_human: datetime | None) -> HandoffState:
    return HandoffState(HandoffStage.BOT, since=NOW, last_human_activity_at=last_human)


HELD_LAST = T0 + timedelta(minutes=5)
PAGE_INBOX = "Someone replied from Meta's Page Inbox"

# (stage, event) -> (new state, effects). Every cell of the table, effects in order.
TABLE: dict[tuple[HandoffStage, type[HandoffEvent]], tuple[HandoffState, tuple[Effect, ...]]] = {
    # bot: the handler answers.
    (HandoffStage.BOT, CustomerAskedHuman): (
        requested(ASKED),
        (
            SilenceHandler(),
            NotifyAgents(ASKED),
            SendAutoReply(AUTO),
            ScheduleTimeout(NOW + PICKUP),
        ),
    ),
    (HandoffStage.BOT, HandlerRequestedHandoff): (
        requested("The AI could not answer"),
        (
            SilenceHandler(),
            NotifyAgents("The AI could not answer", "Asked about a refund for order 1042"),
            SendAutoReply(AUTO),
            ScheduleTimeout(NOW + PICKUP),
        ),
    ),
    (HandoffStage.BOT, AgentAssigned): (
        held(NOW, "ben", "An agent took the conversation"),
        (SilenceHandler(), ScheduleTimeout(NOW + IDLE)),
    ),
    (HandoffStage.BOT, AgentReplied): (
        held(NOW, "ben", "An agent replied from the inbox"),
        (SilenceHandler(), ScheduleTimeout(NOW + IDLE)),
    ),
    (HandoffStage.BOT, PageInboxReplied): (
        held(NOW, None, PAGE_INBOX),
        (SilenceHandler(), ScheduleTimeout(NOW + IDLE)),
    ),
    (HandoffStage.BOT, HandedBack): (BOT, ()),
    (HandoffStage.BOT, IdleTimeout): (BOT, ()),
    (HandoffStage.BOT, Resolved): (BOT, ()),
    # human_requested: waiting for an agent, the handler silent.
    (HandoffStage.HUMAN_REQUESTED, CustomerAskedHuman): (WAITING, ()),
    (HandoffStage.HUMAN_REQUESTED, HandlerRequestedHandoff): (WAITING, ()),
    (HandoffStage.HUMAN_REQUESTED, AgentAssigned): (
        held(NOW, "ben", ASKED, requested_at=T0),
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN_REQUESTED, AgentReplied): (
        held(NOW, "ben", ASKED, requested_at=T0),
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN_REQUESTED, PageInboxReplied): (
        held(NOW, None, ASKED, requested_at=T0),
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN_REQUESTED, HandedBack): (back_to_bot(None), (ResumeHandler(),)),
    (HandoffStage.HUMAN_REQUESTED, IdleTimeout): (
        back_to_bot(None),
        (SendAutoReply(FALLBACK), ResumeHandler()),
    ),
    (HandoffStage.HUMAN_REQUESTED, Resolved): (back_to_bot(None), (ResumeHandler(),)),
    # human: an agent or the Page Inbox holds it, the handler silent.
    (HandoffStage.HUMAN, CustomerAskedHuman): (HELD, ()),
    (HandoffStage.HUMAN, HandlerRequestedHandoff): (HELD, ()),
    (HandoffStage.HUMAN, AgentAssigned): (
        held(HELD.since, "ben", ASKED, requested_at=T0),  # reassigned
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN, AgentReplied): (
        held(HELD.since, "ana", ASKED, requested_at=T0),  # a second agent does not take it
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN, PageInboxReplied): (
        held(HELD.since, "ana", ASKED, requested_at=T0),
        (ScheduleTimeout(NOW + IDLE),),
    ),
    (HandoffStage.HUMAN, HandedBack): (back_to_bot(HELD_LAST), (ResumeHandler(),)),
    (HandoffStage.HUMAN, IdleTimeout): (back_to_bot(HELD_LAST), (ResumeHandler(),)),
    (HandoffStage.HUMAN, Resolved): (back_to_bot(HELD_LAST), (ResumeHandler(),)),
}


def test_the_table_covers_every_stage_and_every_event() -> None:
    event_types = set(get_args(HandoffEvent))
    assert set(EVENTS) == event_types
    assert set(TABLE) == set(itertools.product(HandoffStage, event_types))


@pytest.mark.parametrize(
    ("stage", "event_type"),
    list(TABLE),
    ids=[f"{stage}-{event.__name__}" for stage, event in TABLE],
)
def test_transition_table(stage: HandoffStage, event_type: type[HandoffEvent]) -> None:
    new_state, effects = TABLE[stage, event_type]
    result = transition(STATES[stage], EVENTS[event_type], NOW, settings=SETTINGS)
    assert result.new_state == new_state
    assert result.effects == effects


def test_default_settings_send_nothing_and_set_no_timers() -> None:
    asked = transition(BOT, CustomerAskedHuman("agent"), NOW)
    reason = 'The customer asked for a person: "agent"'
    assert asked.effects == (SilenceHandler(), NotifyAgents(reason))
    assert asked.new_state.timeout_at is None
    replied = transition(asked.new_state, AgentReplied("ana"), NOW)
    assert replied.effects == ()
    assert replied.new_state.timeout_at is None
    assert transition(replied.new_state, IdleTimeout(), NOW + timedelta(days=30)).effects == ()


# Timers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [WAITING, HELD], ids=["waiting", "held"])
def test_a_timer_acts_only_once_due(state: HandoffState) -> None:
    assert state.timeout_at is not None
    early = transition(
        state, IdleTimeout(), state.timeout_at - timedelta(seconds=1), settings=SETTINGS
    )
    assert early.new_state == state
    assert early.effects == ()
    due = transition(state, IdleTimeout(), state.timeout_at, settings=SETTINGS)
    assert due.new_state.stage is HandoffStage.BOT
    assert due.effects[-1] == ResumeHandler()


def test_agent_activity_makes_an_earlier_timer_stale() -> None:
    first = transition(BOT, AgentReplied("ana"), T0, settings=SETTINGS)
    later = transition(
        first.new_state, AgentReplied("ana"), T0 + timedelta(minutes=20), settings=SETTINGS
    )
    assert later.effects == (ScheduleTimeout(T0 + timedelta(minutes=50)),)
    # The first timer (T0 + 30 min) still fires: nothing happens.
    stale = transition(later.new_state, IdleTimeout(), T0 + IDLE, settings=SETTINGS)
    assert stale.new_state == later.new_state
    assert stale.effects == ()


def test_pickup_fallback_can_keep_waiting_and_fires_once() -> None:
    keep_waiting = HandoffSettings(pickup_timeout=PICKUP, fallback_reply=FALLBACK)
    first = transition(WAITING, IdleTimeout(), NOW, settings=keep_waiting)
    assert first.new_state == HandoffState(
        HandoffStage.HUMAN_REQUESTED, since=T0, requested_at=T0, reason=ASKED
    )
    assert first.effects == (SendAutoReply(FALLBACK),)
    again = transition(first.new_state, IdleTimeout(), NOW, settings=keep_waiting)
    assert again.new_state == first.new_state
    assert again.effects == ()


def test_pickup_fallback_without_a_message_just_hands_back() -> None:
    quiet = HandoffSettings(pickup_timeout=PICKUP, fallback_to_handler=True)
    result = transition(WAITING, IdleTimeout(), NOW, settings=quiet)
    assert result.new_state == back_to_bot(None)
    assert result.effects == (ResumeHandler(),)


# States, settings, events -------------------------------------------------------------------


def test_who_may_answer() -> None:
    assert [handler_may_answer(state) for state in STATES.values()] == [True, False, False]
    assert [state.owner for state in STATES.values()] == [Owner.HANDLER, Owner.HUMAN, Owner.HUMAN]


def test_a_conversation_starts_with_the_handler() -> None:
    assert HandoffState.start(T0) == BOT


def test_state_invariants() -> None:
    with pytest.raises(ValueError, match="bot holds"):
        HandoffState(HandoffStage.BOT, since=T0, assignee="ana")
    with pytest.raises(ValueError, match="bot holds"):
        HandoffState(HandoffStage.BOT, since=T0, timeout_at=NOW)
    with pytest.raises(ValueError, match="waiting conversation"):
        HandoffState(HandoffStage.HUMAN_REQUESTED, since=T0)
    with pytest.raises(ValueError, match="waiting conversation"):
        HandoffState(HandoffStage.HUMAN_REQUESTED, since=T0, requested_at=T0, assignee="ana")
    with pytest.raises(ValueError, match="since must be an aware"):
        HandoffState(HandoffStage.BOT, since=datetime(2025, 3, 3))  # noqa: DTZ001 - the test


def test_transition_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="now must be an aware"):
        transition(BOT, HandedBack(), datetime(2025, 3, 3))  # noqa: DTZ001 - the test


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pickup_timeout must be positive"):
        HandoffSettings(pickup_timeout=timedelta(0))
    with pytest.raises(ValueError, match="idle_timeout must be positive"):
        HandoffSettings(idle_timeout=timedelta(seconds=-1))


@pytest.mark.parametrize("event_type", [AgentAssigned, AgentReplied])
def test_agent_events_name_the_agent(event_type: type[AgentAssigned | AgentReplied]) -> None:
    with pytest.raises(ValueError, match="names the agent"):
        event_type("")


# Property: a human's conversation is never answered by the handler --------------------------

events = st.one_of(
    st.builds(CustomerAskedHuman, st.sampled_from(["human", "talk to a person"])),
    st.builds(HandlerRequestedHandoff, st.just(AI_UNSURE)),
    st.builds(AgentAssigned, st.sampled_from(["ana", "ben"])),
    st.builds(AgentReplied, st.sampled_from(["ana", "ben"])),
    st.just(PageInboxReplied()),
    st.just(HandedBack()),
    st.just(IdleTimeout()),
    st.just(Resolved()),
)
spans = st.none() | st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=2))
settings = st.builds(
    HandoffSettings,
    auto_reply=st.none() | st.just(AUTO),
    pickup_timeout=spans,
    fallback_reply=st.none() | st.just(FALLBACK),
    fallback_to_handler=st.booleans(),
    idle_timeout=spans,
)
steps = st.lists(
    st.tuples(events, st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3))),
    max_size=40,
)
HUMAN_ACTS = (AgentAssigned, AgentReplied, PageInboxReplied)
RELEASES = (HandedBack, Resolved, IdleTimeout)


@given(settings=settings, steps=steps)
def test_the_handler_is_silent_whenever_a_human_holds_the_conversation(
    settings: HandoffSettings, steps: list[tuple[HandoffEvent, timedelta]]
) -> None:
    state, now = HandoffState.start(T0), T0
    handler_active = True  # what a caller that only follows the effects believes
    for event, gap in steps:
        now += gap
        result = transition(state, event, now, settings=settings)
        new = result.new_state
        for effect in result.effects:
            if isinstance(effect, SilenceHandler):
                assert handler_active, "silenced twice"
                handler_active = False
            elif isinstance(effect, ResumeHandler):
                assert not handler_active, "resumed twice"
                handler_active = True
            elif isinstance(effect, ScheduleTimeout):
                assert effect.at == new.timeout_at
                assert effect.at > now
        assert handler_active is handler_may_answer(new)
        if isinstance(event, HUMAN_ACTS):
            assert not handler_may_answer(new)
            assert new.last_human_activity_at == now
        if isinstance(event, HandedBack | Resolved):
            assert new.stage is HandoffStage.BOT
        if not handler_may_answer(state) and handler_may_answer(new):
            assert isinstance(event, RELEASES)
        if new.timeout_at != state.timeout_at and new.timeout_at is not None:
            assert ScheduleTimeout(new.timeout_at) in result.effects
        state = new


# Recognising a request for a person ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "human",
        "Human",
        "HUMAN!!",
        "  human  ",
        "Humàn",
        "hüMÁN",
        "agent",
        "/agent",
        "ÁGENT?",
        "Agent please",
        "human, my order 1042 never arrived",
        "operator",
        "talk to a human",
        "Talk  to a HUMAN please",
        "talk to a person",
        "real person!",
    ],
)
def test_human_requests(text: str) -> None:
    assert is_human_request(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm not human",
        "humans",
        "humanity",
        "agents",
        "can I talk to a human",
        "my agent said hi",
        "hello",
        "",
        "   ",
        "!!!",
        "talk to a",
    ],
)
def test_not_human_requests(text: str) -> None:
    assert not is_human_request(text)


def test_a_channel_s_own_commands_replace_the_defaults() -> None:
    commands = ("persona", "hablar con alguien")
    assert is_human_request("Persona", commands)
    assert is_human_request("¡Hablar con álguien, por favor!", commands)
    assert not is_human_request("human", commands)


def test_empty_commands_match_nothing() -> None:
    assert not is_human_request("human", ())
    assert not is_human_request("anything at all", ("", "!!"))
