"""A channel's own webhook (manual setup): its key, verify token, app and secret, and whether Meta
verified it. Callers own the transaction.

The key is the last part of the Callback URL (`/webhooks/messenger/{key}`): random, so the URL
of one workspace's channel cannot be guessed from another's. The verify token and the app secret
are stored encrypted; the secret is never returned to be shown, only whether it is set.
"""

from __future__ import annotations

import re
import secrets as random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .channels import REMOVED
from .meta_apps import MetaApp
from .secrets import SecretError, Secrets
from .tables import channel_hooks, channels

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
"""What a key looks like; anything else in the URL is not looked up."""
MANUAL = "manual"
LOGIN = "login"


@dataclass(frozen=True)
class Hook:
    id: int
    key: str
    via: str
    """MANUAL (pasted by an admin) or LOGIN (Manage Pages with the workspace's own app)."""
    workspace_id: int
    channel_id: int | None
    verify_token: str = field(repr=False)
    app_id: str | None
    secret_is_set: bool
    graph_url: str
    graph_version: str
    verified_at: float | None
    created_at: float


@dataclass(frozen=True)
class Receiving:
    """What the webhook route needs to accept a delivery at one key."""

    hook_id: int
    verify_token: str = field(repr=False)
    app_secret: str | None = field(repr=False)
    """None until the Page is connected (or when it cannot be opened): nothing is believed."""
    pages: frozenset[str]
    """The Pages whose events are accepted here: the hook's own, and those of the workspace's
    other manual channels through the same Meta app (an app has one Callback URL for all its
    Pages, so their events may come to any of their channels' URLs)."""
    verified_at: float | None


def new_key() -> str:
    return random.token_urlsafe(24)


def new_verify_token() -> str:
    return random.token_urlsafe(24)


def _hook(keys: Secrets, row: Any) -> Hook:
    return Hook(
        id=int(row.id),
        key=str(row.key),
        via=str(row.via),
        workspace_id=int(row.workspace_id),
        channel_id=row.channel_id,
        verify_token=keys.decrypt(row.verify_token),
        app_id=row.app_id,
        secret_is_set=row.app_secret is not None,
        graph_url=str(row.graph_url),
        graph_version=str(row.graph_version),
        verified_at=row.verified_at,
        created_at=float(row.created_at),
    )


def _open(keys: Secrets, sealed: bytes | None) -> str | None:
    """A stored secret, or None when there is none or it cannot be opened (the key that sealed
    it is gone): then nothing is verified with it, and the channel's doctor says why."""
    if sealed is None:
        return None
    try:
        return keys.decrypt(sealed)
    except SecretError:
        return None


async def create(
    conn: AsyncConnection,
    keys: Secrets,
    workspace_id: int,
    graph_url: str,
    graph_version: str,
    now: float,
    *,
    via: str = MANUAL,
    app_id: str | None = None,
    app_secret: str | None = None,
) -> Hook:
    """A new hook with a fresh key and verify token, not yet tied to a channel."""
    key = new_key()
    hook_id = (
        await conn.execute(
            insert(channel_hooks)
            .values(
                key=key,
                via=via,
                workspace_id=workspace_id,
                verify_token=keys.encrypt(new_verify_token()),
                app_id=app_id,
                app_secret=None if app_secret is None else keys.encrypt(app_secret),
                graph_url=graph_url,
                graph_version=graph_version,
                created_at=now,
            )
            .returning(channel_hooks.c.id)
        )
    ).scalar_one()
    found = await by_id(conn, keys, int(hook_id))
    if found is None:
        raise LookupError(f"hook {hook_id} vanished in its own transaction")
    return found


async def by_id(conn: AsyncConnection, keys: Secrets, hook_id: int) -> Hook | None:
    """Any workspace's hook: callers check the workspace (web.access)."""
    row = (await conn.execute(select(channel_hooks).where(channel_hooks.c.id == hook_id))).first()
    return None if row is None else _hook(keys, row)


async def of_channel(conn: AsyncConnection, keys: Secrets, channel_id: int) -> Hook | None:
    row = (
        await conn.execute(select(channel_hooks).where(channel_hooks.c.channel_id == channel_id))
    ).first()
    return None if row is None else _hook(keys, row)


async def drafts(conn: AsyncConnection, keys: Secrets, workspace_id: int) -> list[Hook]:
    """The workspace's manual setups that have no channel yet, oldest first."""
    rows = await conn.execute(
        select(channel_hooks)
        .where(
            channel_hooks.c.workspace_id == workspace_id,
            channel_hooks.c.channel_id.is_(None),
            channel_hooks.c.via == MANUAL,
        )
        .order_by(channel_hooks.c.id)
    )
    return [_hook(keys, row) for row in rows]


@dataclass(frozen=True)
class Own:
    """How a channel with its own webhook was connected, and whether Meta verified the URL."""

    via: str
    verified: bool


async def of_workspace(conn: AsyncConnection, workspace_id: int) -> dict[int, Own]:
    """Channel id → its own webhook's facts, for the workspace's channels that have one."""
    rows = await conn.execute(
        select(channel_hooks.c.channel_id, channel_hooks.c.via, channel_hooks.c.verified_at).where(
            channel_hooks.c.workspace_id == workspace_id,
            channel_hooks.c.channel_id.is_not(None),
        )
    )
    return {int(row.channel_id): Own(str(row.via), row.verified_at is not None) for row in rows}


