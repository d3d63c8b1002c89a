"""`frontdesk dev`: Frontdesk and the Meta emulator in one process, the demo Page connected.

This is what `make run` starts. Both run as uvicorn servers in one asyncio loop. Frontdesk is
configured for the emulator's demo app (`FRONTDESK_GRAPH_URL` pointing at the emulator), and once
both answer, the demo Page is connected the way a business would connect it on Meta: the Login
dialog as the Page admin, the code exchange, a long-lived user token, `me/accounts`, the app's
webhook subscription (which the emulator verifies against Frontdesk right then), the Page's
subscription with every field Frontdesk reads, and the channel stored with its Page token
encrypted. Doing all of it on every start is what makes a restart safe: each step replaces what
the previous run left, and the channel keeps its id and its conversations.

The channel is stored without a workspace when none exists yet: the console's first run (or
`frontdesk admin create`) makes the first workspace, which adopts it. Later starts find the
channel by its Page id and keep its workspace.

The first start also gives the demo Page the shipped example bot, the shop assistant, and links
the Page to it (`rules`): a message typed in the emulator's Messenger client gets its answer.
A customer who asks for a person ("talk to a person", the menu's button) is handed off by the
channel before the bot is asked, so the Page's handoff settings get the shop's message for it.
Later starts leave the bot, the link and the handoff settings as they are.

The emulator's world is saved to `<data dir>/emulator.yaml` on shutdown and loaded from there on
the next start, so its tokens and transcripts survive a restart as Frontdesk's database does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import sys
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .app import Server, create_app
from .emulator import scenario
from .emulator.app import build_meta
from .emulator.app import create_app as create_emulator_app
from .emulator.meta import Meta
from .messenger import GraphClient, MessengerError, PageAccount, app_token, oauth_url
from .settings import Settings
from .store import bots, handoff_settings
from .store import conversations as store
from .store.db import create_engine
from .store.migrate import upgrade
from .store.secrets import Secrets
from .web import botfile
from .workers import botprofile, checkup, sending

log = logging.getLogger("frontdesk.demo")

# The emulator's default world (docs/emulator.md, "The default world"): public demo values.
DEMO_APP_ID = "900100200300400"
DEMO_APP_SECRET = "demo-app-secret-0123456789abcdef"  # noqa: S105 - the demo world's, published
DEMO_PAGE_ID = "104857600012345"  # Lisbon Tees
DEMO_ADMIN_ID = "10150000000000001"  # Morgan Reyes, admin of the Page and of the app
SCOPE = ("pages_show_list", "pages_messaging", "pages_manage_metadata", "pages_read_engagement")
WEBHOOK_FIELDS = (
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "messaging_postbacks",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "standby",
)
"""Every Messenger field Frontdesk parses. Meta replaces a Page's list on each POST, so the whole
list goes every time (digest §8.9)."""
STARTUP_SECONDS = 30.0
CONNECT_SECONDS = 30.0
SHOP_ASSISTANT = "shop-assistant.yaml"
SHOP_HANDOFF_MESSAGE = "I'm getting a person from our team. They'll answer here shortly."
"""What the demo Page tells a customer who asks for a person: the channel's handoff message, the
words of the shop assistant's own handoff."""


class DemoError(Exception):
    """The demo could not start or the Page could not be connected; the message says why."""


@dataclass(frozen=True)
class Addresses:
    host: str = "127.0.0.1"
    port: int = 8000
    emulator_port: int = 8081

    @property
    def frontdesk_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"


