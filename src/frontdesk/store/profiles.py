"""Contacts' profiles: whether one is due for a look, and what Meta said. Callers own the
transaction.

`profile_checked_at` is when Frontdesk last asked Meta, whatever the answer: a profile Meta
refuses is not asked for again until it is stale. `name` and `locale` are only ever what Meta
gave (never invented); `profile_pic` is a `media:<sha256>` reference to the local copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import changes
from .prepared import Prepared
from .tables import channels, contacts, conversations

NAME_LIMIT = 200
LOCALE_LIMIT = 20


@dataclass(frozen=True)
class Asking:
    """What asking Meta for one contact's profile takes. `page_token` is encrypted."""

    contact_id: int
    psid: str
    channel_id: int
    channel_status: str
    page_token: bytes | None
    checked_at: float | None


_DUE = Prepared(
    select(contacts.c.id).where(
        and_(
            contacts.c.id == bindparam("contact_id"),
            or_(
                contacts.c.profile_checked_at.is_(None),
                contacts.c.profile_checked_at < bindparam("stale_before"),
            ),
        )
    )
)
"""Built once and run by the driver: asked for every message a person sends."""


async def due(conn: AsyncConnection, contact_id: int, stale_before: float) -> bool:
    """Never asked, or last asked before `stale_before`."""
    return await _DUE.first(conn, contact_id=contact_id, stale_before=stale_before) is not None


async def asking(conn: AsyncConnection, contact_id: int) -> Asking | None:
    row = (
        await conn.execute(
            select(
                contacts.c.psid,
                contacts.c.profile_checked_at,
                channels.c.id,
                channels.c.status,
                channels.c.page_token,
            )
            .join(channels, channels.c.id == contacts.c.channel_id)
            .where(contacts.c.id == contact_id)
        )
    ).first()
    if row is None:
        return None
    return Asking(
        contact_id=contact_id,
        psid=str(row.psid),
        channel_id=int(row.id),
        channel_status=str(row.status),
        page_token=row.page_token,
        checked_at=row.profile_checked_at,
    )


async def record(
    conn: AsyncConnection,
    contact_id: int,
    now: float,
    *,
    name: str | None = None,
    locale: str | None = None,
    picture: str | None = None,
) -> None:
    """Meta was asked at `now`; store what it gave. A value it did not give (None) leaves the
    one known before: a name once known stays rather than turning back into "Messenger user"."""
    values: dict[str, object] = {"profile_checked_at": now}
    name = name.strip() if name else None
    if name:
        values["name"] = name[:NAME_LIMIT]
    if locale and len(locale) <= LOCALE_LIMIT:  # a longer one is no locale Meta knows
        values["locale"] = locale
    if picture:
        values["profile_pic"] = picture
    await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
    if len(values) > 1:  # a name, a locale or a picture: the inbox shows the contact anew
        found = (
            await conn.execute(
                select(conversations.c.id, conversations.c.channel_id).where(
                    conversations.c.contact_id == contact_id
                )
            )
        ).first()
        if found is not None:
            await changes.note(conn, int(found.channel_id), int(found.id), changes.CONVERSATION)
