"""Getting in and out: the first run (the first owner), login, logout, and accepting an
invitation. Accounts are made here and by `frontdesk admin`; sessions only by a login."""

from __future__ import annotations

import math
import re

from starlette.responses import Response

from frontdesk.core.people import (
    EMAIL_LIMIT,
    NAME_LIMIT,
    WORKSPACE_NAME_LIMIT,
    Role,
    name_problem,
    normal_email,
)
from frontdesk.store import accounts
from frontdesk.store.passwords import MAX_LENGTH, problem

from . import throttle
from .context import Ask, Console
from .forms import Fields
from .pages import local_path, redirect

NOTICES = {
    "setup": "Your workspace is ready. Log in with the address and password you just chose.",
    "joined": "Your account is ready. Log in with your address and new password.",
    "logout": "You are logged out.",
    "password": "Your password was changed. Log in with the new one.",
}
_INVITATION_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def _new_password(form: Fields) -> str:
    """The password typed twice (`password`, `confirm`), with errors next to the fields."""
    password = form.raw("password")
    reason = problem(password)
    if reason is not None:
        form.fail("password", reason)
    elif form.raw("confirm") != password:
        form.fail("confirm", "The two passwords are not the same.")
    return password


def _name(form: Fields, field: str, limit: int) -> str:
    name = form.text(field, limit)
    if field not in form.errors:
        reason = name_problem(name, limit)
        if reason is not None:
            form.fail(field, reason)
    return name


# --- first run --------------------------------------------------------------------------------


