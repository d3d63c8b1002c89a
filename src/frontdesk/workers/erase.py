"""The `erase` job: a removed channel's history deleted in the background, a batch at a time.

Removing a Page with its history deleted only marks the channel (`store.removal.mark_removed`
with `erase`) and enqueues this job, so the request answers at once however long the history.
Each run deletes at most BATCH rows (children first: messages before their conversations,
conversations before their contacts) in its batch's transaction, then enqueues the next run;
the channel row goes last, and until then the console shows its history being deleted. A worker
that dies mid-batch loses that batch's transaction only: the job runs again and goes on from
what is left. A channel that is no longer marked for deletion is left alone.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store import removal
from frontdesk.store.channels import REMOVED
from frontdesk.store.tables import channels

from . import queue
from .loop import JobHandler, PermanentFailure
from .queue import Job

log = logging.getLogger("frontdesk.erase")

ERASE = "erase"
BATCH = 500
"""Rows deleted per run (one transaction): short enough that the intake's commits, which wait
for the worker's transaction on SQLite, never wait long."""


def erase_key(channel_id: int) -> str:
    return f"{ERASE}:{channel_id}"


async def start(conn: AsyncConnection, channel_id: int, now: float) -> bool:
    """Have the channel's history deleted (it must be marked: `removal.mark_removed` with
    `erase`); nothing more while a run of it waits. True when a job was enqueued."""
    key = erase_key(channel_id)
    if await queue.has_unfinished(conn, key):
        return False
    await queue.enqueue(conn, ERASE, {"channel_id": channel_id}, key=key, now=now)
    return True


def erase_job(batch: int = BATCH) -> JobHandler:
    async def run(conn: AsyncConnection, job: Job, now: float) -> None:
        channel_id = job.payload.get("channel_id")
        if not isinstance(channel_id, int) or isinstance(channel_id, bool):
            raise PermanentFailure("an erase job names its channel by id")
        row = (
            await conn.execute(
                select(channels.c.status, channels.c.erase_requested_at).where(
                    channels.c.id == channel_id
                )
            )
        ).first()
        if row is None:
            return None  # done already
        if row.status != REMOVED or row.erase_requested_at is None:
            log.warning("channel %s is no longer marked for deletion: left alone", channel_id)
            return None
        if await removal.erase_batch(conn, channel_id, batch):
            log.info("channel %s and its history are deleted", channel_id)
            return None
        # The next batch in a run (and transaction) of its own, right after this one commits.
        await queue.enqueue(
            conn, ERASE, {"channel_id": channel_id}, key=erase_key(channel_id), now=now
        )
        return None

    return run
