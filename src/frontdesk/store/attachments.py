"""What became of a stored message's attachments: the local copy (`stored`) or why not (`failed`).

A message's `attachments` column is a JSON list with one object per attachment as received
(`type`, `url`, …). Once downloaded, an object gains `"stored": {"sha256", "size",
"content_type", "name"}` (the file is in `store.media`); when it cannot be, `"failed"` says why
in plain words. Callers own the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import changes
from .tables import messages

STORED = "stored"
FAILED = "failed"


async def of_message(
    conn: AsyncConnection, message_id: int, *, lock: bool = False
) -> list[Any] | None:
    """The message's attachments (objects copied), or None when it has none or is gone. With
    `lock`, the row stays locked (PostgreSQL) until the transaction ends."""
    query = select(messages.c.attachments).where(messages.c.id == message_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    value = (await conn.execute(query)).scalar_one_or_none()
    if not isinstance(value, list):
        return None
    return [dict(item) if isinstance(item, dict) else item for item in value]


def settled(item: dict[str, Any]) -> bool:
    """Downloaded, or given up on."""
    return STORED in item or FAILED in item


async def record(
    conn: AsyncConnection, message_id: int, index: int, outcome: dict[str, Any]
) -> bool:
    """Add `outcome` (`{"stored": …}` or `{"failed": "…"}`) to attachment `index`; False when
    the message or that attachment no longer exists."""
    items = await of_message(conn, message_id, lock=True)
    if items is None or not 0 <= index < len(items) or not isinstance(items[index], dict):
        return False
    items[index] = {**items[index], **outcome}
    where = (
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(attachments=items)
            .returning(messages.c.channel_id, messages.c.conversation_id)
        )
    ).one()
    await changes.note(
        conn,
        int(where.channel_id),
        int(where.conversation_id),
        changes.MESSAGE,
        message_id=message_id,
    )
    return True
