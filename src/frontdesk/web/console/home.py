"""The workspace's channels: the configuration table, one channel's page with its post-setup
checklist (the last event received, waited for live; a test reply and its delivery), and the
small JSON the checklist polls."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import JSONResponse, Response

from frontdesk.core.models import Author, Reply
from frontdesk.store import activity, hooks
from frontdesk.store.channels import REMOVED
from frontdesk.web.access import Forbidden, access_channel, access_channels
from frontdesk.workers import sending

from . import status
from .context import Ask, Console
from .pages import SECURITY_HEADERS, redirect, when
from .status import LINK_WORDS, STATUS_WORDS, VIA_WORDS

TEST_TEXT = "This is a test reply from Frontdesk: the Page is connected."
TEST_LIMIT = 640
WINDOW = 24 * 3600.0
NOTICES = {
    "connected": "The Page is connected. Send it a message from a personal Facebook account to "
    "see it arrive below.",
    "link": "Saved: the next message is answered the new way.",
    "test": "The test reply is on its way; its delivery shows below.",
}
MESSAGE_WORDS = {
    "queued": "Waiting to be sent",
    "sent": "Sent, not yet delivered",
    "delivered": "Delivered",
    "read": "Delivered and read",
    "failed": "Failed",
    "blocked": "Not sent",
}


async def dashboard(console: Console, ask: Ask) -> Response:
    user = ask.user
    now = console.clock()
    async with console.engine.begin() as conn:
        channels = await access_channels(conn, user)
        own = await hooks.of_workspace(conn, user.workspace_id)
        seen = await activity.of_channels(conn, [c.id for c in channels])
    rows = [
        status.row(c, own.get(c.id), seen[c.id], now, console.config.quiet_hours) for c in channels
    ]
    return ask.render(
        console,
        "dashboard.html",
        nav="channels",
        rows=[r for r in rows if not r.removed],
        removed=[r for r in rows if r.removed],
        status_words=STATUS_WORDS,
        link_words=LINK_WORDS,
        via_words=VIA_WORDS,
        notice=_removed_notice(ask),
    )


def _removed_notice(ask: Ask) -> str | None:
    if ask.request.query_params.get("done") == "removed":
        return "The Page was removed."
    return None


async def channel(console: Console, ask: Ask, status_code: int = 200) -> Response:
    user = ask.user
    now = console.clock()
    async with console.engine.begin() as conn:
        found = await access_channel(conn, user, ask.request.path_params["channel_id"])
        own = await hooks.of_channel(conn, console.keys, found.id)
        seen = await activity.of_channel(conn, found.id)
        contacts = await activity.recent_contacts(conn, found.id, now - WINDOW)
        test = await _test_message(conn, ask, found.id)
    own_state = None if own is None else hooks.Own(own.via, own.verified_at is not None)
    row = status.row(found, own_state, seen, now, console.config.quiet_hours)
    return ask.render(
        console,
        "channel.html",
        status_code,
        nav="channels",
        channel=found,
        row=row,
        hook=own,
        callback=None
        if own is None
        else f"{console.config.public_url}/webhooks/messenger/{own.key}",
        contacts=contacts,
        test=test,
        test_text=ask.form.values.get("text", TEST_TEXT),
        message_words=MESSAGE_WORDS,
        link_words=LINK_WORDS,
        via_words=VIA_WORDS,
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def _test_message(
    conn: AsyncConnection, ask: Ask, channel_id: int
) -> activity.Outgoing | None:
    raw = ask.request.query_params.get("test", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return await activity.outgoing(conn, channel_id, int(raw))


async def live(console: Console, ask: Ask) -> Response:
    """What the checklist shows, for its script to refresh without reloading the page."""
    async with console.engine.begin() as conn:
        found = await access_channel(conn, ask.user, ask.request.path_params["channel_id"])
        own = await hooks.of_channel(conn, console.keys, found.id)
        seen = await activity.of_channel(conn, found.id)
        test = await _test_message(conn, ask, found.id)
    last_in = seen.last_in
    body = {
        "last_in": None
        if last_in is None
        else {"at": when(last_in.at), "text": (last_in.text or "(no text)")[:200]},
        "verified": None if own is None else own.verified_at is not None,
        "test": None
        if test is None
        else {
            "status": test.status,
            "words": MESSAGE_WORDS.get(test.status, test.status),
            "reason": test.failure_reason,
        },
    }
    return JSONResponse(body, headers=SECURITY_HEADERS)


async def send_test(console: Console, ask: Ask) -> Response:
    """A test reply to a recent contact, through the outbox like any reply."""
    user, form = ask.user, ask.form
    now = console.clock()
    async with console.engine.begin() as conn:
        found = await access_channel(conn, user, ask.request.path_params["channel_id"], manage=True)
        if found.status == REMOVED:
            raise Forbidden("this Page was removed: it sends nothing")
        text = form.text("text", TEST_LIMIT)
        raw = form.raw("conversation")
        conversation_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else 0
        if not await activity.conversation_of_channel(conn, found.id, conversation_id):
            form.fail("conversation", "Choose one of the people who wrote to the Page lately.")
        message_id = None
        if form.ok:
            message_id = await sending.queue_reply(
                conn, conversation_id, Reply(text=text), Author.AGENT, now
            )
    if message_id is None:
        return await channel(console, ask, 400)
    return redirect(f"/channels/{found.id}?done=test&test={message_id}#checklist")
