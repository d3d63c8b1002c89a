"""Business hours: the days and times a business is open, in its time zone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import require_aware

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


class HoursInvalid(ValueError):  # noqa: N818 - the domain's word, as in "invalid hours"
    """The hours cannot be read; the message names the day and what is wrong."""


@dataclass(frozen=True)
class BusinessHours:
    """Open from each start (inclusive) to its end (exclusive), per weekday (0 is Monday), in
    `zone`; a day not listed is closed. "24:00" ends at midnight."""

    zone: ZoneInfo
    days: Mapping[int, tuple[tuple[time, time | None], ...]] = field(default_factory=dict)

    def is_open(self, moment: datetime) -> bool:
        require_aware(moment, "moment")
        local = moment.astimezone(self.zone)
        clock = time(local.hour, local.minute, local.second, local.microsecond)
        return any(
            start <= clock and (end is None or clock < end)
            for start, end in self.days.get(local.weekday(), ())
        )


def _clock(hours: str, minutes: str, where: str) -> time | None:
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return None  # midnight, at the end of the day
    if h > 23 or m > 59:
        raise HoursInvalid(f"{where}: {hours}:{minutes} is not a time of day")
    return time(h, m)


def parse(spec: Mapping[str, str], zone_name: str) -> BusinessHours:
    """Hours from `{"mon": "09:00-18:00", "sat": "10:00-13:00, 14:00-17:00"}` in the IANA
    zone `zone_name` (e.g. "Europe/Lisbon"). Raises HoursInvalid naming what is wrong."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise HoursInvalid(f'"{zone_name[:60]}" is not a time zone (like Europe/Lisbon)') from err
    days: dict[int, tuple[tuple[time, time | None], ...]] = {}
    for day, text in spec.items():
        if day not in DAYS:
            raise HoursInvalid(f'"{day[:10]}" is not a day (mon, tue, … sun)')
        ranges = []
        for part in (piece.strip() for piece in text.split(",")):
            if not part:
                continue
            found = _RANGE.fullmatch(part)
            if found is None:
                raise HoursInvalid(f'{day}: "{part[:30]}" is not a range like 09:00-18:00')
            start = _clock(found.group(1), found.group(2), day)
            end = _clock(found.group(3), found.group(4), day)
            if start is None or (end is not None and end <= start):
                raise HoursInvalid(f'{day}: "{part}" does not end after it starts')
            ranges.append((start, end))
        if ranges:
            days[DAYS.index(day)] = tuple(ranges)
    return BusinessHours(zone, days)
