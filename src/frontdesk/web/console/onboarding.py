"""What connecting a Page asks of Meta: the Login's tokens, the person's Pages and what keeps one
from being connected, a Page token checked with `debug_token`, the app's webhook, and the Page
subscribed with every field Frontdesk reads.

No database here: the views read and write around these calls, never holding a transaction
while Meta answers. Every refusal becomes a `ConnectFailed` naming the step and what to do, in
words the person connecting the Page understands; Meta's own message is quoted, never hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import httpx

from frontdesk.messenger import (
    GraphClient,
    GraphError,
    MessengerError,
    PageAccount,
    RetryLater,
    TokenBroken,
    TokenInfo,
    app_token,
)
from frontdesk.store.logins import PageOffer
from frontdesk.store.meta_apps import MetaApp
from frontdesk.workers.examination import REQUIRED_FIELDS, REQUIRED_PERMISSIONS

SCOPE = (*REQUIRED_PERMISSIONS, "pages_read_engagement")
"""What the Login dialog asks for: what the doctor checks, and reading the Page's state."""
FIELDS = REQUIRED_FIELDS
"""The webhook fields subscribed, always all of them (Meta replaces the list on each call)."""
META_GRAPH = "https://graph.facebook.com"
META_DIALOG = "https://www.facebook.com"
MAX_QUOTE = 300
ASK_TIMEOUT = 15.0
"""Seconds one call to Meta may take while a person waits for the page."""

NO_MESSAGING = (
    "You cannot manage this Page's messages (your tasks on it: {tasks}). Ask an admin of the "
    "Page to give you the Messages task (Page settings → Page access), then log in again."
)
UNPUBLISHED = (
    "The Page is unpublished: Messenger neither brings its messages nor delivers replies. "
    "Publish it on Facebook (Page settings → Privacy → Page visibility), then log in again."
)
ELSEWHERE = "Already connected to another Frontdesk workspace: it must be removed there first."


class ConnectFailed(Exception):  # noqa: N818 - reads as the condition it reports
    """One step of connecting a Page failed; the message is for the person connecting it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


def dialog_base(graph_url: str) -> str:
    """Where the Login dialog lives: www.facebook.com for Meta's Graph, else the same server
    (the emulator serves both)."""
    return META_DIALOG if graph_url.rstrip("/") == META_GRAPH else graph_url.rstrip("/")


def quote(err: MessengerError) -> str:
    text = str(err)
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def explain(step: str, err: MessengerError) -> ConnectFailed:
    """Meta's refusal of `step`, with what to do about it."""
    if isinstance(err, TokenBroken):
        return ConnectFailed(
            step,
            f"Meta no longer accepts the Facebook login ({quote(err)}). Log in with Facebook "
            "again.",
        )
    if isinstance(err, RetryLater):
        return ConnectFailed(
            step,
            f"Meta could not be reached or asked to wait ({quote(err)}). Try again in a moment.",
        )
    return ConnectFailed(step, f"Meta refused: {quote(err)}.")


def graph_for(http: httpx.AsyncClient, app: MetaApp) -> GraphClient:
    """The app's Graph client; ConnectFailed when its stored version is unusable."""
    try:
        return GraphClient(http, app.graph_url, app.graph_version)
    except ValueError as err:
        raise ConnectFailed(
            "settings", f"The Meta app's Graph settings cannot be used: {err}."
        ) from err


async def login_token(graph: GraphClient, app: MetaApp, redirect_uri: str, code: str) -> str:
    """The Login's `code` → a long-lived user token (its Page tokens never expire)."""
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            short = await graph.exchange_code(app.app_id, app.app_secret, redirect_uri, code)
            long = await graph.exchange_long_lived(app.app_id, app.app_secret, short.access_token)
    except TimeoutError as err:
        raise ConnectFailed("login", "Meta did not answer in time. Log in again.") from err
    except MessengerError as err:
        raise explain("login", err) from err
    return long.access_token


async def pages_of(graph: GraphClient, user_token: str) -> list[tuple[PageAccount, bool | None]]:
    """The person's Pages as Meta lists them, each with whether it is published (None: Meta
    did not say)."""
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            accounts = await graph.accounts(user_token)
            published = await asyncio.gather(*(_published(graph, a) for a in accounts))
    except TimeoutError as err:
        raise ConnectFailed("pages", "Meta did not list your Pages in time. Try again.") from err
    except MessengerError as err:
        raise explain("pages", err) from err
    return list(zip(accounts, published, strict=True))


def offer(
    account: PageAccount, published: bool | None, *, elsewhere: bool, channel_id: int | None
) -> PageOffer:
    """The Page as the choice shows it: with the reason it cannot be connected, if one holds
    (connected to another workspace; no Messages task; unpublished). A Page this workspace has
    (`channel_id`) may be chosen again: that renews its connection."""
    reason = None
    if elsewhere:
        reason = ELSEWHERE
    elif "MESSAGING" not in account.tasks:
        reason = NO_MESSAGING.format(tasks=", ".join(account.tasks) or "none")
    elif published is False:
        reason = UNPUBLISHED
    return PageOffer(
        account.id, account.name or account.id, account.category, account.tasks, reason, channel_id
    )


