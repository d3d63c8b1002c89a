"""Rule bots: one per channel, every save a numbered version; linking a channel to its bot.
Callers own the transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .prepared import Prepared
from .tables import bot_versions, bots, channels


@dataclass(frozen=True)
class BotRecord:
    id: int
    channel_id: int
    name: str
    version_id: int | None
    profile_pushed: dict[str, Any] | None
    profile_status: str | None
    profile_error: str | None
    updated_at: float


@dataclass(frozen=True)
class Version:
    id: int
    bot_id: int
    number: int
    format: str
    source: str
    definition: dict[str, Any]
    digest: str
    note: str | None
    author_id: int | None
    created_at: float


def digest(definition: Any) -> str:
    """The definition's SHA-256 over canonical JSON: equal bots, equal digests."""
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _record(row: Any) -> BotRecord:
    return BotRecord(
        int(row.id),
        int(row.channel_id),
        str(row.name),
        row.version_id,
        row.profile_pushed,
        row.profile_status,
        row.profile_error,
        float(row.updated_at),
    )


def _version(row: Any) -> Version:
    return Version(
        int(row.id),
        int(row.bot_id),
        int(row.number),
        str(row.format),
        str(row.source),
        dict(row.definition),
        str(row.digest),
        row.note,
        row.author_id,
        float(row.created_at),
    )


async def of_channel(conn: AsyncConnection, channel_id: int) -> BotRecord | None:
    row = (await conn.execute(select(bots).where(bots.c.channel_id == channel_id))).first()
    return None if row is None else _record(row)


async def create(conn: AsyncConnection, channel_id: int, name: str, now: float) -> BotRecord:
    """The channel's bot, with no version yet. A channel has one bot (unique channel_id)."""
    await conn.execute(
        insert(bots).values(channel_id=channel_id, name=name[:100], created_at=now, updated_at=now)
    )
    found = await of_channel(conn, channel_id)
    if found is None:
        raise LookupError(f"the bot of channel {channel_id} was not stored")
    return found


async def save_version(
    conn: AsyncConnection,
    bot_id: int,
    *,
    fmt: str,
    source: str,
    definition: dict[str, Any],
    now: float,
    note: str | None = None,
    author_id: int | None = None,
) -> Version:
    """Store a new version (the next number) and make it the bot's current one. The caller
    has checked `definition` (`core.rules.build`); the bot's name follows the definition's."""
    # The bot's row is locked first, so two saves at once number their versions one by one.
    await conn.execute(update(bots).where(bots.c.id == bot_id).values(updated_at=now))
    last = (
        await conn.execute(
            select(func.max(bot_versions.c.number)).where(bot_versions.c.bot_id == bot_id)
        )
    ).scalar()
    number = int(last or 0) + 1
    version_id = (
        await conn.execute(
            insert(bot_versions)
            .values(
                bot_id=bot_id,
                number=number,
                format=fmt,
                source=source,
                definition=definition,
                digest=digest(definition),
                note=None if note is None else note[:200],
                author_id=author_id,
                created_at=now,
            )
            .returning(bot_versions.c.id)
        )
    ).scalar_one()
    await conn.execute(
        update(bots)
        .where(bots.c.id == bot_id)
        .values(version_id=version_id, name=str(definition.get("name", ""))[:100] or "Bot")
    )
    found = await version(conn, bot_id, number)
    if found is None:
        raise LookupError(f"version {number} of bot {bot_id} was not stored")
    return found


async def version(conn: AsyncConnection, bot_id: int, number: int) -> Version | None:
    row = (
        await conn.execute(
            select(bot_versions).where(
                and_(bot_versions.c.bot_id == bot_id, bot_versions.c.number == number)
            )
        )
    ).first()
    return None if row is None else _version(row)


async def current(conn: AsyncConnection, bot_id: int) -> Version | None:
    row = (
        await conn.execute(
            select(bot_versions)
            .join(bots, bots.c.version_id == bot_versions.c.id)
            .where(bots.c.id == bot_id)
        )
    ).first()
    return None if row is None else _version(row)


async def versions(conn: AsyncConnection, bot_id: int) -> list[Version]:
    """Every version, newest first."""
    rows = await conn.execute(
        select(bot_versions)
        .where(bot_versions.c.bot_id == bot_id)
        .order_by(bot_versions.c.number.desc())
    )
    return [_version(row) for row in rows]


_RUNNING = Prepared(
    select(bot_versions.c.id, bot_versions.c.digest)
    .join(bots, bots.c.version_id == bot_versions.c.id)
    .where(bots.c.channel_id == bindparam("channel_id"))
)


async def running(conn: AsyncConnection, channel_id: int) -> tuple[int, str] | None:
    """(version id, digest) of the channel's current bot version: the worker's cheap check
    before each turn, the definition itself being read only when not cached."""
    row = await _RUNNING.first(conn, channel_id=channel_id)
    return None if row is None else (int(row.id), str(row.digest))


async def definition(conn: AsyncConnection, version_id: int) -> dict[str, Any]:
    row = (
        await conn.execute(select(bot_versions.c.definition).where(bot_versions.c.id == version_id))
    ).one()
    return dict(row.definition)


async def link_rules(conn: AsyncConnection, channel_id: int, now: float) -> None:
    """The channel's conversations are answered by its bot from now on (`link = rules`)."""
    await conn.execute(
        update(channels).where(channels.c.id == channel_id).values(link="rules", updated_at=now)
    )


async def is_linked(conn: AsyncConnection, channel_id: int) -> bool:
    link = (await conn.execute(select(channels.c.link).where(channels.c.id == channel_id))).scalar()
    return link == "rules"


async def note_profile(
    conn: AsyncConnection,
    bot_id: int,
    *,
    pushed: dict[str, Any] | None,
    status: str,
    error: str | None,
    now: float,
) -> None:
    """How the last push of the Messenger profile went; `pushed` is what the Page now has
    (kept as it was when a push failed)."""
    values: dict[str, Any] = {"profile_status": status, "profile_error": error, "updated_at": now}
    if status == "pushed":
        values["profile_pushed"] = pushed
    await conn.execute(update(bots).where(bots.c.id == bot_id).values(**values))
