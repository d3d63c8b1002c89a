"""A workspace's canned responses: answers agents insert by typing `/shortcut`. Callers own the
transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import canned_responses

SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,29}")
"""Lowercase letters, digits, `-` and `_`; what follows the `/`."""
TEXT_LIMIT = 1999
"""Sent as a message: Meta takes text under 2000 characters."""


@dataclass(frozen=True)
class Canned:
    id: int
    workspace_id: int
    shortcut: str
    text: str


def _canned(row: Any) -> Canned:
    return Canned(int(row.id), int(row.workspace_id), str(row.shortcut), str(row.text))


async def of_workspace(conn: AsyncConnection, workspace_id: int) -> list[Canned]:
    rows = await conn.execute(
        select(canned_responses)
        .where(canned_responses.c.workspace_id == workspace_id)
        .order_by(canned_responses.c.shortcut)
    )
    return [_canned(row) for row in rows]


async def by_id(conn: AsyncConnection, canned_id: int) -> Canned | None:
    row = (
        await conn.execute(select(canned_responses).where(canned_responses.c.id == canned_id))
    ).first()
    return None if row is None else _canned(row)


async def by_shortcut(conn: AsyncConnection, workspace_id: int, shortcut: str) -> Canned | None:
    row = (
        await conn.execute(
            select(canned_responses).where(
                canned_responses.c.workspace_id == workspace_id,
                canned_responses.c.shortcut == shortcut,
            )
        )
    ).first()
    return None if row is None else _canned(row)


async def save(
    conn: AsyncConnection, workspace_id: int, shortcut: str, text: str, now: float
) -> Canned:
    """Add a canned response, or replace the text of the one with this shortcut."""
    if not SHORTCUT.fullmatch(shortcut):
        raise ValueError("a shortcut is 1-30 lowercase letters, digits, - or _")
    if not text.strip() or len(text) > TEXT_LIMIT:
        raise ValueError(f"a canned response has text, under {TEXT_LIMIT + 1} characters")
    found = await by_shortcut(conn, workspace_id, shortcut)
    if found is not None:
        await conn.execute(
            update(canned_responses)
            .where(canned_responses.c.id == found.id)
            .values(text=text, updated_at=now)
        )
        return Canned(found.id, workspace_id, shortcut, text)
    made = await conn.execute(
        insert(canned_responses)
        .values(
            workspace_id=workspace_id, shortcut=shortcut, text=text, created_at=now, updated_at=now
        )
        .returning(canned_responses.c.id)
    )
    return Canned(int(made.scalar_one()), workspace_id, shortcut, text)


async def remove(conn: AsyncConnection, canned_id: int) -> None:
    await conn.execute(delete(canned_responses).where(canned_responses.c.id == canned_id))
