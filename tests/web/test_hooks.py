"""A channel's own Callback URL (`/webhooks/messenger/{key}`): its verify token answers Meta's
GET, its app secret alone makes a POST believed, only its app's Pages are routed from it, and
malformed, oversized or hostile requests are refused before anything is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.app import create_app
from frontdesk.messenger import sign
from frontdesk.settings import Settings
from frontdesk.store import accounts, hooks, removal
from frontdesk.store import conversations as store
from frontdesk.store.hooks import Hook
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channel_hooks, channels, jobs, webhook_bodies

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0
SECRET = "own-app-secret-0123456789"
OWN_APP = "555000111"
OWN_PAGE = "104857600012345"
SIBLING_PAGE = "104857600077777"
OTHER_PAGE = "104857600099999"
KEY = Fernet.generate_key().decode()


@pytest.fixture
async def client(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(KEY,),
        meta_app_id="900100200300400",
        meta_app_secret="operator-secret-0123456789",
        meta_verify_token="operator-verify",
        max_body_bytes=4096,
    )
    app = create_app(settings, engine=engine, clock=lambda: NOW, run_worker=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as c:
        yield c


async def channel_with_hook(
    engine: AsyncEngine, workspace: str, page: str, *, app_id: str | None = OWN_APP
) -> Hook:
    """A workspace's manual channel of `page` (or, with `app_id` None, a setup not yet done)."""
    keys = Secrets((KEY,))
    async with engine.begin() as conn:
        found = await accounts.workspace_named(conn, workspace)
        owner = found or await accounts.create_workspace(conn, workspace, NOW)
        hook = await hooks.create(conn, keys, owner.id, "https://graph.facebook.com", "v25.0", NOW)
        if app_id is not None:
            channel_id = await store.add_channel(conn, page, f"Page {page}", NOW)
            await conn.execute(
                update(channels).where(channels.c.id == channel_id).values(workspace_id=owner.id)
            )
            await hooks.attach(conn, keys, hook.id, channel_id, app_id, SECRET)
        reread = await hooks.by_id(conn, keys, hook.id)
    assert reread is not None
    return reread


def body_for(*pages: str) -> bytes:
    entries = [
        {
            "id": page,
            "time": 1,
            "messaging": [
                {
                    "sender": {"id": "7300000000000001"},
                    "recipient": {"id": page},
                    "timestamp": 1_795_000_000_000,
                    "message": {"mid": f"m_{page}", "text": "Olá"},
                }
            ],
        }
        for page in pages
    ]
    return json.dumps({"object": "page", "entry": entries}).encode()


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def verified_at(engine: AsyncEngine, hook_id: int) -> float | None:
    async with engine.connect() as conn:
        query = select(channel_hooks.c.verified_at).where(channel_hooks.c.id == hook_id)
        value = (await conn.execute(query)).scalar()
    return None if value is None else float(value)


async def test_the_verification_get_uses_the_channels_own_token(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE, app_id=None)
    url = f"/webhooks/messenger/{hook.key}"
    asked = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    for token in ("operator-verify", "", hook.verify_token + "x", hook.verify_token.upper()):
        answer = await client.get(url, params={**asked, "hub.verify_token": token})
        assert answer.status_code == 403, token
    assert await verified_at(engine, hook.id) is None
    answer = await client.get(url, params={**asked, "hub.verify_token": hook.verify_token})
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert await verified_at(engine, hook.id) == NOW
    # The app-wide URL still knows only the operator's token.
    wide = await client.get(
        "/webhooks/messenger", params={**asked, "hub.verify_token": hook.verify_token}
    )
    assert wide.status_code == 403


async def test_nothing_is_believed_before_the_secret_is_known(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE, app_id=None)
    body = body_for(OWN_PAGE)
    answer = await client.post(
        f"/webhooks/messenger/{hook.key}",
        content=body,
        headers={"x-hub-signature-256": sign(body, SECRET)},
    )
    assert answer.status_code == 403
    assert await count(engine, webhook_bodies) == 0


async def test_a_signed_delivery_is_stored_routed_and_counts_as_verification(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE)
    body = body_for(OWN_PAGE)
    answer = await client.post(
        f"/webhooks/messenger/{hook.key}",
        content=body,
        headers={"x-hub-signature-256": sign(body, SECRET)},
    )
    assert (answer.status_code, answer.text) == (200, "EVENT_RECEIVED")
    assert await count(engine, jobs) == 1
    assert await verified_at(engine, hook.id) == NOW