def environment(env: Mapping[str, str], addresses: Addresses) -> dict[str, str]:
    """`env` with the FRONTDESK_* values that point Frontdesk at the emulator's demo app.

    The verify token is fresh each start unless one is set: the app subscription is redone on
    every start, so nothing needs to remember it. Logs default to warnings only: the terminal
    belongs to the banner, which says what an info line would.
    """
    return {
        **env,
        "FRONTDESK_LOG_LEVEL": env.get("FRONTDESK_LOG_LEVEL") or "warning",
        "FRONTDESK_GRAPH_URL": addresses.emulator_url,
        "FRONTDESK_META_APP_ID": DEMO_APP_ID,
        "FRONTDESK_META_APP_SECRET": DEMO_APP_SECRET,
        "FRONTDESK_META_VERIFY_TOKEN": env.get("FRONTDESK_META_VERIFY_TOKEN")
        or secrets.token_urlsafe(24),
        "FRONTDESK_PUBLIC_URL": addresses.frontdesk_url,
    }


# --- connecting the demo Page, the way a business does ---------------------------------------


async def log_in(
    http: httpx.AsyncClient,
    settings: Settings,
    redirect_uri: str,
    page_ids: Sequence[str],
) -> str:
    """Submit the Login dialog as the Page admin, granting `page_ids`; returns the code.

    A browser would show the dialog and the admin would press Continue; against our own
    emulator we post the form it would have posted (docs/emulator.md, "Driving the Login
    dialog"). Meta's real dialog cannot be scripted, and is not meant to be.
    """
    state = secrets.token_urlsafe(16)
    dialog = oauth_url(
        settings.meta_app_id,
        redirect_uri,
        state,
        scope=SCOPE,
        base=settings.graph_url,
        version=settings.graph_version,
    )
    address, _, query = dialog.partition("?")
    form: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
    form.update(
        person_id=DEMO_ADMIN_ID, action="allow", page=list(page_ids), permission=list(SCOPE)
    )
    answer = await http.post(address, data=form, follow_redirects=False)
    if answer.status_code != 302:
        raise DemoError(f"the Login dialog answered HTTP {answer.status_code}, not a redirect")
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    if back.get("state") != [state]:
        raise DemoError("the Login redirect came back with another state")
    if "code" not in back:
        raise DemoError(f"the Login was refused: {back.get('error_description', ['?'])[0]}")
    return back["code"][0]


async def connect_page(
    http: httpx.AsyncClient, settings: Settings, engine: AsyncEngine, now: float
) -> PageAccount:
    """Connect the demo Page end to end and store its channel; safe to repeat."""
    return (await connect_pages(http, settings, engine, now, (DEMO_PAGE_ID,)))[0]


async def connect_pages(
    http: httpx.AsyncClient,
    settings: Settings,
    engine: AsyncEngine,
    now: float,
    page_ids: Sequence[str],
) -> list[PageAccount]:
    """Connect the admin's Pages `page_ids` end to end, granted in one Login, and store a
    channel for each; safe to repeat. A Page without a bot gets the shop assistant."""
    graph = GraphClient(http, settings.graph_url, settings.graph_version)
    app_id, app_secret = settings.meta_app_id, settings.meta_app_secret
    redirect_uri = f"{settings.public_url}/connect/done"
    code = await log_in(http, settings, redirect_uri, page_ids)
    short = await graph.exchange_code(app_id, app_secret, redirect_uri, code)
    long = await graph.exchange_long_lived(app_id, app_secret, short.access_token)
    granted = {p.id: p for p in await graph.accounts(long.access_token)}
    missing = [page_id for page_id in page_ids if page_id not in granted]
    if missing:
        raise DemoError(f"Pages not among the admin's Pages (me/accounts): {', '.join(missing)}")
    # The emulator calls Frontdesk's webhook with the verification handshake before answering.
    await graph.subscribe_app(
        app_id,
        app_token(app_id, app_secret),
        f"{settings.public_url}/webhooks/messenger",
        settings.meta_verify_token,
        WEBHOOK_FIELDS,
    )
    keys = Secrets(settings.secret_keys)
    pages = [granted[page_id] for page_id in page_ids]
    for page in pages:
        await graph.subscribe_page(page.id, page.access_token, WEBHOOK_FIELDS)
        async with engine.begin() as conn:
            channel = await store.channel_for_page(conn, page.id)
            if channel is None:
                sealed = keys.encrypt(page.access_token)
                channel_id = await store.add_channel(
                    conn, page.id, page.name or page.id, now, page_token=sealed
                )
            else:
                # A restart: the same channel and conversations, with the new Page token; what
                # waited to be sent goes out now.
                channel_id = channel.id
                await sending.reconnect(conn, keys, channel.id, page.access_token, now)
            # The connection doctor examines the Page now and every hour (a no-op when it does).
            await checkup.watch(conn, channel_id, now)
            await install_shop_assistant(conn, channel_id, now)
        log.info(
            "page connected",
            extra={"page_id": page.id, "page_name": page.name, "fields": list(WEBHOOK_FIELDS)},
        )
    return pages