async def urls_of_app(conn: AsyncConnection, workspace_id: int, app_id: str) -> list[str]:
    """The keys of the workspace's connected channels through `app_id`: any of their URLs may
    be the app's Callback URL (it has one for all its Pages)."""
    rows = await conn.execute(
        select(channel_hooks.c.key).where(
            channel_hooks.c.workspace_id == workspace_id,
            channel_hooks.c.app_id == app_id,
            channel_hooks.c.channel_id.is_not(None),
        )
    )
    return [str(row.key) for row in rows]


async def receiving(conn: AsyncConnection, keys: Secrets, key: str) -> Receiving | None:
    """The hook at `key` as the webhook route needs it; None for a key that is not ours."""
    if not KEY_PATTERN.fullmatch(key):
        return None
    row = (
        await conn.execute(
            select(
                channel_hooks.c.id,
                channel_hooks.c.workspace_id,
                channel_hooks.c.verify_token,
                channel_hooks.c.app_id,
                channel_hooks.c.app_secret,
                channel_hooks.c.verified_at,
            ).where(channel_hooks.c.key == key)
        )
    ).first()
    if row is None:
        return None
    pages: frozenset[str] = frozenset()
    if row.app_id is not None:
        found = await conn.execute(
            select(channels.c.page_id)
            .join(channel_hooks, channel_hooks.c.channel_id == channels.c.id)
            .where(
                channel_hooks.c.workspace_id == row.workspace_id,
                channel_hooks.c.app_id == row.app_id,
                # A removed channel's Page may be another workspace's now: the app of the
                # workspace that removed it speaks for it no more.
                channels.c.status != REMOVED,
            )
        )
        pages = frozenset(str(r.page_id) for r in found)
    return Receiving(
        int(row.id),
        _open(keys, row.verify_token) or "",
        _open(keys, row.app_secret),
        pages,
        row.verified_at,
    )


async def mark_verified(conn: AsyncConnection, hook_id: int, now: float) -> None:
    await conn.execute(
        update(channel_hooks).where(channel_hooks.c.id == hook_id).values(verified_at=now)
    )


async def attach(
    conn: AsyncConnection,
    keys: Secrets,
    hook_id: int,
    channel_id: int,
    app_id: str,
    app_secret: str | None,
) -> None:
    """Tie the hook to its channel and app; `app_secret` None keeps the stored one."""
    values: dict[str, object] = {"channel_id": channel_id, "app_id": app_id}
    if app_secret is not None:
        values["app_secret"] = keys.encrypt(app_secret)
    await conn.execute(update(channel_hooks).where(channel_hooks.c.id == hook_id).values(**values))


async def stored_secret(conn: AsyncConnection, keys: Secrets, hook_id: int) -> str | None:
    """The hook's app secret, to check a reconnect with (never shown); None when unset."""
    sealed = (
        await conn.execute(select(channel_hooks.c.app_secret).where(channel_hooks.c.id == hook_id))
    ).scalar()
    return None if sealed is None else keys.decrypt(sealed)


async def discard(conn: AsyncConnection, hook_id: int) -> None:
    await conn.execute(delete(channel_hooks).where(channel_hooks.c.id == hook_id))


async def channel_app(
    conn: AsyncConnection, keys: Secrets, channel_id: int
) -> tuple[MetaApp, str] | None:
    """A manual channel's Meta app (its own, not the workspace's) and the key of the URL its
    webhook should point at; None for a channel connected through Facebook Login.

    That URL is the channel's own, unless a sibling (a manual channel of the same workspace and
    app) was verified later: an app has one Callback URL for all its Pages, and Meta verifies
    the URL it was last given.
    """
    row = (
        await conn.execute(select(channel_hooks).where(channel_hooks.c.channel_id == channel_id))
    ).first()
    if row is None:
        return None
    key = str(row.key)
    if row.app_id is not None:
        latest = (
            await conn.execute(
                select(channel_hooks.c.key, channel_hooks.c.verified_at)
                .where(
                    channel_hooks.c.workspace_id == row.workspace_id,
                    channel_hooks.c.app_id == row.app_id,
                    channel_hooks.c.channel_id.is_not(None),
                    channel_hooks.c.verified_at.is_not(None),
                )
                .order_by(channel_hooks.c.verified_at.desc(), channel_hooks.c.id.desc())
                .limit(1)
            )
        ).first()
        if latest is not None and (row.verified_at is None or latest.verified_at > row.verified_at):
            key = str(latest.key)
    app = MetaApp(
        str(row.app_id or ""),
        _open(keys, row.app_secret) or "",
        _open(keys, row.verify_token) or "",
        str(row.graph_url),
        str(row.graph_version),
    )
    return app, key


async def app_id_of(conn: AsyncConnection, channel_id: int) -> str | None:
    """The Meta app a channel was connected through, when it is its own (a manual setup, or a
    workspace's own app); None for the operator's app."""
    found = await conn.execute(
        select(channel_hooks.c.app_id).where(channel_hooks.c.channel_id == channel_id)
    )
    app_id = found.scalar()
    return None if app_id is None else str(app_id)
