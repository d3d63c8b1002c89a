"""A channel's handoff settings page: owners and admins save the words, the messages, the hours
and the timers (and see them again), agents may not; every way of getting them wrong is named
next to its field and saves nothing."""

from __future__ import annotations

import pytest

from frontdesk.core.handoff import DEFAULT_HUMAN_COMMANDS
from frontdesk.core.people import Role
from frontdesk.store import conversations as store
from frontdesk.store import handoff_settings

from .conftest import Site, csrf_of, field_error

pytestmark = pytest.mark.db

GOOD = {
    "keywords": "falar com alguém\n atendente \n\nfalar com alguém",
    "auto_reply": "A person will answer you here soon.",
    "after_hours_reply": "We're closed; we answer from 10:00.",
    "hours_mon": "10:00-19:00",
    "hours_sat": "10:00-13:00, 14:00-16:00",
    "timezone": "Europe/Lisbon",
    "pickup_minutes": "15",
    "fallback_reply": "Nobody is free: the assistant keeps helping you.",
    "fallback_to_handler": "on",
    "idle_minutes": "60",
}


async def _shop(site: Site) -> int:
    owner = await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Lisbon Tees", "ana@example.com", Role.AGENT)
    return await site.channel(owner.workspace_id, "111", "Lisbon Tees")


async def test_an_owner_saves_the_settings_and_sees_them_again(site: Site) -> None:
    channel_id = await _shop(site)
    morgan = await site.signed_in("morgan@example.com")
    page = (await morgan.get(f"/channels/{channel_id}/handoff")).text
    assert "\n".join(DEFAULT_HUMAN_COMMANDS) in page  # the defaults, until saved
    saved = await morgan.post(
        f"/channels/{channel_id}/handoff", {"csrf_token": csrf_of(page), **GOOD}
    )
    assert saved.status_code == 303
    again = (await morgan.get(saved.headers["location"])).text
    assert "The handoff settings were saved." in again
    assert "falar com alguém\natendente</textarea>" in again
    assert 'value="10:00-13:00, 14:00-16:00"' in again
    async with site.engine.begin() as conn:
        found = await handoff_settings.of_channel(conn, channel_id)
    assert found.keywords == ("falar com alguém", "atendente")
    assert (found.pickup_minutes, found.idle_minutes, found.fallback_to_handler) == (15, 60, True)
    assert found.hours == {"mon": "10:00-19:00", "sat": "10:00-13:00, 14:00-16:00"}
    # Emptied, the words are none at all (the handler decides alone), not the defaults.
    page = (await morgan.get(f"/channels/{channel_id}/handoff")).text
    await morgan.post(
        f"/channels/{channel_id}/handoff", {"csrf_token": csrf_of(page), **GOOD, "keywords": ""}
    )
    async with site.engine.begin() as conn:
        assert (await handoff_settings.of_channel(conn, channel_id)).keywords == ()
        assert (await store.channel_for_page(conn, "111")).human_words == ()  # as the worker reads


async def test_an_agent_may_not_change_them(site: Site) -> None:
    channel_id = await _shop(site)
    ana = await site.signed_in("ana@example.com")
    assert (await ana.get(f"/channels/{channel_id}/handoff")).status_code == 403
    token = csrf_of((await ana.get("/account")).text)
    answer = await ana.post(f"/channels/{channel_id}/handoff", {"csrf_token": token, **GOOD})
    assert answer.status_code == 403
    async with site.engine.begin() as conn:
        assert not (await handoff_settings.of_channel(conn, channel_id)).saved


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"hours_mon": "10-19"}, "hours", 'mon: "10-19" is not a range like 09:00-18:00.'),
        ({"hours_tue": "19:00-10:00"}, "hours", 'tue: "19:00-10:00" does not end after it starts.'),
        ({"timezone": "Lisbon"}, "hours", '"Lisbon" is not a time zone (like Europe/Lisbon).'),
        ({"timezone": ""}, "timezone", "Say which time zone the hours are in, like Europe/Lisbon."),
        ({"pickup_minutes": "soon"}, "pickup_minutes", "A number of minutes, or empty for never."),
        (
            {"pickup_minutes": "0"},
            "pickup_minutes",
            "From 1 to 10080 minutes (7 days), or empty for never.",
        ),
        (
            {"idle_minutes": "99999"},
            "idle_minutes",
            "From 1 to 10080 minutes (7 days), or empty for never.",
        ),
        ({"auto_reply": "x" * 641}, "auto_reply", "Use at most 640 characters."),
        ({"keywords": "x" * 41}, "keywords", "Each at most 40 characters."),
        (
            {"keywords": "\n".join(f"w{n}" for n in range(31))},
            "keywords",
            "At most 30 words or phrases.",
        ),
        (
            {**{f"hours_{d}": "" for d in ("mon", "sat")}, "timezone": ""},
            "after_hours_reply",
            "Give the business hours too: outside them, this is sent.",
        ),
    ],
)
async def test_settings_written_wrong_are_named_and_nothing_is_saved(
    site: Site, changes: dict[str, str], field: str, problem: str
) -> None:
    channel_id = await _shop(site)
    morgan = await site.signed_in("morgan@example.com")
    page = (await morgan.get(f"/channels/{channel_id}/handoff")).text
    answer = await morgan.post(
        f"/channels/{channel_id}/handoff", {"csrf_token": csrf_of(page), **GOOD, **changes}
    )
    assert answer.status_code == 400
    if field == "hours":  # said above the days (quotes escaped in the page)
        assert f'id="f-hours-error">{problem.replace(chr(34), "&#34;")}<' in answer.text
    else:
        assert field_error(answer.text, field) == problem
    async with site.engine.begin() as conn:
        assert not (await handoff_settings.of_channel(conn, channel_id)).saved