def shop_assistant() -> str:
    """The shipped example bot's YAML (docs/rule-bot.md)."""
    return (resources.files("frontdesk.handlers") / "examples" / SHOP_ASSISTANT).read_text("utf-8")


async def install_shop_assistant(conn: AsyncConnection, channel_id: int, now: float) -> bool:
    """Give a channel that has no bot yet the shop assistant, link the channel to it and, unless
    its handoff settings were saved, give them the shop's message; a channel that has a bot
    keeps it, its link and its handoff settings, whatever they became since."""
    if await bots.of_channel(conn, channel_id) is not None:
        return False
    source = shop_assistant()
    found = botfile.load(source, "example")
    await botprofile.save(
        conn,
        channel_id,
        fmt="yaml",
        source=source,
        definition=found.data,
        now=now,
        note="The shipped shop assistant",
    )
    await botprofile.link(conn, channel_id, now)
    handoff = await handoff_settings.of_channel(conn, channel_id)
    if not handoff.saved:
        # The channel's words take "talk to a person" before the bot is asked (docs/inbox.md):
        # its own message is what the customer gets then.
        await handoff_settings.save(conn, replace(handoff, auto_reply=SHOP_HANDOFF_MESSAGE), now)
    return True


# --- two servers, one loop -------------------------------------------------------------------


