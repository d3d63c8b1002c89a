"""Removing a Page from the workspace: the app is unsubscribed from the Page (a Page that is
already gone from the app is fine), its token is deleted, its history kept or deleted (by the
worker, in the background) as the person chooses, and the page then says what is left to do on
Meta's side.

Meta is asked with no transaction open. When Meta cannot be reached, nothing is removed unless
the person asks to remove it anyway (the Page then stays subscribed on Meta until they remove
the app there, and Frontdesk ignores its events).
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from frontdesk.messenger import GraphClient, MessengerError, TokenBroken
from frontdesk.store import hooks, meta_apps, outbox, removal
from frontdesk.store.channels import REMOVED, ChannelSummary
from frontdesk.store.meta_apps import MetaApp
from frontdesk.store.secrets import SecretError
from frontdesk.web.access import access_channel
from frontdesk.workers import checkup, erase

from .context import Ask, Console
from .onboarding import quote

log = logging.getLogger("frontdesk.console")

HISTORY = ("keep", "delete")
QUEUED_REASON = "The Page was removed from Frontdesk before this reply was sent."
REMOVED_REASON = "Removed from the workspace; its conversations are kept."
ERASING_REASON = "Removed from the workspace; its conversations are being deleted."


async def _channel(console: Console, ask: Ask) -> ChannelSummary:
    async with console.engine.begin() as conn:
        return await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )


async def show(
    console: Console, ask: Ask, status: int = 200, problem: str | None = None
) -> Response:
    channel = await _channel(console, ask)
    return ask.render(
        console, "remove.html", status, nav="channels", channel=channel, problem=problem
    )


async def remove(console: Console, ask: Ask) -> Response:
    user, form = ask.user, ask.form
    history = form.choice("history", HISTORY)
    anyway = form.raw("anyway") == "on"
    if not form.ok:
        return await show(console, ask, 400)
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, user, ask.request.path_params["channel_id"], manage=True
        )
        stored = await outbox.sending_channel(conn, channel.id)
        own = await hooks.channel_app(conn, console.keys, channel.id)
        via = None
        if own is not None:
            hook = await hooks.of_channel(conn, console.keys, channel.id)
            via = None if hook is None else hook.via
        app: MetaApp = (
            own[0]
            if own is not None
            else await meta_apps.app_for_workspace(
                conn, console.keys, user.workspace_id, console.config.operator_app
            )
        )
    token = None
    if stored is not None and stored.page_token is not None:
        try:
            token = console.keys.decrypt(stored.page_token)
        except SecretError:
            token = None  # nothing to unsubscribe with: the page says so
    said = "no_token"
    if token is not None and channel.status != REMOVED and console.http is not None:
        try:
            graph = GraphClient(console.http, app.graph_url, app.graph_version)
            await graph.unsubscribe_page(channel.page_id, token)
            said = "unsubscribed"
        except TokenBroken as err:
            # 458: the app was removed from the Page already; otherwise the token died and
            # the Page stays subscribed on Meta until the app is removed there.
            said = "already" if err.subcode == 458 else "token_dead"
        except (MessengerError, ValueError) as err:
            text = quote(err) if isinstance(err, MessengerError) else str(err)
            log.warning("removing channel %s: Meta refused to unsubscribe: %s", channel.id, text)
            if not anyway:
                return await show(
                    console,
                    ask,
                    502,
                    problem=f"Meta could not unsubscribe the Page ({text}). Nothing was removed: "
                    "try again, or remove it from Frontdesk anyway.",
                )
            said = "unreachable"
    now = console.clock()
    async with console.engine.begin() as conn:
        await removal.fail_queued(conn, channel.id, QUEUED_REASON)
        await removal.cancel_waiting_jobs(conn, checkup.DOCTOR, checkup.doctor_key(channel.id))
        if channel.erasing:
            history = "delete"  # half deleted already: deleting goes on (the job, started again)
        if history == "keep":
            await removal.mark_removed(conn, channel.id, REMOVED_REASON, now)
        else:
            # Deleted in the background, a batch at a time (`workers.erase`): a long history
            # would hold the request, and on SQLite every other writer, for as long.
            await removal.mark_removed(conn, channel.id, ERASING_REASON, now, erase=True)
            await erase.start(conn, channel.id, now)
    log.info("channel %s removed (%s, history %s)", channel.id, said, history)
    return ask.render(
        console,
        "removed.html",
        nav="channels",
        channel=channel,
        said=said,
        history=history,
        manual=via == hooks.MANUAL,
        app=app,
    )
