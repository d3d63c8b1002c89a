"""Who answers a channel (its link): exactly one of inbox, rules, endpoint, ai, with the chosen
kind's settings. The worker reads the link with every event, so a change applies to the next
one: nothing is reconnected, no message is lost, and a conversation a person holds stays theirs
(its handoff state is its own, whatever the link)."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.core.models import LinkKind
from frontdesk.store import bots
from frontdesk.store import channels as channel_store
from frontdesk.store.channels import REMOVED
from frontdesk.web.access import Forbidden, access_channel
from frontdesk.workers import botprofile

from .context import Ask, Console
from .pages import redirect
from .status import LINK_WORDS

KINDS = (LinkKind.INBOX, LinkKind.RULES, LinkKind.ENDPOINT, LinkKind.AI)
HINTS = {
    LinkKind.INBOX: "Every message waits in the inbox for a person of the team to answer.",
    LinkKind.RULES: "The channel's rule bot answers: keywords, buttons, flows that ask and "
    "remember; a customer who asks for a person is handed to the team.",
    LinkKind.ENDPOINT: "Your own service gets every event (signed) and answers through "
    "Frontdesk's API.",
    LinkKind.AI: "An AI agent answers from your knowledge base and hands over when unsure.",
}


async def _render(console: Console, ask: Ask, status: int = 200) -> Response:
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )
        bot = await bots.of_channel(conn, channel.id)
        version = None if bot is None else await bots.current(conn, bot.id)
    return ask.render(
        console,
        "link.html",
        status,
        nav="channels",
        channel=channel,
        kinds=KINDS,
        selectable=console.config.link_kinds,
        hints=HINTS,
        link_words=LINK_WORDS,
        bot=bot,
        version=version,
    )


async def show(console: Console, ask: Ask) -> Response:
    return await _render(console, ask)


async def save(console: Console, ask: Ask) -> Response:
    now = console.clock()
    link = ask.form.choice("link", console.config.link_kinds)
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )
        if channel.status == REMOVED:
            raise Forbidden("this Page was removed: reconnect it first")
        if ask.form.ok and link != channel.link:
            if link == LinkKind.RULES:
                await botprofile.link(conn, channel.id, now)  # and its Messenger profile pushed
            else:
                await channel_store.set_link(conn, channel.id, link, now)
    if not ask.form.ok:
        return await _render(console, ask, 400)
    return redirect(f"/channels/{channel.id}?done=link")
