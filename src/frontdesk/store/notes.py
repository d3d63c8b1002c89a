"""What a conversation's transcript holds beside its messages: agents' private notes (never
sent), system entries (who took it, why it waits for a person) and where the customer came from
(an m.me link, an ad). Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import changes
from .tables import conversations, notes

NOTE = "note"
SYSTEM = "system"
REFERRAL = "referral"
KINDS = (NOTE, SYSTEM, REFERRAL)
TEXT_LIMIT = 5000


async def add(
    conn: AsyncConnection,
    conversation_id: int,
    kind: str,
    text: str,
    now: float,
    *,
    user_id: int | None = None,
    user_name: str | None = None,
) -> int:
    """Add a note (`NOTE`, by a person), a system entry (`SYSTEM`) or where the customer came
    from (`REFERRAL`); returns its id."""
    if kind not in KINDS:
        raise ValueError(f"no note kind {kind!r}")
    if not text.strip() or len(text) > TEXT_LIMIT:
        raise ValueError(f"a note has text, at most {TEXT_LIMIT} characters")
    note_id = int(
        (
            await conn.execute(
                insert(notes)
                .values(
                    conversation_id=conversation_id,
                    kind=kind,
                    text=text,
                    user_id=user_id,
                    user_name=user_name,
                    created_at=now,
                )
                .returning(notes.c.id)
            )
        ).scalar_one()
    )
    channel_id = (
        await conn.execute(
            select(conversations.c.channel_id).where(conversations.c.id == conversation_id)
        )
    ).scalar_one()
    await changes.note(conn, int(channel_id), conversation_id, changes.NOTE, note_id=note_id)
    return note_id


async def latest(conn: AsyncConnection, conversation_id: int, kind: str) -> str | None:
    """The text of the conversation's newest entry of `kind`, if any."""
    found = await conn.execute(
        select(notes.c.text)
        .where(notes.c.conversation_id == conversation_id, notes.c.kind == kind)
        .order_by(notes.c.id.desc())
        .limit(1)
    )
    value = found.scalar()
    return None if value is None else str(value)
