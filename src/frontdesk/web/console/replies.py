"""The workspace's canned responses: listed for everyone (the composer inserts them with
`/shortcut`), added, changed and removed by owners and admins."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.store import canned
from frontdesk.web.access import access_canned, require_manager

from .context import Ask, Console
from .inbox import Inbox
from .pages import redirect

NOTICES = {"saved": "The canned response was saved.", "removed": "The canned response was removed."}


async def _render(console: Console, ask: Ask, status: int = 200) -> Response:
    async with console.engine.begin() as conn:
        found = await canned.of_workspace(conn, ask.user.workspace_id)
    return ask.render(
        console,
        "canned.html",
        status,
        nav="inbox",
        canned=found,
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def show(box: Inbox, console: Console, ask: Ask) -> Response:
    return await _render(console, ask)


async def save(box: Inbox, console: Console, ask: Ask) -> Response:
    require_manager(ask.user)
    form = ask.form
    shortcut = form.text("shortcut", 31).lower().removeprefix("/")
    text = form.text("text", canned.TEXT_LIMIT)
    if form.ok and not canned.SHORTCUT.fullmatch(shortcut):
        form.fail("shortcut", "Use lowercase letters, digits, - and _ (up to 30), like hours.")
    if not form.ok:
        return await _render(console, ask, 400)
    async with console.engine.begin() as conn:
        await canned.save(conn, ask.user.workspace_id, shortcut, text, console.clock())
    return redirect("/inbox/canned?done=saved")


async def remove(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        found = await access_canned(
            conn, ask.user, ask.request.path_params["canned_id"], manage=True
        )
        await canned.remove(conn, found.id)
    return redirect("/inbox/canned?done=removed")
