"""Business hours: read from "09:00-18:00" ranges per day in a time zone, open or closed at an
aware moment, and every way of writing them wrong named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontdesk.core.hours import HoursInvalid, parse

LISBON = {"mon": "09:00-13:00, 14:00-18:00", "sat": "10:00-24:00"}


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (datetime(2026, 11, 16, 8, 59, tzinfo=UTC), False),  # Monday, Lisbon is UTC in winter
        (datetime(2026, 11, 16, 9, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 16, 13, 30, tzinfo=UTC), False),  # lunch
        (datetime(2026, 11, 16, 17, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 16, 18, 0, tzinfo=UTC), False),
        (datetime(2026, 11, 17, 10, 0, tzinfo=UTC), False),  # Tuesday: not listed
        (datetime(2026, 11, 21, 23, 59, tzinfo=UTC), True),  # Saturday until midnight
        (datetime(2026, 7, 20, 8, 30, tzinfo=UTC), True),  # Monday 09:30 in Lisbon's summer
    ],
)
def test_open_or_closed_at_a_moment_in_the_business_time_zone(
    moment: datetime, open_: bool
) -> None:
    assert parse(LISBON, "Europe/Lisbon").is_open(moment) is open_


@pytest.mark.parametrize(
    ("spec", "zone", "problem"),
    [
        ({"mon": "09:00-18:00"}, "Mars/Olympus", '"Mars/Olympus" is not a time zone'),
        ({"monday": "09:00-18:00"}, "UTC", '"monday" is not a day'),
        ({"mon": "9-18"}, "UTC", 'mon: "9-18" is not a range like 09:00-18:00'),
        ({"mon": "18:00-09:00"}, "UTC", 'mon: "18:00-09:00" does not end after it starts'),
        ({"mon": "09:00-25:00"}, "UTC", "mon: 25:00 is not a time of day"),
        ({"mon": "24:00-24:00"}, "UTC", "does not end after it starts"),
        ({"tue": "09:61-10:00"}, "UTC", "tue: 09:61 is not a time of day"),
        ({"mon": "09:00-18:00"}, "../../etc/passwd", "is not a time zone"),
    ],
)
def test_hours_written_wrong_are_named(spec: dict[str, str], zone: str, problem: str) -> None:
    with pytest.raises(HoursInvalid, match=problem):
        parse(spec, zone)


def test_a_naive_moment_is_refused_and_empty_days_are_closed() -> None:
    hours = parse({"mon": "", "tue": " , "}, "UTC")
    assert hours.days == {}
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(datetime(2026, 11, 16, 10, 0))  # noqa: DTZ001 - on purpose
