"""Linking a channel to its rule bot, and the `messenger_profile` job that pushes the bot's Get
Started button, greeting and persistent menu to the Page (`me/messenger_profile`).

The push is a job of its own, keyed per channel, made outside any transaction: linking and
saving only enqueue it. It sends only what differs from what was last pushed (Meta allows some
10 profile calls per 10 minutes per Page), and fields the bot no longer has are deleted. The
outcome is kept on the bot (pushed, or failed with Meta's reason) for the console to show;
"try later" answers and network failures are retried by the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.messenger import GraphClient, MessengerError, RetryLater, TransportError
from frontdesk.store import bots, outbox
from frontdesk.store.secrets import Secrets

from . import queue
from .loop import JobHandler, Outside
from .queue import Job

log = logging.getLogger("frontdesk.botprofile")

PUSH = "messenger_profile"
FIELDS = ("get_started", "greeting", "persistent_menu")


class Pusher:
    """What the `messenger_profile` job needs from the composition root."""

    def __init__(self, graph: GraphClient, secrets: Secrets) -> None:
        self.graph = graph
        self.secrets = secrets


def profile_of(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The Messenger profile fields a bot's `profile` asks for, as the Graph API takes them."""
    profile = definition.get("profile", {})
    out: dict[str, Any] = {}
    if "get_started" in profile:
        out["get_started"] = {"payload": profile["get_started"]}
    if "greeting" in profile:
        out["greeting"] = [{"locale": "default", "text": profile["greeting"]}]
    if "menu" in profile:
        items = []
        for item in profile["menu"]:
            if "url" in item:
                items.append({"type": "web_url", "title": item["title"], "url": item["url"]})
            else:
                items.append(
                    {"type": "postback", "title": item["title"], "payload": item["payload"]}
                )
        out["persistent_menu"] = [
            {"locale": "default", "composer_input_disabled": False, "call_to_actions": items}
        ]
    return out


def push_key(channel_id: int) -> str:
    return f"{PUSH}:{channel_id}"


async def queue_push(conn: AsyncConnection, channel_id: int, now: float) -> None:
    """Push the channel's bot profile soon (after whatever push is already waiting)."""
    await queue.enqueue(conn, PUSH, {"channel_id": channel_id}, key=push_key(channel_id), now=now)


async def save(
    conn: AsyncConnection,
    channel_id: int,
    *,
    fmt: str,
    source: str,
    definition: dict[str, Any],
    now: float,
    author_id: int | None = None,
    note: str | None = None,
) -> bots.Version:
    """Save a checked definition as the channel's bot's next version (making the bot on its
    first save); a channel already answered by its bot gets the new profile pushed."""
    bot = await bots.of_channel(conn, channel_id)
    if bot is None:
        bot = await bots.create(conn, channel_id, str(definition.get("name", "Bot")), now)
    version = await bots.save_version(
        conn,
        bot.id,
        fmt=fmt,
        source=source,
        definition=definition,
        now=now,
        note=note,
        author_id=author_id,
    )
    if await bots.is_linked(conn, channel_id):
        await queue_push(conn, channel_id, now)
    return version


async def link(conn: AsyncConnection, channel_id: int, now: float) -> None:
    """Answer the channel's conversations with its bot from now on, and push its profile."""
    await bots.link_rules(conn, channel_id, now)
    await queue_push(conn, channel_id, now)


@dataclass(frozen=True)
class _Pushed:
    profile: dict[str, Any]
    error: str | None = None


def push_job(pusher: Pusher) -> JobHandler:
    async def push(conn: AsyncConnection, job: Job, now: float) -> Outside[Any] | None:
        channel_id = int(job.payload["channel_id"])
        bot = await bots.of_channel(conn, channel_id)
        channel = await outbox.sending_channel(conn, channel_id)
        if bot is None or channel is None or channel.page_token is None or channel.paused:
            return None  # nothing to push, or no way to: the next link or save pushes again
        version = await bots.current(conn, bot.id)
        wanted = profile_of(version.definition if version else {})
        if wanted == (bot.profile_pushed or {}) and bot.profile_status == "pushed":
            return None
        gone = [
            name for name in FIELDS if name in (bot.profile_pushed or {}) and name not in wanted
        ]
        if bot.profile_pushed is None:
            gone = [name for name in FIELDS if name not in wanted]  # whatever the Page had
        token = pusher.secrets.decrypt(channel.page_token)

        async def call() -> _Pushed:
            try:
                if gone:
                    await pusher.graph.delete_messenger_profile(token, gone)
                if wanted:
                    await pusher.graph.set_messenger_profile(token, wanted)
            except (RetryLater, TransportError):
                raise  # the queue tries again later
            except MessengerError as err:
                return _Pushed(wanted, f"{type(err).__name__}: {err}")
            return _Pushed(wanted)

        async def record(conn: AsyncConnection, pushed: _Pushed, now: float) -> None:
            if pushed.error is not None:
                log.warning("messenger profile of channel %s refused: %s", channel_id, pushed.error)
            await bots.note_profile(
                conn,
                bot.id,
                pushed=pushed.profile,
                status="failed" if pushed.error else "pushed",
                error=pushed.error,
                now=now,
            )

        return Outside(call, record)

    return push
