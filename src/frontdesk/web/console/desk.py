"""Who has a conversation and where it stands: take it, give it to a colleague, hand it back to
the channel's handler, resolve, reopen, snooze. Each form says which assignee the agent saw, so
two agents taking one conversation at once find out (the second is told who has it) instead of
silently taking it from each other."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.store import inbox
from frontdesk.web.access import access_conversation, access_member
from frontdesk.workers import agent as acting

from .compose import agent_of
from .context import Ask, Console
from .inbox import Inbox, handler_words, show, team_names
from .pages import redirect
from .window import stamp


def _back(conversation_id: int) -> Response:
    return redirect(f"/inbox/{conversation_id}")


async def _refused(
    box: Inbox, console: Console, ask: Ask, conversation_id: int, err: Exception
) -> Response:
    ask.form.values = {}
    ask.form.fail("form", str(err))
    return await show(box, console, ask, conversation_id, 409)


async def assign(box: Inbox, console: Console, ask: Ask) -> Response:
    form = ask.form
    conversation_id = ask.request.path_params["conversation_id"]
    chosen = form.raw("to")
    was = form.raw("was") or None
    refused: Exception | None = None
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        if not chosen.isdigit() or len(chosen) > 9:
            form.fail("form", "Choose someone of the team.")
        else:
            member = await access_member(conn, ask.user, int(chosen))
            names = await team_names(conn, ask.user.workspace_id)
            assignee = acting.Agent(member.id, member.name)
            try:
                await acting.assign(
                    conn, ref.id, agent_of(ask), assignee, console.clock(), was=was, names=names
                )
            except acting.Refused as err:
                refused = err
    if not form.ok:
        return await show(box, console, ask, conversation_id, 400)
    if refused is not None:
        return await _refused(box, console, ask, conversation_id, refused)
    return _back(ref.id)


async def hand_back(box: Inbox, console: Console, ask: Ask) -> Response:
    conversation_id = ask.request.path_params["conversation_id"]
    refused: Exception | None = None
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        link = (await inbox.detail(conn, ref.id)).link
        try:
            await acting.hand_back(
                conn, ref.id, agent_of(ask), console.clock(), handler=handler_words(link)
            )
        except acting.Refused as err:
            refused = err
    if refused is not None:
        return await _refused(box, console, ask, conversation_id, refused)
    return _back(ref.id)


async def resolve(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        await acting.resolve(conn, ref.id, agent_of(ask), console.clock())
    return _back(ref.id)


async def reopen(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        await acting.reopen(conn, ref.id, agent_of(ask), console.clock())
    return _back(ref.id)


async def snooze(box: Inbox, console: Console, ask: Ask) -> Response:
    conversation_id = ask.request.path_params["conversation_id"]
    choice = ask.form.choice("for", tuple(box.snooze_choices))
    if not ask.form.ok:
        ask.form.fail("form", ask.form.errors["for"])
        return await show(box, console, ask, conversation_id, 400)
    now = console.clock()
    until = now + box.snooze_choices[choice]
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, conversation_id)
        await acting.snooze(conn, ref.id, agent_of(ask), until, now, when=stamp(until))
    return _back(ref.id)
