"""A channel's handoff settings, for owners and admins: the words that ask for a person, what
the customer is told when one is asked for (in and out of business hours), and what happens
when nobody takes the conversation in time."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from frontdesk.core.handoff import DEFAULT_HUMAN_COMMANDS
from frontdesk.core.hours import DAYS
from frontdesk.store import handoff_settings
from frontdesk.store.handoff_settings import ChannelHandoff
from frontdesk.web.access import access_channel

from .context import Ask, Console
from .forms import Fields
from .inbox import Inbox, handler_words
from .pages import redirect

DAY_WORDS = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
HOURS_LIMIT = 60


def _values(found: ChannelHandoff) -> dict[str, str]:
    """The saved settings as the form shows them."""
    values = {
        "keywords": "\n".join(found.keywords),
        "auto_reply": found.auto_reply or "",
        "after_hours_reply": found.after_hours_reply or "",
        "timezone": found.timezone or "",
        "pickup_minutes": str(found.pickup_minutes or ""),
        "fallback_reply": found.fallback_reply or "",
        "fallback_to_handler": "on" if found.fallback_to_handler else "",
        "idle_minutes": str(found.idle_minutes or ""),
    }
    for day in DAYS:
        values[f"hours_{day}"] = (found.hours or {}).get(day, "")
    return values


async def _render(console: Console, ask: Ask, status: int = 200, **extra: Any) -> Response:
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )
        found = await handoff_settings.of_channel(conn, channel.id)
    if not ask.form.values:
        ask.form.values = _values(found)
    return ask.render(
        console,
        "handoff.html",
        status,
        nav="channels",
        channel=channel,
        days=DAY_WORDS,
        handler=handler_words(channel.link),
        defaults=", ".join(DEFAULT_HUMAN_COMMANDS),
        **extra,
    )


async def show(box: Inbox, console: Console, ask: Ask) -> Response:
    done = ask.request.query_params.get("done") == "saved"
    return await _render(console, ask, notice="The handoff settings were saved." if done else None)


def _minutes(form: Fields, name: str) -> int | None:
    text = form.text(name, 6, required=False)
    if not text:
        return None
    if not text.isdigit():
        form.fail(name, "A number of minutes, or empty for never.")
        return None
    return int(text)


def _message(form: Fields, name: str) -> str | None:
    text = form.text(name, handoff_settings.MESSAGE_LIMIT + 1, required=False)
    return text or None


async def save(box: Inbox, console: Console, ask: Ask) -> Response:
    form = ask.form
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )
        keywords = tuple(
            dict.fromkeys(
                line.strip()
                for line in form.text("keywords", 2000, required=False).splitlines()
                if line.strip()
            )
        )
        hours = {day: form.text(f"hours_{day}", HOURS_LIMIT, required=False) for day in DAYS}
        hours = {day: text for day, text in hours.items() if text}
        timezone = form.text("timezone", 64, required=False)
        messages = {
            name: _message(form, name)
            for name in ("auto_reply", "after_hours_reply", "fallback_reply")
        }
        pickup, idle = _minutes(form, "pickup_minutes"), _minutes(form, "idle_minutes")
        if hours and not timezone:
            form.fail("timezone", "Say which time zone the hours are in, like Europe/Lisbon.")
        for name, problem in handoff_settings.check(
            keywords=keywords,
            hours=hours,
            timezone=timezone,
            pickup_minutes=pickup,
            idle_minutes=idle,
            messages=messages,
        ).items():
            form.fail(name, problem)
        if messages["after_hours_reply"] and not hours:
            form.fail(
                "after_hours_reply", "Give the business hours too: outside them, this is sent."
            )
        if form.ok:
            await handoff_settings.save(
                conn,
                ChannelHandoff(
                    channel.id,
                    channel.page_id,
                    channel.link,
                    keywords=keywords,
                    auto_reply=messages["auto_reply"],
                    after_hours_reply=messages["after_hours_reply"],
                    hours=hours or None,
                    timezone=timezone or None,
                    pickup_minutes=pickup,
                    fallback_reply=messages["fallback_reply"],
                    fallback_to_handler=form.raw("fallback_to_handler") == "on",
                    idle_minutes=idle,
                ),
                console.clock(),
            )
    if not form.ok:
        return await _render(console, ask, 400)
    return redirect(f"/channels/{channel.id}/handoff?done=saved")
