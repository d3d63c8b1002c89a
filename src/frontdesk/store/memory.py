"""What conversations remember for their handlers: a handler's own state per conversation, and
the contact's fields and tags. Callers own the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    cast,
    delete,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handlers import Memory

from .prepared import Prepared
from .tables import contact_fields, contact_tags, conversations, handler_states

# Read before every turn of a bot, in one statement: built once, run by the driver. The state
# comes as its JSON text (a UNION's column has one type) and is read here.
_MEMORY = Prepared(
    union_all(
        select(
            literal_column("'state'").label("part"),
            null().label("name"),
            cast(handler_states.c.state, Text).label("value"),
        ).where(handler_states.c.conversation_id == bindparam("conversation_id")),
        select(literal_column("'field'"), contact_fields.c.name, contact_fields.c.value).where(
            contact_fields.c.contact_id == bindparam("contact_id")
        ),
        select(literal_column("'tag'"), contact_tags.c.tag, null()).where(
            contact_tags.c.contact_id == bindparam("contact_id")
        ),
    )
)


async def load(conn: AsyncConnection, conversation_id: int, contact_id: int) -> Memory:
    state: Any = None
    fields: dict[str, str] = {}
    tags: set[str] = set()
    for row in await _MEMORY.all(conn, conversation_id=conversation_id, contact_id=contact_id):
        if row.part == "state":
            state = json.loads(row.value)
        elif row.part == "field":
            fields[str(row.name)] = str(row.value)
        else:
            tags.add(str(row.name))
    return Memory(state=dict(state) if state else None, fields=fields, tags=frozenset(tags))


async def save_state(
    conn: AsyncConnection, conversation_id: int, state: Mapping[str, Any], now: float
) -> None:
    """Replace the handler's state; an empty one is forgotten."""
    if not state:
        await conn.execute(
            delete(handler_states).where(handler_states.c.conversation_id == conversation_id)
        )
        return
    changed = await conn.execute(
        update(handler_states)
        .where(handler_states.c.conversation_id == conversation_id)
        .values(state=dict(state), updated_at=now)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(handler_states).values(
                conversation_id=conversation_id, state=dict(state), updated_at=now
            )
        )


async def set_fields(
    conn: AsyncConnection, contact_id: int, fields: Mapping[str, str | None], now: float
) -> None:
    """Set each field; a None value removes it."""
    for name, value in fields.items():
        where = and_(contact_fields.c.contact_id == contact_id, contact_fields.c.name == name)
        if value is None:
            await conn.execute(delete(contact_fields).where(where))
            continue
        changed = await conn.execute(
            update(contact_fields).where(where).values(value=value, updated_at=now)
        )
        if changed.rowcount == 0:
            await conn.execute(
                insert(contact_fields).values(
                    contact_id=contact_id, name=name, value=value, updated_at=now
                )
            )


async def change_tags(
    conn: AsyncConnection,
    contact_id: int,
    add: frozenset[str],
    remove: frozenset[str],
    now: float,
) -> None:
    if remove:
        await conn.execute(
            delete(contact_tags).where(
                and_(contact_tags.c.contact_id == contact_id, contact_tags.c.tag.in_(remove))
            )
        )
    if add:
        present = set(
            (
                await conn.execute(
                    select(contact_tags.c.tag).where(
                        and_(contact_tags.c.contact_id == contact_id, contact_tags.c.tag.in_(add))
                    )
                )
            ).scalars()
        )
        rows = [{"contact_id": contact_id, "tag": tag, "created_at": now} for tag in add - present]
        if rows:
            await conn.execute(insert(contact_tags), rows)


async def resolve(conn: AsyncConnection, conversation_id: int) -> None:
    """Mark the conversation resolved (the inbox's status)."""
    await conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(status="resolved")
    )
