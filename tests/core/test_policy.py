"""The send policy at its boundaries: 24 hours, 7 days, the permission, and who wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.core import (
    HUMAN_AGENT_WINDOW,
    RETIRED_TAGS,
    WINDOW,
    Allowed,
    Author,
    BlockCode,
    Blocked,
    WindowState,
    decide,
    opens_window,
    window_ends_at,
    window_state,
)

LAST = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RESPONSE = Allowed("RESPONSE", None)
HUMAN_AGENT = Allowed("MESSAGE_TAG", "HUMAN_AGENT")
AUTOMATED = [Author.BOT, Author.AI, Author.ENDPOINT]
SENDERS = [*AUTOMATED, Author.AGENT]
ONE_SECOND = timedelta(seconds=1)


def code(decision: Allowed | Blocked) -> BlockCode | None:
    return decision.code if isinstance(decision, Blocked) else None


def test_constants() -> None:
    assert timedelta(hours=24) == WINDOW
    assert timedelta(days=7) == HUMAN_AGENT_WINDOW


@pytest.mark.parametrize("author", SENDERS)
@pytest.mark.parametrize("permission", [True, False])
def test_anyone_may_respond_inside_24_hours(author: Author, permission: bool) -> None:
    for age in (timedelta(0), timedelta(hours=23, minutes=59, seconds=59)):
        assert decide(author, LAST, LAST + age, channel_has_human_agent=permission) == RESPONSE


@pytest.mark.parametrize("author", AUTOMATED)
@pytest.mark.parametrize("permission", [True, False])
def test_automation_is_blocked_at_exactly_24_hours(author: Author, permission: bool) -> None:
    decision = decide(author, LAST, LAST + WINDOW, channel_has_human_agent=permission)
    assert code(decision) is BlockCode.WINDOW_CLOSED


@pytest.mark.parametrize("author", AUTOMATED)
def test_automation_never_gets_the_human_agent_tag(author: Author) -> None:
    decision = decide(author, LAST, LAST + timedelta(days=2), channel_has_human_agent=True)
    assert code(decision) is BlockCode.WINDOW_CLOSED


def test_an_agent_gets_the_tag_from_24_hours_to_just_under_7_days() -> None:
    for age in (WINDOW, HUMAN_AGENT_WINDOW - ONE_SECOND):
        decision = decide(Author.AGENT, LAST, LAST + age, channel_has_human_agent=True)
        assert decision == HUMAN_AGENT


def test_an_agent_is_blocked_at_exactly_7_days() -> None:
    decision = decide(Author.AGENT, LAST, LAST + HUMAN_AGENT_WINDOW, channel_has_human_agent=True)
    assert decision == Blocked(
        "The customer's last message was 7 days ago; even a human agent can only reply within "
        "7 days. The customer must write again first.",
        BlockCode.HUMAN_AGENT_EXPIRED,
    )


def test_an_agent_without_the_permission_is_blocked_after_24_hours() -> None:
    decision = decide(Author.AGENT, LAST, LAST + timedelta(hours=30), channel_has_human_agent=False)
    assert decision == Blocked(
        "The customer's last message was 30 hours ago; Messenger only allows replies within 24 "
        "hours, and this Page does not have the Human Agent permission that lets agents reply "
        "for 7 days.",
        BlockCode.NO_HUMAN_AGENT_PERMISSION,
    )


def test_after_7_days_expiry_outranks_the_missing_permission() -> None:
    decision = decide(Author.AGENT, LAST, LAST + timedelta(days=8), channel_has_human_agent=False)
    assert code(decision) is BlockCode.HUMAN_AGENT_EXPIRED


def test_the_reason_a_business_owner_reads() -> None:
    now = LAST + timedelta(hours=26, minutes=40)
    assert decide(Author.BOT, LAST, now, channel_has_human_agent=False) == Blocked(
        "The customer's last message was 26 hours ago; Messenger only allows replies within 24 "
        "hours. A human agent can still reply for 7 days if the Page has the Human Agent "
        "permission.",
        BlockCode.WINDOW_CLOSED,
    )
    assert decide(Author.AI, LAST, now, channel_has_human_agent=True) == Blocked(
        "The customer's last message was 26 hours ago; Messenger only allows replies within 24 "
        "hours. An agent can still reply from the inbox for 7 days.",
        BlockCode.WINDOW_CLOSED,
    )


def test_long_silences_are_counted_in_days() -> None:
    decision = decide(
        Author.BOT, LAST, LAST + timedelta(days=9, hours=5), channel_has_human_agent=True
    )
    assert decision == Blocked(
        "The customer's last message was 9 days ago; Messenger only allows replies within 24 "
        "hours. The customer must write again first.",
        BlockCode.WINDOW_CLOSED,
    )


@pytest.mark.parametrize("author", SENDERS)
def test_a_contact_who_never_wrote_cannot_be_messaged(author: Author) -> None:
    decision = decide(author, None, LAST, channel_has_human_agent=True)
    assert decision == Blocked(
        "This customer has never written to the Page; Messenger only lets a Page reply after the "
        "customer writes first.",
        BlockCode.NEVER_MESSAGED,
    )


@pytest.mark.parametrize("author", [Author.CONTACT, Author.PAGE_INBOX])
def test_frontdesk_never_sends_as_the_contact_or_the_page_inbox(author: Author) -> None:
    with pytest.raises(ValueError, match="never sends as"):
        decide(author, LAST, LAST, channel_has_human_agent=True)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 3, 3, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="now must be an aware"):
        decide(Author.BOT, LAST, naive, channel_has_human_agent=True)
    with pytest.raises(ValueError, match="last_user_at must be an aware"):
        decide(Author.BOT, naive, LAST, channel_has_human_agent=True)
    with pytest.raises(ValueError, match="aware"):
        window_state(naive, LAST)


def test_time_zones_do_not_matter() -> None:
    paris = timezone(timedelta(hours=1))
    last_in_paris = datetime(2025, 3, 3, 10, 0, tzinfo=paris)  # 09:00 UTC
    now = LAST + timedelta(hours=23, minutes=59)
    assert decide(Author.BOT, last_in_paris, now, channel_has_human_agent=False) == RESPONSE
    assert window_state(last_in_paris, LAST + WINDOW) is WindowState.HUMAN_AGENT_ONLY


def test_a_last_message_after_now_counts_as_inside_the_window() -> None:
    skewed = LAST + timedelta(seconds=5)
    assert decide(Author.BOT, skewed, LAST, channel_has_human_agent=False) == RESPONSE


@given(
    author=st.sampled_from(SENDERS),
    age=st.timedeltas(min_value=timedelta(days=-1), max_value=timedelta(days=30)),
    permission=st.booleans(),
)
def test_only_an_agent_ever_gets_a_tag_and_never_a_retired_one(
    author: Author, age: timedelta, permission: bool
) -> None:
    decision = decide(author, LAST, LAST + age, channel_has_human_agent=permission)
    if isinstance(decision, Allowed) and decision.tag is not None:
        assert author is Author.AGENT
        assert permission
        assert WINDOW <= age < HUMAN_AGENT_WINDOW
        assert decision.tag not in RETIRED_TAGS
    assert isinstance(decision, Allowed) is (
        age < WINDOW or (author is Author.AGENT and permission and age < HUMAN_AGENT_WINDOW)
    )


def test_retired_tags() -> None:
    assert {"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"} <= RETIRED_TAGS
    assert "HUMAN_AGENT" not in RETIRED_TAGS


# The window as the inbox shows it ----------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "state", "ends_after"),
    [
        (timedelta(0), WindowState.OPEN, WINDOW),
        (WINDOW - ONE_SECOND, WindowState.OPEN, WINDOW),
        (WINDOW, WindowState.HUMAN_AGENT_ONLY, HUMAN_AGENT_WINDOW),
        (HUMAN_AGENT_WINDOW - ONE_SECOND, WindowState.HUMAN_AGENT_ONLY, HUMAN_AGENT_WINDOW),
        (HUMAN_AGENT_WINDOW, WindowState.CLOSED, None),
        (timedelta(days=40), WindowState.CLOSED, None),
    ],
)
def test_window_state_and_when_it_ends(
    age: timedelta, state: WindowState, ends_after: timedelta | None
) -> None:
    assert window_state(LAST, LAST + age) is state
    expected_end = None if ends_after is None else LAST + ends_after
    assert window_ends_at(LAST, LAST + age) == expected_end


def test_never_messaged_is_closed() -> None:
    assert window_state(None, LAST) is WindowState.CLOSED
    assert window_ends_at(None, LAST) is None


@pytest.mark.parametrize(
    "kind",
    [
        "message",
        "quick_reply",
        "attachment",
        "location",
        "postback",
        "reaction",
        "referral",
        "optin",
    ],
)
def test_the_contact_s_actions_open_the_window(kind: str) -> None:
    assert opens_window(kind)


@pytest.mark.parametrize(
    "kind",
    ["delivery", "read", "echo", "handover", "standby", "edit", "optout", "", "MESSAGE", "future"],
)
def test_receipts_echoes_handovers_and_unknown_kinds_do_not(kind: str) -> None:
    assert not opens_window(kind)
