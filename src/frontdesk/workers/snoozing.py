"""Snoozed conversations open again at their time: the `wake` job, enqueued with the snooze."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store import inbox

from . import queue
from .loop import JobHandler
from .queue import Job

WAKE = "wake"


async def wake_at(conn: AsyncConnection, conversation_id: int, until: float, now: float) -> None:
    await queue.enqueue(
        conn,
        WAKE,
        {"conversation_id": conversation_id, "until": until},
        key=None,
        now=now,
        run_at=until,
    )


def wake_job() -> JobHandler:
    """Open the conversation if it is still snoozed until this job's time (a later snooze, a
    reply or a reopening meanwhile made this job moot)."""

    async def wake(conn: AsyncConnection, job: Job, now: float) -> Any:
        await inbox.wake(conn, int(job.payload["conversation_id"]), float(job.payload["until"]))
        return None

    return wake
