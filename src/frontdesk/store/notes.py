"""What a conversation's transcript holds beside its messages: agents' private notes (never
sent) and system entries (who took it, why it waits for a person). Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import changes
from .tables import conversations, notes

NOTE = "note"
SYSTEM = "system"
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
    """Add a note (`NOTE`, by a person) or a system entry (`SYSTEM`); returns its id."""
    if kind not in (NOTE, SYSTEM):
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
