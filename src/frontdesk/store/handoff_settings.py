"""Each channel's handoff settings: the words that ask for a person, what the customer is told
(in and out of business hours), and the timers. A channel without a row has the defaults:
core's commands, no message, no timer. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handoff import DEFAULT_HUMAN_COMMANDS, HandoffSettings
from frontdesk.core.hours import BusinessHours, HoursInvalid, parse

from .tables import channels, handoff_settings

MESSAGE_LIMIT = 640
KEYWORD_LIMIT = 40
KEYWORDS_MOST = 30
MINUTES_MOST = 7 * 24 * 60


@dataclass(frozen=True)
class ChannelHandoff:
    channel_id: int
    page_id: str
    link: str
    keywords: tuple[str, ...] = DEFAULT_HUMAN_COMMANDS
    auto_reply: str | None = None
    after_hours_reply: str | None = None
    hours: Mapping[str, str] | None = None
    timezone: str | None = None
    pickup_minutes: int | None = None
    fallback_reply: str | None = None
    fallback_to_handler: bool = False
    idle_minutes: int | None = None
    saved: bool = False

    @property
    def business_hours(self) -> BusinessHours | None:
        if not self.hours or not self.timezone:
            return None
        try:
            return parse(self.hours, self.timezone)
        except HoursInvalid:
            return None  # saved through `save`, which checks them: only a changed tz database

    def core(self, moment: datetime) -> HandoffSettings:
        """Core's settings at `moment`: outside business hours, the after-hours message."""
        reply = self.auto_reply
        hours = self.business_hours
        if self.after_hours_reply and hours is not None and not hours.is_open(moment):
            reply = self.after_hours_reply
        return HandoffSettings(
            auto_reply=reply,
            pickup_timeout=timedelta(minutes=self.pickup_minutes) if self.pickup_minutes else None,
            fallback_reply=self.fallback_reply,
            fallback_to_handler=self.fallback_to_handler,
            idle_timeout=timedelta(minutes=self.idle_minutes) if self.idle_minutes else None,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


async def of_channel(conn: AsyncConnection, channel_id: int) -> ChannelHandoff:
    row = (
        await conn.execute(
            select(channels.c.page_id, channels.c.link, handoff_settings)
            .select_from(
                channels.outerjoin(handoff_settings, handoff_settings.c.channel_id == channels.c.id)
            )
            .where(channels.c.id == channel_id)
        )
    ).one()
    if row.updated_at is None:
        return ChannelHandoff(channel_id, str(row.page_id), str(row.link))
    keywords = row.keywords
    return ChannelHandoff(
        channel_id,
        str(row.page_id),
        str(row.link),
        keywords=tuple(str(k) for k in keywords)
        if isinstance(keywords, list)
        else DEFAULT_HUMAN_COMMANDS,
        auto_reply=_text(row.auto_reply),
        after_hours_reply=_text(row.after_hours_reply),
        hours=dict(row.hours) if isinstance(row.hours, dict) else None,
        timezone=row.timezone,
        pickup_minutes=row.pickup_minutes,
        fallback_reply=_text(row.fallback_reply),
        fallback_to_handler=bool(row.fallback_to_handler),
        idle_minutes=row.idle_minutes,
        saved=True,
    )


def check(
    *,
    keywords: Sequence[str],
    hours: Mapping[str, str] | None,
    timezone: str | None,
    pickup_minutes: int | None,
    idle_minutes: int | None,
    messages: Mapping[str, str | None],
) -> dict[str, str]:
    """What is wrong with these settings, by field (empty when nothing is)."""
    problems: dict[str, str] = {}
    if len(keywords) > KEYWORDS_MOST:
        problems["keywords"] = f"At most {KEYWORDS_MOST} words or phrases."
    elif any(len(k) > KEYWORD_LIMIT for k in keywords):
        problems["keywords"] = f"Each at most {KEYWORD_LIMIT} characters."
    if hours:
        try:
            parse(hours, timezone or "")
        except HoursInvalid as err:
            problems["hours"] = f"{err}."
    for name, minutes in (("pickup_minutes", pickup_minutes), ("idle_minutes", idle_minutes)):
        if minutes is not None and not 1 <= minutes <= MINUTES_MOST:
            problems[name] = f"From 1 to {MINUTES_MOST} minutes (7 days), or empty for never."
    for name, text in messages.items():
        if text is not None and len(text) > MESSAGE_LIMIT:
            problems[name] = f"Use at most {MESSAGE_LIMIT} characters."
    return problems


async def save(conn: AsyncConnection, settings: ChannelHandoff, now: float) -> None:
    """Store a channel's settings (`check` them first)."""
    values = {
        "keywords": list(settings.keywords),
        "auto_reply": settings.auto_reply,
        "after_hours_reply": settings.after_hours_reply,
        "hours": dict(settings.hours) if settings.hours else None,
        "timezone": settings.timezone,
        "pickup_minutes": settings.pickup_minutes,
        "fallback_reply": settings.fallback_reply,
        "fallback_to_handler": settings.fallback_to_handler,
        "idle_minutes": settings.idle_minutes,
        "updated_at": now,
    }
    changed = await conn.execute(
        update(handoff_settings)
        .where(handoff_settings.c.channel_id == settings.channel_id)
        .values(**values)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(handoff_settings).values(channel_id=settings.channel_id, **values)
        )
