"""Telling people that the doctor flagged or cleared a channel: the `Notifier` hook (the log
today; email or a webhook later) and the `doctor_notice` job that calls it.

A notifier may be slow (a mail server, someone's webhook), so it is never called inside a
database transaction: the examination that changes a channel's status enqueues a notice in the
same transaction (`announce`), and the notice job calls the notifier once that has committed,
with no transaction open (`loop.Outside`). A notifier that raises is tried again later (the
queue's backoff, then the dead letters); the flag stays. A worker dying after telling and before
recording it tells again: a notifier must bear hearing of one change twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store import outbox

from . import queue
from .findings import Report
from .loop import JobHandler, Outside, PermanentFailure
from .queue import Job

log = logging.getLogger("frontdesk.doctor")

NOTICE = "doctor_notice"


@dataclass(frozen=True)
class ChannelAlert:
    """A channel's status changed because of an examination: flagged, or cleared (`active`)."""

    channel_id: int
    page_id: str
    page_name: str
    previous: str
    status: str
    reason: str | None
    report: Report

    @property
    def cleared(self) -> bool:
        return self.status == outbox.ACTIVE

    def view(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "page_id": self.page_id,
            "page_name": self.page_name,
            "previous": self.previous,
            "status": self.status,
            "reason": self.reason,
            "report": self.report.view(),
        }

    @classmethod
    def from_view(cls, view: Any) -> ChannelAlert:
        """The alert `view()` gave; ValueError for anything else."""
        if not isinstance(view, dict):
            raise ValueError("an alert is an object")
        channel_id, reason = view.get("channel_id"), view.get("reason")
        texts = [view.get(k) for k in ("page_id", "page_name", "previous", "status")]
        if not isinstance(channel_id, int) or isinstance(channel_id, bool):
            raise ValueError("an alert names its channel by id")
        if not all(isinstance(t, str) for t in texts) or not isinstance(reason, str | None):
            raise ValueError("an alert's Page, statuses and reason are text")
        page_id, page_name, previous, status = (str(t) for t in texts)
        report = Report.from_view(view.get("report"))
        return cls(channel_id, page_id, page_name, previous, status, reason, report)


class Notifier(Protocol):
    """Where flag changes go beyond the banner (email, a webhook): none is built yet.

    Called after the change committed, outside any transaction; may be called twice for one
    change (see the module). An exception is retried later; the flag stays as it is.
    """

    async def notify(self, alert: ChannelAlert) -> None: ...


class LogNotifier:
    """Tells the log: a warning when a channel is flagged, info when it is cleared."""

    async def notify(self, alert: ChannelAlert) -> None:
        if alert.cleared:
            log.info(
                "channel %s (Page %s) is healthy again, was %s",
                alert.channel_id,
                alert.page_id,
                alert.previous,
            )
        else:
            log.warning(
                "channel %s (Page %s) flagged %s: %s",
                alert.channel_id,
                alert.page_id,
                alert.status,
                alert.reason,
            )


async def announce(conn: AsyncConnection, alert: ChannelAlert, now: float) -> None:
    """In the transaction that changed the channel: tell the notifier once it commits."""
    await queue.enqueue(conn, NOTICE, alert.view(), key=f"{NOTICE}:{alert.channel_id}", now=now)


def notice_job(notifier: Notifier) -> JobHandler:
    async def run(conn: AsyncConnection, job: Job, now: float) -> Outside[None]:
        try:
            alert = ChannelAlert.from_view(job.payload)
        except ValueError as err:
            raise PermanentFailure(f"not a doctor notice: {err}") from err

        async def tell() -> None:
            await notifier.notify(alert)

        async def told(conn: AsyncConnection, result: None, now: float) -> None:
            return None

        return Outside(tell, told)

    return run
