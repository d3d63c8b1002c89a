"""What a channel received and sent lately, as the console shows it: its last message in and
out, its recent contacts, one outgoing message's progress. Callers own the transaction.

Each read walks `ix_messages_channel_direction` backwards from the newest row, so it costs the
same however long a channel's history is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import Contact

from .tables import contacts, conversations, messages


@dataclass(frozen=True)
class Last:
    """A channel's newest message one way: when, what it said, its status."""

    at: float
    text: str | None
    status: str
    author: str


@dataclass(frozen=True)
class Activity:
    last_in: Last | None
    last_out: Last | None


async def _last(conn: AsyncConnection, channel_id: int, direction: str) -> Last | None:
    row = (
        await conn.execute(
            select(messages.c.created_at, messages.c.text, messages.c.status, messages.c.author)
            .where(messages.c.channel_id == channel_id, messages.c.direction == direction)
            .order_by(messages.c.created_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Last(float(row.created_at), row.text, str(row.status), str(row.author))


async def of_channel(conn: AsyncConnection, channel_id: int) -> Activity:
    return Activity(
        await _last(conn, channel_id, "inbound"), await _last(conn, channel_id, "outbound")
    )


async def of_channels(conn: AsyncConnection, channel_ids: list[int]) -> dict[int, Activity]:
    return {channel_id: await of_channel(conn, channel_id) for channel_id in channel_ids}


@dataclass(frozen=True)
class RecentContact:
    conversation_id: int
    name: str
    last_user_at: float


async def recent_contacts(
    conn: AsyncConnection, channel_id: int, since: float, limit: int = 10
) -> list[RecentContact]:
    """Contacts who wrote since `since` (inside the window, so a reply may go), newest first."""
    rows = await conn.execute(
        select(
            conversations.c.id,
            contacts.c.psid,
            contacts.c.name,
            contacts.c.last_user_at,
        )
        .join(conversations, conversations.c.contact_id == contacts.c.id)
        .where(
            contacts.c.channel_id == channel_id,
            contacts.c.last_user_at >= since,
            contacts.c.unreachable_reason.is_(None),
        )
        .order_by(contacts.c.last_user_at.desc())
        .limit(limit)
    )
    return [
        RecentContact(
            int(row.id),
            Contact(str(row.psid), row.name).display_name,
            float(row.last_user_at),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Outgoing:
    id: int
    conversation_id: int
    text: str | None
    status: str
    failure_reason: str | None
    created_at: float
    sent_at: float | None
    delivered_at: float | None
    read_at: float | None


async def outgoing(conn: AsyncConnection, channel_id: int, message_id: int) -> Outgoing | None:
    """One outgoing message of the channel (None for another channel's: the caller has already
    checked that the channel is the person's)."""
    row = (
        await conn.execute(
            select(
                messages.c.id,
                messages.c.conversation_id,
                messages.c.text,
                messages.c.status,
                messages.c.failure_reason,
                messages.c.created_at,
                messages.c.sent_at,
                messages.c.delivered_at,
                messages.c.read_at,
            ).where(
                messages.c.id == message_id,
                messages.c.channel_id == channel_id,
                messages.c.direction == "outbound",
            )
        )
    ).first()
    if row is None:
        return None
    return Outgoing(
        int(row.id),
        int(row.conversation_id),
        row.text,
        str(row.status),
        row.failure_reason,
        float(row.created_at),
        row.sent_at,
        row.delivered_at,
        row.read_at,
    )


async def conversation_of_channel(
    conn: AsyncConnection, channel_id: int, conversation_id: int
) -> bool:
    found = (
        await conn.execute(
            select(conversations.c.id).where(
                conversations.c.id == conversation_id, conversations.c.channel_id == channel_id
            )
        )
    ).first()
    return found is not None