async def setup_page(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        if await accounts.count_users(conn) > 0:
            return redirect("/login")
    return ask.render(console, "setup.html")


async def setup(console: Console, ask: Ask) -> Response:
    form = ask.form
    workspace = _name(form, "workspace", WORKSPACE_NAME_LIMIT)
    name = _name(form, "name", NAME_LIMIT)
    email = form.email("email")
    password = _new_password(form)
    if not form.ok:
        return ask.render(console, "setup.html", 400)
    hashed = await console.hash_password(password)
    now = console.clock()
    async with console.engine.begin() as conn:
        await accounts.lock_for_first_run(conn)
        if await accounts.count_users(conn) > 0:
            return redirect("/login")  # someone finished the first run a moment earlier
        try:
            created = await accounts.create_workspace(conn, workspace, now)
        except accounts.WorkspaceNameTaken:
            form.fail("workspace", "Another workspace has this name.")
            return ask.render(console, "setup.html", 400)
        await accounts.add_user(conn, created.id, email, name, Role.OWNER, hashed, now)
    return redirect("/login?done=setup")


# --- login and logout -------------------------------------------------------------------------


async def login_page(console: Console, ask: Ask) -> Response:
    if ask.visit.session_token is not None:
        return redirect(local_path(ask.request.query_params.get("next")))
    async with console.engine.begin() as conn:
        if await accounts.count_users(conn) == 0:
            return redirect("/setup")
    done = ask.request.query_params.get("done", "")
    return ask.render(
        console,
        "login.html",
        notice=NOTICES.get(done),
        next=local_path(ask.request.query_params.get("next"), ""),
    )


async def login(console: Console, ask: Ask) -> Response:
    form = ask.form
    typed = form.text("email", EMAIL_LIMIT)
    password = form.raw("password")
    if not password:
        form.fail("password", "This is needed.")
    next_path = local_path(form.raw("next"), "")
    account = normal_email(typed) or typed.lower()
    client = ask.request.client
    ip = client.host if client is not None else "unknown"
    limits = console.config.login_limits
    if not form.ok:
        return ask.render(console, "login.html", 400, next=next_path)

    async with console.engine.begin() as conn:
        wait = await throttle.wait_seconds(conn, limits, account, ip, console.clock())
        found = None if wait else await accounts.user_by_email(conn, account)
    if wait:
        minutes = throttle.in_minutes(wait)
        form.fail(
            "form",
            "Too many failed logins for this account or from your network. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        )
        response = ask.render(console, "login.html", 429, next=next_path)
        response.headers["retry-after"] = str(math.ceil(wait))
        return response

    stored = found[1] if found else None
    matches = len(password) <= MAX_LENGTH and await console.check_password(stored, password)
    if not matches or found is None:
        async with console.engine.begin() as conn:
            await throttle.record_failure(conn, limits, account, ip, console.clock())
        form.fail("form", "That address and password do not match an account.")
        return ask.render(console, "login.html", 400, next=next_path)

    user, hashed = found
    rehashed = None
    if console.passwords.needs_rehash(hashed):
        rehashed = await console.hash_password(password)
    now = console.clock()
    config = console.config
    async with console.engine.begin() as conn:
        if ask.visit.session_token is not None:
            # A new session id at every login (no fixation): the old cookie opens nothing.
            await accounts.end_session(conn, ask.visit.session_token)
        await accounts.clear_login_failures(conn, account)
        if rehashed is not None:
            await accounts.set_password_hash(conn, user.id, rehashed)
        token = await accounts.start_session(conn, user.id, now)
        await accounts.prune_sessions(
            conn, now, idle=config.session_idle, lifetime=config.session_lifetime
        )
    response = redirect(next_path or "/")
    console.cookies.set_session(response, token)
    return response


async def logout(console: Console, ask: Ask) -> Response:
    if ask.visit.session_token is not None:
        async with console.engine.begin() as conn:
            await accounts.end_session(conn, ask.visit.session_token)
    response = redirect("/login?done=logout")
    console.cookies.clear_session(response)
    return response


# --- invitations ------------------------------------------------------------------------------


async def _pending(
    console: Console, token: str
) -> tuple[accounts.Invitation, accounts.Workspace] | None:
    if not _INVITATION_TOKEN.fullmatch(token):
        return None
    async with console.engine.begin() as conn:
        invitation = await accounts.pending_invitation(conn, token, console.clock())
        if invitation is None:
            return None
        workspace = await accounts.workspace(conn, invitation.workspace_id)
    return None if workspace is None else (invitation, workspace)


def _gone(console: Console, ask: Ask) -> Response:
    return ask.render(
        console,
        "error.html",
        404,
        title="This invitation cannot be used",
        detail=(
            "The link was already used, has expired or was revoked. "
            "Ask the person who invited you for a new one."
        ),
    )


async def invitation_page(console: Console, ask: Ask) -> Response:
    pending = await _pending(console, ask.request.path_params["token"])
    if pending is None:
        return _gone(console, ask)
    invitation, workspace = pending
    return ask.render(console, "invitation.html", invitation=invitation, joining=workspace)


async def accept_invitation(console: Console, ask: Ask) -> Response:
    token = ask.request.path_params["token"]
    pending = await _pending(console, token)
    if pending is None:
        return _gone(console, ask)
    invitation, workspace = pending
    form = ask.form
    name = _name(form, "name", NAME_LIMIT)
    password = _new_password(form)
    if not form.ok:
        return ask.render(console, "invitation.html", 400, invitation=invitation, joining=workspace)
    hashed = await console.hash_password(password)
    now = console.clock()
    async with console.engine.begin() as conn:
        if await accounts.user_by_email(conn, invitation.email) is not None:
            form.fail("name", "This address already has an account: log in instead.")
            return ask.render(
                console, "invitation.html", 400, invitation=invitation, joining=workspace
            )
        # Used in the same transaction that creates the account: single use, even when two
        # tabs submit at once (the second finds it used).
        if not await accounts.use_invitation(conn, invitation.id, now):
            return _gone(console, ask)
        await accounts.add_user(
            conn, invitation.workspace_id, invitation.email, name, invitation.role, hashed, now
        )
    return redirect("/login?done=joined")
