"""How long the queue's finished jobs and the raw webhook bodies are kept, and their pruning; and
the pruning of kept media files that no row names any more.

Neither a job nor a raw body is the record of a conversation (that is `messages`): a finished
job is bookkeeping, and a raw body is kept for inspection (an unknown Page, a malformed body,
the doctor's evidence). Without pruning both grow with every event for ever. A dead job is kept
longer than a done one: it is how a person finds out what failed, and why.

Kept media (`store.media`) are named by the rows that show them: a message's attachments, a
contact's picture. When those rows go (a channel removed with its history, say) the files stay
behind; `MediaSweep` finds and removes them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store.media import MediaStore, digest_of
from frontdesk.store.tables import contacts, jobs, messages, webhook_bodies

DAY = 24 * 3600.0


class MediaSweep:
    """Removes the kept files no row names any more, a round at a time, a batch per call.

    A round reads every message's attachments and every contact's picture (by id, `batch` rows
    a call), then walks the store's files (`batch` a call) and removes each that no row named
    and that was written before the round began less `grace`. The age is what makes it safe
    against work under way: a file is kept (written anew, even when its bytes were kept before:
    `store.media.Incoming.keep`) moments before a row names it, so a file younger than `grace`
    may be about to be named, and is left for a later round. A round starts at most every
    `every` seconds. The names read in a round are held in memory (a set of digests).

    Its `clock` is the wall clock, whatever the worker's: it is compared with file times.
    """

    def __init__(
        self,
        store: MediaStore,
        *,
        every: float = DAY,
        grace: float = DAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.every = every
        self.grace = grace
        self.clock = clock
        self.removed = 0
        """Files removed since this sweep was made (for tests and logs)."""
        self._next_round = -math.inf
        self._phase: str | None = None
        self._after_id = 0
        self._after_digest = ""
        self._named: set[str] = set()
        self._before = 0.0

    async def step(self, conn: AsyncConnection, batch: int) -> int:
        """One piece of the round: how many rows or files it went through (0 when no round is
        under way, or the round just ended). Call again until it returns 0."""
        now = self.clock()
        if self._phase is None:
            if now < self._next_round:
                return 0
            self._phase, self._after_id, self._after_digest = "messages", 0, ""
            self._named = set()
            self._before = now - self.grace
        while True:
            if self._phase == "messages":
                rows = await self._rows(conn, messages.c.id, messages.c.attachments, batch)
                for row in rows:
                    self._named.update(stored_digests(row[1]))
                if rows:
                    return len(rows)
                self._phase, self._after_id = "contacts", 0
            elif self._phase == "contacts":
                rows = await self._rows(conn, contacts.c.id, contacts.c.profile_pic, batch)
                for row in rows:
                    named = digest_of(row[1]) if isinstance(row[1], str) else None
                    if named is not None:
                        self._named.add(named)
                if rows:
                    return len(rows)
                self._phase = "files"
            else:
                return await self._files(now, batch)

    async def _rows(
        self, conn: AsyncConnection, id_column: Any, value: Any, batch: int
    ) -> list[Any]:
        query = (
            select(id_column, value)
            .where(id_column > self._after_id)
            .order_by(id_column)
            .limit(batch)
        )
        rows = list(await conn.execute(query))
        if rows:
            self._after_id = int(rows[-1][0])
        return rows

    async def _files(self, now: float, batch: int) -> int:
        found = await asyncio.to_thread(self.store.digests_after, self._after_digest, batch)
        if not found:
            await asyncio.to_thread(self.store.tidy_incoming, self._before)
            self._phase, self._named = None, set()
            self._next_round = now + self.every
            return 0
        self._after_digest = found[-1]
        unnamed = [digest for digest in found if digest not in self._named]
        self.removed += await asyncio.to_thread(self._remove, unnamed)
        return len(found)

    def _remove(self, digests: list[str]) -> int:
        return sum(self.store.remove_if_older(digest, self._before) for digest in digests)


def stored_digests(attachments: Any) -> Iterator[str]:
    """The kept files a message's `attachments` JSON names (`store.attachments`)."""
    if not isinstance(attachments, list):
        return
    for item in attachments:
        stored = item.get("stored") if isinstance(item, dict) else None
        digest = stored.get("sha256") if isinstance(stored, dict) else None
        if isinstance(digest, str):
            yield digest


@dataclass(frozen=True)
class Retention:
    done_jobs: float = 1 * DAY
    dead_jobs: float = 30 * DAY
    webhook_bodies: float = 14 * DAY
    batch: int = 1000
    """Rows deleted per statement: each call is a short transaction, never a long lock."""
    media: MediaSweep | None = field(default=None, compare=False)
    """Kept media to prune (None: none are)."""


async def prune(conn: AsyncConnection, now: float, keep: Retention) -> int:
    """Delete the expired rows among the oldest `keep.batch` of each kind, and take one step
    of the media sweep; returns how many rows went plus how many rows or files the sweep went
    through (call again until it returns 0).

    Only the oldest rows are read, through an index in id order: a finished job's id and time,
    like a body's, grow together closely enough, and a filter on the time alone would read the
    whole table whenever nothing has expired yet.
    """
    removed = 0
    for state, kept_for in (("done", keep.done_jobs), ("dead", keep.dead_jobs)):
        oldest = (
            select(jobs.c.id, jobs.c.finished_at)
            .where(jobs.c.state == state)
            .order_by(jobs.c.id)
            .limit(keep.batch)
        )
        removed += await _delete(conn, jobs.c.id, await _expired(conn, oldest, now - kept_for))
    oldest = (
        select(webhook_bodies.c.id, webhook_bodies.c.received_at)
        .order_by(webhook_bodies.c.id)
        .limit(keep.batch)
    )
    expired = await _expired(conn, oldest, now - keep.webhook_bodies)
    removed += await _delete(conn, webhook_bodies.c.id, expired)
    if keep.media is not None:
        removed += await keep.media.step(conn, keep.batch)
    return removed


async def _expired(conn: AsyncConnection, oldest: Select[Any], cut: float) -> list[int]:
    return [row[0] for row in await conn.execute(oldest) if row[1] is not None and row[1] < cut]


async def _delete(conn: AsyncConnection, id_column: Any, ids: list[int]) -> int:
    if ids:
        await conn.execute(delete(id_column.table).where(id_column.in_(ids)))
    return len(ids)