class _Server(Server):
    """A uvicorn server that leaves the signals to `run`: it stops both servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise DemoError(f"cannot listen on {host}:{port}: {err.strerror}") from err
    return sock


def _server(app: Any, log_level: str) -> _Server:
    # log_config=None: uvicorn keeps the JSON handler frontdesk.logs installed on the root.
    config = uvicorn.Config(
        app, log_config=None, log_level=log_level, access_log=False, lifespan="on"
    )
    return _Server(config)


def run(
    settings: Settings,
    addresses: Addresses,
    *,
    server_log_level: str = "warning",
    out: TextIO = sys.stdout,
) -> int:
    """Migrate, serve both, connect the Page, print where everything is; 0 after Ctrl-C."""
    sockets: list[socket.socket] = []
    try:
        for port in (addresses.port, addresses.emulator_port):
            sockets.append(_listen(addresses.host, port))
    except DemoError as err:
        for sock in sockets:
            sock.close()
        print(f"frontdesk dev: {err}", file=sys.stderr)
        return 2
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the database and the world file
        upgrade(settings.database_url)
        world_file = settings.data_dir / "emulator.yaml"
        try:
            world = scenario.read(world_file) if world_file.exists() else None  # names the file
            try:
                meta = build_meta(world, base_url=addresses.emulator_url)
            except scenario.ScenarioError as err:
                raise scenario.ScenarioError(f"{world_file}: {err}") from err
        except scenario.ScenarioError as err:
            # A person decides what to do with a broken world file; nothing is overwritten.
            print(f"frontdesk dev: {err}", file=sys.stderr)
            return 2
        return asyncio.run(_serve(settings, addresses, sockets, meta, server_log_level, out))
    finally:
        for sock in sockets:
            sock.close()


async def _serve(
    settings: Settings,
    addresses: Addresses,
    sockets: list[socket.socket],
    meta: Meta,
    server_log_level: str,
    out: TextIO,
) -> int:
    world_file = settings.data_dir / "emulator.yaml"
    engine = create_engine(settings.database_url, checkpoint_thread=True)
    servers = [
        _server(create_app(settings, engine=engine, run_worker=True), server_log_level),
        _server(create_emulator_app(meta, save_to=world_file), server_log_level),
    ]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    def on_signal() -> None:
        if stopping.is_set():  # a second Ctrl-C: don't wait for open connections
            for server in servers:
                server.force_exit = True
        stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]), name=f"dev-server-{port}")
        for server, sock, port in zip(
            servers, sockets, (addresses.port, addresses.emulator_port), strict=True
        )
    ]
    stopped = asyncio.create_task(stopping.wait(), name="dev-stop")
    code = 0
    try:
        if await _started(servers, tasks, stopped):
            page = await _connect(settings, engine, stopped)
            if page is not None:
                _banner(out, settings, addresses, page)
                await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
                if not stopped.done():
                    raise DemoError("a server stopped on its own (see the log above)")
    except DemoError as err:
        print(f"frontdesk dev: {err}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stop()
        stopped.cancel()
        results = await asyncio.gather(*tasks, stopped, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    for result in results[:-1]:
        if isinstance(result, BaseException):
            log.error("a server failed", exc_info=result)
            code = code or 1
    if code == 0:
        print(f"Stopped. The emulator's world is saved in {world_file}", file=out, flush=True)
    return code


async def _started(
    servers: list[_Server], tasks: list[asyncio.Task[None]], stopped: asyncio.Task[Any]
) -> bool:
    """Wait until both servers listen: False if asked to stop first; a server that ends has
    failed to start."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not all(server.started for server in servers):
        if stopped.done():
            return False
        if any(task.done() for task in tasks):
            raise DemoError("a server did not start (see the log above)")
        if time.monotonic() > deadline:
            raise DemoError(f"the servers did not start within {STARTUP_SECONDS:g} s")
        await asyncio.wait([stopped, *tasks], timeout=0.02, return_when=asyncio.FIRST_COMPLETED)
    return True


async def _connect(
    settings: Settings, engine: AsyncEngine, stopped: asyncio.Task[Any]
) -> PageAccount | None:
    """Connect the demo Page, or None when asked to stop meanwhile."""
    async with httpx.AsyncClient(timeout=10) as http:
        connecting = asyncio.create_task(
            connect_page(http, settings, engine, time.time()), name="dev-connect"
        )
        await asyncio.wait(
            [connecting, stopped], timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            if stopped.done():
                return None
            raise DemoError(f"connecting the demo Page took over {CONNECT_SECONDS:g} s")
        try:
            return connecting.result()
        except (MessengerError, httpx.HTTPError) as err:
            raise DemoError(f"the demo Page could not be connected: {err}") from err


def _banner(out: TextIO, settings: Settings, addresses: Addresses, page: PageAccount) -> None:
    fd, emu = addresses.frontdesk_url, addresses.emulator_url
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    name = page.name or page.id
    lines = [
        f"Frontdesk on {fd}, wired to the Meta emulator on {emu}",
        f"  {name} ({page.id}) is connected: its webhooks go to {fd}/webhooks/messenger",
        f"  Console          {fd}/  (log in, or on the first visit create the owner)",
        f"  Messenger client {emu}/messenger  (write to {name} as a customer)",
        f"  Emulator console {emu}/console",
        f"  Readiness        {fd}/readyz",
        f"  Metrics          {fd}/metrics",
        f"  Database         {database}",
        "Ctrl-C stops both; the next start carries on with the same Page and conversations.",
    ]
    print("\n".join(lines), file=out, flush=True)
