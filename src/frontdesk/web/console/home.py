"""The workspace's front page: its channels (connected Pages), and one channel's page."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.web.access import access_channel, access_channels

from .context import Ask, Console

STATUS_WORDS = {
    "active": "Connected",
    "reconnect_needed": "Reconnect needed",
    "restricted": "Restricted by Meta",
}


async def dashboard(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        channels = await access_channels(conn, ask.user)
    return ask.render(
        console, "dashboard.html", nav="channels", channels=channels, status_words=STATUS_WORDS
    )


async def channel(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        found = await access_channel(conn, ask.user, ask.request.path_params["channel_id"])
    return ask.render(
        console, "channel.html", nav="channels", channel=found, status_words=STATUS_WORDS
    )
