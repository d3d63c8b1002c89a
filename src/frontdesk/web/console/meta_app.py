"""The Meta app settings: the operator's app, or the workspace's own (app id, secret, verify
token, Graph URL and version). Owners and admins only; the secret is never shown back."""

from __future__ import annotations

import re

from starlette.responses import Response

from frontdesk.store import meta_apps
from frontdesk.web.access import access_workspace_settings

from . import meta_fields
from .context import Ask, Console
from .pages import redirect

NOTICES = {
    "saved": "The Meta app settings were saved.",
    "token": "A new verify token was made. Paste it into your Meta app's webhook settings.",
}
_VERSION = re.compile(r"v[0-9]{1,3}\.[0-9]{1,3}")
SOURCES = ("operator", "own")


async def _render(console: Console, ask: Ask, status: int = 200) -> Response:
    workspace_id = access_workspace_settings(ask.user)
    async with console.engine.begin() as conn:
        own = await meta_apps.own_app(conn, console.keys, workspace_id)
    operator = console.config.operator_app
    return ask.render(
        console,
        "meta_app.html",
        status,
        nav="meta",
        own=own,
        operator=operator,
        graph_urls=console.config.graph_urls,
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def show(console: Console, ask: Ask) -> Response:
    return await _render(console, ask)


async def save(console: Console, ask: Ask) -> Response:
    workspace_id = access_workspace_settings(ask.user)
    form = ask.form
    source = form.choice("source", SOURCES)
    app_id = secret = graph_url = version = ""
    if source == "own":
        app_id = meta_fields.app_id(form)
        secret = meta_fields.app_secret(form, required=False)
        graph_url = form.choice("graph_url", console.config.graph_urls)
        version = form.text("graph_version", 20)
        if "graph_version" not in form.errors and not _VERSION.fullmatch(version):
            form.fail("graph_version", "Write the version like v25.0.")
    if not form.ok:
        return await _render(console, ask, 400)
    async with console.engine.begin() as conn:
        own = await meta_apps.own_app(conn, console.keys, workspace_id)
        missing_secret = source == "own" and not secret and (own is None or not own.secret_is_set)
        if missing_secret:
            form.fail("app_secret", "Paste the App secret: it is needed once.")
        elif source == "own":
            await meta_apps.save_own_app(
                conn,
                console.keys,
                workspace_id,
                console.clock(),
                in_use=True,
                app_id=app_id,
                app_secret=secret or None,
                graph_url=graph_url,
                graph_version=version,
            )
        elif own is not None:
            # Back to the operator's app; the workspace's own is kept for switching back.
            await meta_apps.save_own_app(
                conn,
                console.keys,
                workspace_id,
                console.clock(),
                in_use=False,
                app_id=own.app_id,
                app_secret=None,
                graph_url=own.graph_url,
                graph_version=own.graph_version,
            )
    if missing_secret:
        # Rendered once the transaction is over: the page reads the settings again, and on
        # SQLite a second connection would wait for this one.
        return await _render(console, ask, 400)
    return redirect("/settings/meta?done=saved")


async def regenerate(console: Console, ask: Ask) -> Response:
    workspace_id = access_workspace_settings(ask.user)
    async with console.engine.begin() as conn:
        token = await meta_apps.regenerate_verify_token(
            conn, console.keys, workspace_id, console.clock()
        )
    return redirect("/settings/meta?done=token" if token else "/settings/meta")