async def test_only_the_pages_of_the_channels_app_are_routed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE)
    await channel_with_hook(engine, "Lisbon", SIBLING_PAGE)  # same app, another Page
    await channel_with_hook(engine, "Theirs", OTHER_PAGE)  # another workspace's
    body = body_for(OWN_PAGE, SIBLING_PAGE, OTHER_PAGE)
    answer = await client.post(
        f"/webhooks/messenger/{hook.key}",
        content=body,
        headers={"x-hub-signature-256": sign(body, SECRET)},
    )
    assert answer.status_code == 200
    async with engine.connect() as conn:
        routed = sorted(
            r.page
            for r in await conn.execute(select(jobs.c.payload["page_id"].as_string().label("page")))
        )
        note = (await conn.execute(select(webhook_bodies.c.state, webhook_bodies.c.note))).one()
    assert routed == [OWN_PAGE, SIBLING_PAGE]
    assert tuple(note) == (
        "partly_unknown",
        f"no channel for Page {OTHER_PAGE} at this channel's callback URL",
    )


async def test_a_removed_channels_app_speaks_no_more_for_its_page(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Lisbon removed its channel (history kept) and Theirs connected the Page since: Lisbon's
    own app, whose secret Lisbon holds, must not put events into Theirs's channel."""
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE)
    async with engine.begin() as conn:
        await removal.mark_removed(conn, hook_channel(hook), "Removed", NOW)
    await channel_with_hook(engine, "Theirs", OWN_PAGE, app_id="555000222")
    body = body_for(OWN_PAGE)
    answer = await client.post(
        f"/webhooks/messenger/{hook.key}",
        content=body,
        headers={"x-hub-signature-256": sign(body, SECRET)},
    )
    assert answer.status_code == 200
    assert await count(engine, jobs) == 0
    async with engine.connect() as conn:
        note = (await conn.execute(select(webhook_bodies.c.state, webhook_bodies.c.note))).one()
    assert tuple(note) == (
        "unknown_page",
        f"no channel for Page {OWN_PAGE} at this channel's callback URL",
    )


def hook_channel(hook: Hook) -> int:
    assert hook.channel_id is not None
    return hook.channel_id


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("A" * 32, 404),  # the shape of a key, but nobody's
        ("short", 404),
        ("x" * 65, 404),
        ("%3Cscript%3E" + "a" * 20, 404),
        ("..%2F..%2Fhealthz" + "a" * 20, 404),
    ],
)
async def test_keys_that_are_not_ours_are_not_found(
    client: httpx.AsyncClient, engine: AsyncEngine, key: str, status: int
) -> None:
    await channel_with_hook(engine, "Lisbon", OWN_PAGE)
    body = body_for(OWN_PAGE)
    signed = {"x-hub-signature-256": sign(body, SECRET)}
    assert (
        await client.post(f"/webhooks/messenger/{key}", content=body, headers=signed)
    ).status_code == status
    asked = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "x"}
    assert (await client.get(f"/webhooks/messenger/{key}", params=asked)).status_code == status
    assert await count(engine, webhook_bodies) == 0


async def test_forged_oversized_and_malformed_deliveries(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hook = await channel_with_hook(engine, "Lisbon", OWN_PAGE)
    theirs = await channel_with_hook(engine, "Theirs", OTHER_PAGE)
    url = f"/webhooks/messenger/{hook.key}"
    body = body_for(OWN_PAGE)
    # Signed with the operator's secret, or none, or garbage: refused.
    for header in (
        sign(body, "operator-secret-0123456789"),
        "",
        "sha256=" + "0" * 64,
        "sha256=<script>",
        "sha1=" + "0" * 40,
    ):
        answer = await client.post(url, content=body, headers={"x-hub-signature-256": header})
        assert answer.status_code == 403, header
    # Their Page's event at their URL, signed with a secret someone else chose: refused there.
    forged = body_for(OTHER_PAGE)
    answer = await client.post(
        f"/webhooks/messenger/{theirs.key}",
        content=forged,
        headers={"x-hub-signature-256": sign(forged, "a-secret-i-chose-myself")},
    )
    assert answer.status_code == 403
    # Over the size limit, whatever it claims.
    huge = b'{"object":"page","entry":[' + b" " * 5000 + b"]}"
    answer = await client.post(
        url, content=huge, headers={"x-hub-signature-256": sign(huge, SECRET)}
    )
    assert answer.status_code == 413
    assert await count(engine, webhook_bodies) == 0
    # Signed but not JSON: kept as malformed, answered 200 (Meta must not retry it forever).
    junk = b"\x00\xff not json {"
    answer = await client.post(
        url, content=junk, headers={"x-hub-signature-256": sign(junk, SECRET)}
    )
    assert answer.status_code == 200
    async with engine.connect() as conn:
        assert (await conn.execute(select(webhook_bodies.c.state))).scalar() == "malformed"
    assert await count(engine, jobs) == 0
