"""Manage Pages: the Facebook Login round trip (state checked and bound to the session), the
person's Pages with what keeps some from being connected, the choice, and the Pages connected
one request at a time while the progress page shows each (and a reconnect, which is the same
round trip aimed at one channel).

Each Page's connection is one POST: its token from the person's Pages, `debug_token`, the
app's webhook, the Page's subscription with every field, then the channel saved (a reconnect
swaps the token and sends what waited). Meta is asked with no transaction open. The progress
page posts the next step by itself (console.js) and shows a button without a script; a Page
that fails says why and can be tried again.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from frontdesk.messenger import oauth_url
from frontdesk.store import channels as channel_store
from frontdesk.store import hooks, logins, meta_apps
from frontdesk.store.logins import DONE, FAILED, WAITING, WORKING, Login, PageProgress
from frontdesk.store.meta_apps import MetaApp
from frontdesk.web.access import (
    NotFound,
    access_channel,
    access_login,
    require_manager,
)
from frontdesk.workers import checkup, sending

from . import onboarding
from .context import Ask, Console
from .onboarding import ConnectFailed
from .pages import redirect

log = logging.getLogger("frontdesk.console")
ERASING = (
    "This Page's history is still being deleted from Frontdesk: connect it again in a few minutes."
)

CALLBACK = "/channels/connect/callback"
STALE = 120.0
"""A Page left "working" this long (its tab closed mid-step) may be taken again."""
STEPS = {
    "page_token": "Page token",
    "debug_token": "Token checked with Meta",
    "app_webhook": "App webhook",
    "subscribe": "Subscribed to the Page's messages",
    "saved": "Saved",
}
_STATE = re.compile(r"[A-Za-z0-9_-]{20,100}")
_CODE = re.compile(r"[\x21-\x7e]{1,2000}")
_PAGE_FIELD = re.compile(r"page-([0-9]{1,32})")


class LoginRefused(Exception):  # noqa: N818 - reads as the condition it reports
    """A Login redirect that does not belong to this session (or to anyone)."""


def _callback_url(console: Console) -> str:
    return console.config.public_url + CALLBACK


async def _app(console: Console, workspace_id: int) -> MetaApp:
    async with console.engine.begin() as conn:
        return await meta_apps.app_for_workspace(
            conn, console.keys, workspace_id, console.config.operator_app
        )


def _is_operator(console: Console, app: MetaApp) -> bool:
    return app == console.config.operator_app


def _no_app(console: Console, ask: Ask, status: int = 409) -> Response:
    return ask.render(
        console,
        "error.html",
        status,
        title="No Meta app to connect with",
        detail=(
            "Frontdesk talks to Messenger through a Meta app, and none is set up for this "
            "workspace: choose one on the Meta app page (owners and admins), or ask whoever "
            "runs this Frontdesk to configure FRONTDESK_META_APP_ID and FRONTDESK_META_APP_SECRET."
        ),
    )


# --- the start page and the round trip --------------------------------------------------------


async def start(console: Console, ask: Ask) -> Response:
    require_manager(ask.user)
    app = await _app(console, ask.user.workspace_id)
    async with console.engine.begin() as conn:
        drafts = await hooks.drafts(conn, console.keys, ask.user.workspace_id)
    return ask.render(
        console,
        "connect.html",
        nav="channels",
        app=app,
        operator=_is_operator(console, app),
        drafts=drafts,
        callback=_callback_url(console),
    )


async def facebook(console: Console, ask: Ask) -> Response:
    """Off to the Login dialog, with a fresh state bound to this session."""
    return await begin(console, ask, None)


async def begin(console: Console, ask: Ask, channel_id: int | None) -> Response:
    user = ask.user
    require_manager(user)
    session = ask.visit.session
    if session is None or console.http is None:
        raise NotFound("connecting needs a session and a way to Meta")
    app = await _app(console, user.workspace_id)
    if not app.is_complete:
        return _no_app(console, ask)
    async with console.engine.begin() as conn:
        _, state = await logins.start(
            conn,
            session_id=session.id,
            workspace_id=user.workspace_id,
            user_id=user.id,
            app_id=app.app_id,
            channel_id=channel_id,
            now=console.clock(),
            lifetime=console.config.login_lifetime,
        )
    try:
        dialog = oauth_url(
            app.app_id,
            _callback_url(console),
            state,
            scope=onboarding.SCOPE,
            base=onboarding.dialog_base(app.graph_url),
            version=app.graph_version,
        )
    except ValueError as err:
        raise NotFound(f"the app's Login dialog cannot be addressed: {err}") from err
    return redirect(dialog)


def _refused(console: Console, ask: Ask, why: str) -> Response:
    return ask.render(
        console,
        "error.html",
        400,
        title="This Facebook login cannot be used",
        detail=f"{why} Start again from Channels, Connect a Page.",
    )


async def callback(console: Console, ask: Ask) -> Response:
    """Facebook sends the person back here with `code` and `state` (or an error)."""
    user, session = ask.user, ask.visit.session
    query = ask.request.query_params
    state = query.get("state", "")
    if session is None or console.http is None or not _STATE.fullmatch(state):
        return _refused(console, ask, "It came back without the state Frontdesk sent.")
    now = console.clock()
    async with console.engine.begin() as conn:
        login = await logins.by_state(conn, state)
    mine = (
        login is not None
        and login.user_id == user.id
        and login.workspace_id == user.workspace_id
        and login.session_id == session.id
    )
    if login is None or not mine:
        log.warning("a Login redirect with a state of no login of this session was refused")
        return _refused(
            console,
            ask,
            "It was not started in this browser session (a link from elsewhere, or you logged "
            "in again meanwhile).",
        )
    if login.returned_at is not None:
        return redirect(f"/channels/connect/{login.id}")  # a reload: the same choice again
    if login.expires_at <= now:
        return _refused(console, ask, "It took too long.")
    require_manager(user)
    problem = token = None
    offers: list[logins.PageOffer] | None = None
    code = query.get("code", "")
    if query.get("error") or not code:
        problem = (
            "Facebook's login was cancelled or refused"
            + (f" ({query.get('error_description', '')[:200]})" if query.get("error") else "")
            + ". Nothing was connected."
        )
    elif not _CODE.fullmatch(code):
        problem = "Facebook sent back a code Frontdesk cannot read. Log in again."
    else:
        app = await _app(console, user.workspace_id)
        try:
            if app.app_id != login.app_id:
                raise ConnectFailed(
                    "login", "The workspace's Meta app changed meanwhile. Log in again."
                )
            graph = onboarding.graph_for(console.http, app)
            token = await onboarding.login_token(graph, app, _callback_url(console), code)
            found = await onboarding.pages_of(graph, token)
            async with console.engine.begin() as conn:
                held = await channel_store.holders(
                    conn, [a.id for a, _ in found], user.workspace_id
                )
            offers = []
            for account, published in found:
                holder = held.get(account.id)
                theirs = holder is not None and holder.workspace_id not in (
                    None,
                    user.workspace_id,
                )
                ours = holder.channel_id if holder is not None and not theirs else None
                offers.append(
                    onboarding.offer(account, published, elsewhere=theirs, channel_id=ours)
                )
        except ConnectFailed as err:
            problem, token, offers = err.message, None, None
            log.warning("Manage Pages: %s failed: %s", err.step, err.message)
    progress: dict[str, PageProgress] = {}
    async with console.engine.begin() as conn:
        if login.channel_id is not None and offers is not None:
            # A reconnect: the one Page, straight to its connection.
            channel = await access_channel(conn, user, login.channel_id, manage=True)
            target = next((o for o in offers if o.id == channel.page_id), None)
            if target is None:
                problem = (
                    f"Facebook did not give Frontdesk access to {channel.name}: log in again "
                    "and choose it in Facebook's window."
                )
            elif target.reason is not None:
                problem = f"{channel.name} cannot be reconnected: {target.reason}"
            else:
                progress = {target.id: PageProgress()}
        await logins.record_return(
            conn, console.keys, login.id, now, user_token=token, offers=offers, problem=problem
        )
        if progress:
            await logins.save_progress(conn, login.id, progress)
    if progress:
        return redirect(f"/channels/connect/{login.id}/progress")
    return redirect(f"/channels/connect/{login.id}")


# --- choosing the Pages -----------------------------------------------------------------------


async def _login(console: Console, ask: Ask) -> Login:
    async with console.engine.begin() as conn:
        return await access_login(conn, ask.user, ask.request.path_params["login_id"])


async def choose_page(console: Console, ask: Ask, status: int = 200) -> Response:
    login = await _login(console, ask)
    if login.progress and status == 200:
        return redirect(f"/channels/connect/{login.id}/progress")
    return ask.render(console, "connect_pages.html", status, nav="channels", login=login)


async def choose(console: Console, ask: Ask) -> Response:
    login = await _login(console, ask)
    if login.progress:
        return redirect(f"/channels/connect/{login.id}/progress")
    if login.offers is None or login.expires_at <= console.clock():
        ask.form.fail("form", "This login has ended. Log in with Facebook again.")
        return await choose_page(console, ask, 400)
    chosen: list[str] = []
    for name, value in ask.form.values.items():
        matched = _PAGE_FIELD.fullmatch(name)
        if matched is None or value != "on":
            continue
        offer = login.offer(matched.group(1))
        if offer is None or offer.reason is not None:
            ask.form.fail("pages", "Choose among the Pages that can be connected.")
        else:
            chosen.append(offer.id)
    if not chosen:
        ask.form.fail("pages", "Choose at least one Page.")
    if not ask.form.ok:
        return await choose_page(console, ask, 400)
    order = [o.id for o in login.offers if o.id in chosen]
    async with console.engine.begin() as conn:
        await logins.save_progress(conn, login.id, {page_id: PageProgress() for page_id in order})
    return redirect(f"/channels/connect/{login.id}/progress")


# --- connecting them, one request per Page ----------------------------------------------------


def _next(progress: dict[str, PageProgress], now: float) -> str | None:
    for page_id, step in progress.items():
        stale = step.started_at is not None and now - step.started_at > STALE
        if step.state == WAITING or (step.state == WORKING and stale):
            return page_id
    return None


async def progress_page(console: Console, ask: Ask) -> Response:
    login = await _login(console, ask)
    if not login.progress:
        return redirect(f"/channels/connect/{login.id}")
    pending = _next(login.progress, console.clock()) is not None
    return ask.render(
        console,
        "connect_progress.html",
        nav="channels",
        login=login,
        pending=pending,
        steps=STEPS,
        failed=any(p.state == FAILED for p in login.progress.values()),
        working=any(p.state == WORKING for p in login.progress.values()),
    )


async def next_page(console: Console, ask: Ask) -> Response:
    """Connect the next chosen Page (or, asked to, set the failed ones to go again)."""
    user = ask.user
    now = console.clock()
    async with console.engine.begin() as conn:
        login = await access_login(conn, user, ask.request.path_params["login_id"])
        progress = dict(login.progress)
        if ask.form.raw("retry") == "failed":
            progress = {k: PageProgress() if v.state == FAILED else v for k, v in progress.items()}
        page_id = _next(progress, now)
        if page_id is None or login.expires_at <= now:
            if page_id is not None:
                progress[page_id] = PageProgress(
                    FAILED, problem="This login has ended. Log in with Facebook again."
                )
            await logins.save_progress(conn, login.id, progress)
            return redirect(f"/channels/connect/{login.id}/progress")
        progress[page_id] = PageProgress(WORKING, started_at=now)
        await logins.save_progress(conn, login.id, progress)
        user_token = await logins.user_token(conn, console.keys, login.id)
        app = await meta_apps.app_for_workspace(
            conn, console.keys, user.workspace_id, console.config.operator_app
        )
        held = (await channel_store.holders(conn, [page_id], user.workspace_id)).get(page_id)
        hook = None
        if not _is_operator(console, app):
            # The workspace's own app sends its webhooks to a URL of the channel's own.
            hook = (
                None
                if held is None
                else await hooks.of_channel(conn, console.keys, held.channel_id)
            )
            if hook is None:
                hook = await hooks.create(
                    conn,
                    console.keys,
                    user.workspace_id,
                    app.graph_url,
                    app.graph_version,
                    now,
                    via=hooks.LOGIN,
                    app_id=app.app_id,
                    app_secret=app.app_secret,
                )
            accepted = [
                _hook_url(console, key)
                for key in await hooks.urls_of_app(conn, user.workspace_id, app.app_id)
            ]
    offer = login.offer(page_id)
    name = offer.name if offer is not None else page_id
    steps: list[str] = []
    outcome: PageProgress
    try:
        if user_token is None or console.http is None:
            raise ConnectFailed("page_token", "This login has ended. Log in with Facebook again.")
        if app.app_id != login.app_id:
            raise ConnectFailed(
                "login", "The workspace's Meta app changed meanwhile. Log in again."
            )
        if held is not None and held.workspace_id not in (None, user.workspace_id):
            raise ConnectFailed("saved", onboarding.ELSEWHERE)
        if held is not None and held.erasing:
            raise ConnectFailed("saved", ERASING)
        graph = onboarding.graph_for(console.http, app)
        account = await onboarding.page_token(graph, user_token, page_id)
        steps.append("page_token")
        await onboarding.check_token(graph, app, page_id, account.access_token)
        steps.append("debug_token")
        if hook is None:
            url = f"{console.config.public_url}/webhooks/messenger"
            await onboarding.app_webhook(graph, app, url, app.verify_token, [url])
        else:
            url = _hook_url(console, hook.key)
            await onboarding.app_webhook(graph, app, url, hook.verify_token, [*accepted, url])
        steps.append("app_webhook")
        await onboarding.subscribe(graph, app, page_id, account.access_token)
        steps.append("subscribe")
        name = account.name or name
    except ConnectFailed as err:
        log.warning("Manage Pages: Page %s, %s failed: %s", page_id, err.step, err.message)
        outcome = PageProgress(FAILED, tuple(steps), err.message)
        token = None
    else:
        token = account.access_token
    async with console.engine.begin() as conn:
        if token is not None:
            try:
                channel_id = await save_channel(
                    conn, console, user.workspace_id, page_id, name, token, now
                )
            except ConnectFailed as err:
                outcome = PageProgress(FAILED, tuple(steps), err.message)
            else:
                if hook is not None:
                    await hooks.attach(conn, console.keys, hook.id, channel_id, app.app_id, None)
                outcome = PageProgress(DONE, (*steps, "saved"), None, channel_id)
                log.info("Manage Pages: Page %s connected as channel %s", page_id, channel_id)
        if outcome.state == FAILED and hook is not None and hook.channel_id is None:
            await hooks.discard(conn, hook.id)  # made for this try; the next makes its own
        current = await access_login(conn, user, login.id)
        progress = dict(current.progress)
        progress[page_id] = outcome
        await logins.save_progress(conn, login.id, progress)
        if all(p.state == DONE for p in progress.values()):
            await logins.forget_token(conn, login.id)
    return redirect(f"/channels/connect/{login.id}/progress")


def _hook_url(console: Console, key: str) -> str:
    return f"{console.config.public_url}/webhooks/messenger/{key}"


async def save_channel(
    conn: AsyncConnection,
    console: Console,
    workspace_id: int,
    page_id: str,
    name: str,
    token: str,
    now: float,
    *,
    first_check_at: float | None = None,
) -> int:
    """The Page as the workspace's channel: a new one, or the one it had (or an unclaimed one)
    with the new token, sending what waited while it was paused; a channel the workspace
    removed with its history kept comes back with it. Watched by the doctor from
    `first_check_at` (default now). ConnectFailed when another workspace has the Page live."""
    held = (await channel_store.holders(conn, [page_id], workspace_id)).get(page_id)
    if held is not None and held.workspace_id not in (None, workspace_id):
        raise ConnectFailed("saved", onboarding.ELSEWHERE)
    if held is not None and held.erasing:
        raise ConnectFailed("saved", ERASING)
    try:
        async with conn.begin_nested():
            if held is None:
                channel_id = await channel_store.add(
                    conn, workspace_id, page_id, name, console.keys.encrypt(token), now
                )
            else:
                channel_id = held.channel_id
                await channel_store.adopt(conn, channel_id, workspace_id, name, now)
                await sending.reconnect(conn, console.keys, channel_id, token, now)
    except IntegrityError as err:
        # Another workspace connected the same Page a moment earlier (the Page has one live
        # channel: bringing back a removed one meets the same rule).
        raise ConnectFailed("saved", onboarding.ELSEWHERE) from err
    await checkup.watch(conn, channel_id, now, at=first_check_at)
    return channel_id


async def reconnect(console: Console, ask: Ask) -> Response:
    """Reconnect a channel: the Login round trip again for its Page (or, for a Page set up by
    hand, its manual setup again, to paste a new token)."""
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=True
        )
        own = await hooks.of_channel(conn, console.keys, channel.id)
    if own is not None and own.via == hooks.MANUAL:
        return redirect(f"/channels/manual/{own.id}")
    return await begin(console, ask, channel.id)
