"""Manual setup: a Page connected through the business's own Meta app, by hand.

Frontdesk makes a Callback URL of the channel's own and a verify token first, for the admin to
paste into the Meta app dashboard (Meta verifies the URL with a GET whenever they save it). The
admin pastes the app's id and secret and a Page token; `debug_token` must find the token valid,
a Page token of that app, with pages_messaging; the Page's name and id come from Meta; the Page
is subscribed with every field; then the channel is saved. It shows "waiting for Meta" until
Meta verified its URL (or a first signed event arrived there). Reconnecting a manual channel is
this same form again, with a new token (and the secret kept unless a new one is pasted).
"""

from __future__ import annotations

import logging
import re

from starlette.responses import Response

from frontdesk.store import channels as channel_store
from frontdesk.store import hooks, meta_apps
from frontdesk.store.hooks import Hook
from frontdesk.store.meta_apps import MetaApp
from frontdesk.web.access import Forbidden, access_hook, require_manager
from frontdesk.workers import checkup

from . import meta_fields, onboarding
from .connect import save_channel
from .context import Ask, Console
from .onboarding import ConnectFailed
from .pages import redirect

log = logging.getLogger("frontdesk.console")

_TOKEN = re.compile(r"[A-Za-z0-9_.%|-]{20,1000}")  # what Meta's tokens are made of
TOKEN_LIMIT = 1000
FIELD_OF_STEP = {
    "app": "app_secret",
    "debug_token": "page_token",
    "page": "page_token",
    "subscribe": "page_token",
}
"""Where a failed step's reason is shown: next to the field to change."""


def callback_url(console: Console, hook: Hook) -> str:
    return f"{console.config.public_url}/webhooks/messenger/{hook.key}"


async def start(console: Console, ask: Ask) -> Response:
    require_manager(ask.user)
    async with console.engine.begin() as conn:
        drafts = await hooks.drafts(conn, console.keys, ask.user.workspace_id)
    return ask.render(console, "manual_start.html", nav="channels", drafts=drafts)


async def create(console: Console, ask: Ask) -> Response:
    """A new manual setup: its Callback URL and verify token exist from now on."""
    user = ask.user
    require_manager(user)
    async with console.engine.begin() as conn:
        app = await meta_apps.app_for_workspace(
            conn, console.keys, user.workspace_id, console.config.operator_app
        )
        hook = await hooks.create(
            conn, console.keys, user.workspace_id, app.graph_url, app.graph_version, console.clock()
        )
    return redirect(f"/channels/manual/{hook.id}")


async def _render(console: Console, ask: Ask, hook: Hook, status: int = 200) -> Response:
    async with console.engine.begin() as conn:
        own = await meta_apps.own_app(conn, console.keys, ask.user.workspace_id)
        channel = (
            None
            if hook.channel_id is None
            else await channel_store.in_workspace(conn, ask.user.workspace_id, hook.channel_id)
        )
    suggested = hook.app_id or (own.app_id if own is not None else "")
    return ask.render(
        console,
        "manual.html",
        status,
        nav="channels",
        hook=hook,
        channel=channel,
        callback=callback_url(console, hook),
        suggested_app_id=suggested,
        fields=onboarding.FIELDS,
    )


async def show(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        hook = await access_hook(conn, console.keys, ask.user, ask.request.path_params["hook_id"])
    if hook.via != hooks.MANUAL:
        raise Forbidden("this channel was connected with Facebook login: reconnect it that way")
    return await _render(console, ask, hook)


async def connect(console: Console, ask: Ask) -> Response:
    """Check the pasted app and token with Meta, subscribe the Page, save the channel."""
    user, form = ask.user, ask.form
    async with console.engine.begin() as conn:
        hook = await access_hook(conn, console.keys, user, ask.request.path_params["hook_id"])
        secret_kept = (
            await hooks.stored_secret(conn, console.keys, hook.id) if hook.secret_is_set else None
        )
        target = (
            None
            if hook.channel_id is None
            else await channel_store.in_workspace(conn, user.workspace_id, hook.channel_id)
        )
    if hook.via != hooks.MANUAL:
        raise Forbidden("this channel was connected with Facebook login: reconnect it that way")
    app_id = meta_fields.app_id(form)
    secret = meta_fields.app_secret(form, required=secret_kept is None)
    token = form.text("page_token", TOKEN_LIMIT)
    if "page_token" not in form.errors and not _TOKEN.fullmatch(token):
        form.fail(
            "page_token",
            "Paste the Page token exactly, on one line: 20 to 1000 letters and digits, no "
            "spaces or line breaks.",
        )
    if not form.ok:
        return await _render(console, ask, hook, 400)
    if console.http is None:
        raise Forbidden("this Frontdesk cannot reach Meta")
    app = MetaApp(
        app_id, secret or secret_kept or "", hook.verify_token, hook.graph_url, hook.graph_version
    )
    now = console.clock()
    try:
        graph = onboarding.graph_for(console.http, app)
        info = await onboarding.check_token(graph, app, None, token)
        page_id = info.profile_id
        if page_id is None:
            raise ConnectFailed("debug_token", "Meta did not say which Page this token is for.")
        if target is not None and target.page_id != page_id:
            raise ConnectFailed(
                "debug_token",
                f"This token is for another Page ({page_id}), not for {target.name}.",
            )
        name = await onboarding.page_name(graph, page_id, token)
        await onboarding.subscribe(graph, app, page_id, token)
        # Until Meta verified the URL the app's webhook check would fail: the doctor's first
        # look waits an interval, leaving the admin time for the dashboard (the checklist says
        # when Meta verified it; the doctor page looks at once).
        first = None if hook.verified_at is not None else now + checkup.INTERVAL
        async with console.engine.begin() as conn:
            channel_id = await save_channel(
                conn, console, user.workspace_id, page_id, name, token, now, first_check_at=first
            )
            earlier = await hooks.of_channel(conn, console.keys, channel_id)
            if earlier is not None and earlier.id != hook.id:
                # The Page was connected before with another URL: this one replaces it.
                await hooks.discard(conn, earlier.id)
            await hooks.attach(conn, console.keys, hook.id, channel_id, app_id, secret or None)
    except ConnectFailed as err:
        log.warning("manual setup %s: %s failed: %s", hook.id, err.step, err.message)
        form.fail(FIELD_OF_STEP.get(err.step, "form"), err.message)
        return await _render(console, ask, hook, 400)
    log.info("manual setup %s: Page %s connected as channel %s", hook.id, page_id, channel_id)
    return redirect(f"/channels/{channel_id}?done=connected")


async def discard(console: Console, ask: Ask) -> Response:
    """Drop a manual setup that never connected a Page (its URL stops answering)."""
    async with console.engine.begin() as conn:
        hook = await access_hook(conn, console.keys, ask.user, ask.request.path_params["hook_id"])
        if hook.channel_id is not None:
            raise Forbidden("this setup has a connected Page: remove the Page instead")
        await hooks.discard(conn, hook.id)
    return redirect("/channels/manual?done=discarded")
