"""The Meta app a workspace connects its Pages through: the operator's, or its own. Callers own
the transaction.

The app secret and the verify token are stored encrypted (`Secrets`). The secret is never
returned to be shown, only whether it is set; the verify token is returned, because the admin
has to paste it into Meta's App Dashboard.
"""

from __future__ import annotations

import secrets as random
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .secrets import Secrets
from .tables import meta_apps


@dataclass(frozen=True)
class MetaApp:
    """An app as the Graph calls need it: plain values, held in memory only."""

    app_id: str
    app_secret: str
    verify_token: str
    graph_url: str
    graph_version: str

    @property
    def is_complete(self) -> bool:
        """An id and a secret: enough to log people in and check webhook signatures."""
        return bool(self.app_id and self.app_secret)


@dataclass(frozen=True)
class OwnApp:
    """A workspace's own app as the settings page shows it."""

    in_use: bool
    app_id: str
    secret_is_set: bool
    verify_token: str
    graph_url: str
    graph_version: str


def new_verify_token() -> str:
    return random.token_urlsafe(24)


async def own_app(conn: AsyncConnection, keys: Secrets, workspace_id: int) -> OwnApp | None:
    row = (
        await conn.execute(select(meta_apps).where(meta_apps.c.workspace_id == workspace_id))
    ).first()
    if row is None:
        return None
    return OwnApp(
        bool(row.in_use),
        str(row.app_id),
        row.app_secret is not None,
        keys.decrypt(row.verify_token),
        str(row.graph_url),
        str(row.graph_version),
    )


async def save_own_app(
    conn: AsyncConnection,
    keys: Secrets,
    workspace_id: int,
    now: float,
    *,
    in_use: bool,
    app_id: str,
    app_secret: str | None,
    graph_url: str,
    graph_version: str,
) -> None:
    """Create or change the workspace's own app. `app_secret` None keeps the stored one; the
    verify token is made on creation and changed only by `regenerate_verify_token`."""
    values: dict[str, object] = {
        "in_use": in_use,
        "app_id": app_id,
        "graph_url": graph_url,
        "graph_version": graph_version,
        "updated_at": now,
    }
    if app_secret is not None:
        values["app_secret"] = keys.encrypt(app_secret)
    changed = await conn.execute(
        update(meta_apps).where(meta_apps.c.workspace_id == workspace_id).values(**values)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(meta_apps).values(
                workspace_id=workspace_id,
                verify_token=keys.encrypt(new_verify_token()),
                **values,
            )
        )


async def regenerate_verify_token(
    conn: AsyncConnection, keys: Secrets, workspace_id: int, now: float
) -> str | None:
    """A fresh verify token for the workspace's own app; None when it has none."""
    token = new_verify_token()
    changed = await conn.execute(
        update(meta_apps)
        .where(meta_apps.c.workspace_id == workspace_id)
        .values(verify_token=keys.encrypt(token), updated_at=now)
    )
    return token if changed.rowcount == 1 else None


async def app_for_workspace(
    conn: AsyncConnection, keys: Secrets, workspace_id: int, operator: MetaApp
) -> MetaApp:
    """The app the workspace's Pages connect through: its own when in use, else the operator's."""
    row = (
        await conn.execute(
            select(meta_apps).where(
                meta_apps.c.workspace_id == workspace_id, meta_apps.c.in_use.is_(True)
            )
        )
    ).first()
    if row is None:
        return operator
    return MetaApp(
        str(row.app_id),
        "" if row.app_secret is None else keys.decrypt(row.app_secret),
        keys.decrypt(row.verify_token),
        str(row.graph_url),
        str(row.graph_version),
    )
