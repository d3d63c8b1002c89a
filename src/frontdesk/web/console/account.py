"""One's own account: who you are here, and changing your password."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.store import accounts
from frontdesk.store.passwords import MAX_LENGTH, problem

from . import throttle
from .context import Ask, Console
from .pages import redirect

NOTICES = {"password": "Your password was changed. Your other sessions were signed out."}


async def show(console: Console, ask: Ask, status: int = 200) -> Response:
    return ask.render(
        console,
        "account.html",
        status,
        nav="account",
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def change_password(console: Console, ask: Ask) -> Response:
    user, form = ask.user, ask.form
    current = form.raw("current")
    new = form.raw("password")
    reason = problem(new)
    if reason is not None:
        form.fail("password", reason)
    elif form.raw("confirm") != new:
        form.fail("confirm", "The two passwords are not the same.")
    client = ask.request.client
    ip = client.host if client is not None else "unknown"
    limits = console.config.login_limits
    # The current password is a login of its own: a borrowed session must not guess it freely.
    async with console.engine.begin() as conn:
        wait = await throttle.wait_seconds(conn, limits, user.email, ip, console.clock())
        stored = await accounts.password_hash(conn, user.id)
    if wait:
        form.fail("current", "Too many wrong passwords. Try again later.")
        response = await show(console, ask, 429)
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    matches = len(current) <= MAX_LENGTH and await console.check_password(stored, current)
    if not matches:
        async with console.engine.begin() as conn:
            await throttle.record_failure(conn, limits, user.email, ip, console.clock())
        form.fail("current", "This is not your current password.")
    if not form.ok:
        return await show(console, ask, 400)
    hashed = await console.hash_password(new)
    session = ask.visit.session
    async with console.engine.begin() as conn:
        await accounts.set_password_hash(conn, user.id, hashed)
        # Anyone else holding a session of this account is signed out; this browser stays.
        await accounts.end_sessions_of(conn, user.id, keep=session.id if session else None)
    return redirect("/account?done=password")