async def _published(graph: GraphClient, account: PageAccount) -> bool | None:
    """Whether the Page is published; None when Meta does not say (it is then offered, and a
    refusal shows when it is connected)."""
    try:
        page = await graph.page(account.id, account.access_token, ("id", "is_published"))
    except GraphError:
        return None
    published = page.get("is_published")
    return published if isinstance(published, bool) else None


async def page_token(graph: GraphClient, user_token: str, page_id: str) -> PageAccount:
    """The Page's token, from the person's Pages as Meta lists them now."""
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            accounts = await graph.accounts(user_token)
    except TimeoutError as err:
        raise ConnectFailed("page_token", "Meta did not answer in time. Try again.") from err
    except MessengerError as err:
        raise explain("page_token", err) from err
    account = next((a for a in accounts if a.id == page_id), None)
    if account is None:
        raise ConnectFailed(
            "page_token",
            "Facebook no longer gives Frontdesk this Page. Log in with Facebook again and "
            "choose it in Facebook's window.",
        )
    return account


async def check_token(
    graph: GraphClient, app: MetaApp, page_id: str | None, token: str
) -> TokenInfo:
    """`debug_token`: valid, a Page token of this app (for `page_id` when given), with every
    permission Frontdesk needs."""
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            info = await graph.debug_token(token, app_token(app.app_id, app.app_secret))
    except TimeoutError as err:
        raise ConnectFailed("debug_token", "Meta did not answer in time. Try again.") from err
    except TokenBroken as err:
        raise ConnectFailed(
            "app",
            f"Meta refused the Meta app's id and secret ({quote(err)}): check them (App "
            "settings → Basic in the Meta app dashboard).",
        ) from err
    except MessengerError as err:
        raise explain("debug_token", err) from err
    if not info.is_valid:
        code = f"{info.error_code}/{info.error_subcode}" if info.error_code else "no reason given"
        raise ConnectFailed("debug_token", f"Meta says the token is not valid ({code}).")
    if info.app_id != app.app_id:
        raise ConnectFailed(
            "debug_token",
            f"The token belongs to another Meta app ({info.app_id}), not to app {app.app_id}.",
        )
    if info.type != "PAGE":
        raise ConnectFailed(
            "debug_token",
            f"This is a {info.type or 'unknown'} token, not a Page token: generate a Page "
            "access token (Messenger → Settings → Access tokens in the Meta app dashboard).",
        )
    if page_id is not None and info.profile_id not in (None, page_id):
        raise ConnectFailed("debug_token", f"The token is for another Page ({info.profile_id}).")
    missing = [p for p in REQUIRED_PERMISSIONS if p not in info.scopes]
    if missing:
        raise ConnectFailed(
            "debug_token",
            f"The token lacks {', '.join(missing)}: "
            + "; ".join(f"{p}: {REQUIRED_PERMISSIONS[p]}" for p in missing)
            + ". Allow every permission Frontdesk asks for.",
        )
    return info


async def page_name(graph: GraphClient, page_id: str, token: str) -> str:
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            page = await graph.page(page_id, token, ("id", "name"))
    except TimeoutError as err:
        raise ConnectFailed("page", "Meta did not answer in time. Try again.") from err
    except MessengerError as err:
        raise explain("page", err) from err
    name = page.get("name")
    return name if isinstance(name, str) and name.strip() else page_id


async def app_webhook(
    graph: GraphClient,
    app: MetaApp,
    callback_url: str,
    verify_token: str,
    accepted: Collection[str],
) -> bool:
    """Point the app's webhook for Pages at `callback_url` with every field, unless it is
    already verified at one of the `accepted` URLs with them all; True when it was set now.
    Meta checks the URL with the verification GET before it answers."""
    key = app_token(app.app_id, app.app_secret)
    wanted = {url.rstrip("/") for url in accepted}
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            current = await graph.app_subscriptions(app.app_id, key)
            page = next((s for s in current if s.object == "page"), None)
            if (
                page is not None
                and page.active
                and (page.callback_url or "").rstrip("/") in wanted
                and set(FIELDS) <= set(page.fields)
            ):
                return False
            await graph.subscribe_app(app.app_id, key, callback_url, verify_token, FIELDS)
    except TimeoutError as err:
        raise ConnectFailed("app_webhook", "Meta did not answer in time. Try again.") from err
    except MessengerError as err:
        failed = explain("app_webhook", err)
        raise ConnectFailed(
            "app_webhook",
            f"The Meta app's webhook could not be set to {callback_url}: {failed.message} "
            "Meta must reach that address (FRONTDESK_PUBLIC_URL) to verify it.",
        ) from err
    return True


async def subscribe(graph: GraphClient, app: MetaApp, page_id: str, token: str) -> None:
    """Subscribe the app to the Page with every field, then check Meta lists it so."""
    try:
        async with asyncio.timeout(ASK_TIMEOUT):
            await graph.subscribe_page(page_id, token, FIELDS)
            listed = await graph.subscribed_apps(page_id, token)
    except TimeoutError as err:
        raise ConnectFailed("subscribe", "Meta did not answer in time. Try again.") from err
    except MessengerError as err:
        raise explain("subscribe", err) from err
    ours = next((a for a in listed if a.id == app.app_id), None)
    missing = [f for f in FIELDS if ours is None or f not in ours.subscribed_fields]
    if missing:
        raise ConnectFailed(
            "subscribe",
            "Meta accepted the subscription but does not list it with "
            f"{', '.join(missing)}. Try again; if it stays so, check the app's webhook fields.",
        )
