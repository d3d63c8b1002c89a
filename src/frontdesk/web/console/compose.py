"""The composer's forms: a reply (with quick replies, or a `/shortcut` canned response), a file,
a private note, a failed message sent again; "seen" (the messages read, and Messenger told),
which the page's script sends once the conversation is in view; and "typing…". Each form goes
back to the conversation, where the message appears with how it went.

A page with the script sends these forms with fetch() and stays where it is (a 303 means done;
a 4xx carries the page with the problem next to the composer). Without the script they are
plain forms.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from frontdesk.core.models import TEXT_LIMIT, Attachment, InvalidReply, QuickReply, Reply
from frontdesk.store import canned, notes
from frontdesk.web.access import access_conversation
from frontdesk.workers import agent as acting

from . import uploads
from .context import Ask, Console
from .files import public_url
from .inbox import Inbox, show
from .pages import SECURITY_HEADERS, redirect

QUICK_REPLIES_LIMIT = 1000
_SHORTCUT = re.compile(r"/([a-z0-9][a-z0-9_-]{0,29})")
NO_CONTENT = 204


def agent_of(ask: Ask) -> acting.Agent:
    return acting.Agent(ask.user.id, ask.user.name)


def _back(conversation_id: int) -> Response:
    return redirect(f"/inbox/{conversation_id}#composer")


def _chips(text: str) -> tuple[QuickReply, ...]:
    """One quick reply per line; its title is what the customer taps and what comes back."""
    titles = [line.strip() for line in text.splitlines() if line.strip()]
    return tuple(QuickReply(title, title) for title in titles)


async def reply(box: Inbox, console: Console, ask: Ask) -> Response:
    form = ask.form
    conversation_id = ask.request.path_params["conversation_id"]
    text = form.text("text", TEXT_LIMIT, strip=False)
    chips = form.text("quick_replies", QUICK_REPLIES_LIMIT, required=False)
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        shortcut = _SHORTCUT.fullmatch(text.strip())
        if form.ok and shortcut is not None:
            found = await canned.by_shortcut(conn, ask.user.workspace_id, shortcut.group(1))
            if found is None:
                form.fail("text", f"There is no canned response /{shortcut.group(1)}.")
            else:
                text = found.text
        message = None
        if form.ok:
            try:
                message = Reply(text=text, quick_replies=_chips(chips))
            except InvalidReply as err:
                form.fail("quick_replies" if "quick repl" in str(err) else "text", f"{err}.")
        if message is not None:
            await acting.reply(conn, ref.id, agent_of(ask), message, console.clock())
    if message is None:
        return await show(box, console, ask, conversation_id, 400)
    return _back(ref.id)


async def note(box: Inbox, console: Console, ask: Ask) -> Response:
    form = ask.form
    conversation_id = ask.request.path_params["conversation_id"]
    text = form.text("text", notes.TEXT_LIMIT, strip=False)
    if not text.strip():
        form.fail("text", "Write the note first.")
    if not form.ok:
        return await show(box, console, ask, conversation_id, 400)
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        await acting.note(conn, ref.id, agent_of(ask), text, console.clock())
    return _back(ref.id)


async def upload(box: Inbox, console: Console, ask: Ask) -> Response:
    """A file the agent sends: Meta fetches it from its signed address (`files.py`). The gate
    has read it (after the form's token); it is kept only once the conversation is known to be
    the agent's, and outside any transaction (keeping waits for the disk)."""
    conversation_id = ask.request.path_params["conversation_id"]
    file = uploads.received(ask.request)
    async with console.engine.begin() as conn:
        await access_conversation(conn, ask.user, conversation_id)
    if file is None:
        ask.form.fail("file", "Choose a file to send.")
        return await show(box, console, ask, conversation_id, 400)
    sent = await file.keep()
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        url = public_url(box, console.config.public_url, sent.sha256, sent.name)
        message = Reply(attachment=Attachment(sent.kind, url=url))  # type: ignore[arg-type]
        kept = [{"type": sent.kind, "url": url, "stored": sent.stored()}]
        await acting.reply(conn, ref.id, agent_of(ask), message, console.clock(), stored=kept)
    return _back(ref.id)


async def retry(box: Inbox, console: Console, ask: Ask) -> Response:
    conversation_id = ask.request.path_params["conversation_id"]
    problem: str | None = None
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        message_id = ask.request.path_params["message_id"]
        try:
            await acting.retry(conn, ref.id, agent_of(ask), message_id, console.clock())
        except acting.Refused as err:
            problem = str(err)
    if problem is not None:
        ask.form.fail("form", problem)
        return await show(box, console, ask, conversation_id, 409)
    return _back(ref.id)


async def typing(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        await acting.typing(conn, ref.id, console.clock())
    return Response(status_code=NO_CONTENT, headers=SECURITY_HEADERS)


async def seen(box: Inbox, console: Console, ask: Ask) -> Response:
    """The agent looks at the conversation: its messages are read, and Messenger is told the
    Page saw them (once, however often the page says so). The page's script sends this when
    the page is shown; without the script, the "Mark as read" button does."""
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        await acting.seen(conn, ref.id, ref.channel_id, console.clock())
    return _back(ref.id)
