"""The `doctor` job: each channel re-examined periodically, flagged for the banner when a check
fails (and the flag cleared once it passes), and people told of the change (`notices`, after
the change commits).

Flags live in the existing `channels.status` / `status_reason` columns. A failing check sets the
status of the first ✗ in check order (the cause before its consequences); `reconnect_needed`
also pauses the outbox, exactly as when the send pipeline sets it. A flag is cleared only when
every check behind it passes again, never on "unknown": a `reconnect_needed` (whoever set it)
stays until Meta says the token is valid again, and clearing it restarts the paused sends. A
status the doctor does not own is left alone, but for `bot_failing`, which its flags replace.

The job reads the evidence in one transaction, asks Meta outside any (`loop.Outside`: on SQLite
a transaction holds the one write lock, hence the intake), and applies the report in a second,
against the channel's status as it is then. A worker dying in between loses nothing: the job
runs again and asks again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store import outbox
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels

from . import queue, sending
from .doctor import Doctor
from .evidence import gather_facts
from .findings import Check, Finding, Report, Verdict
from .loop import JobHandler, Outside, PermanentFailure
from .notices import ChannelAlert, LogNotifier, Notifier, announce
from .queue import Job
from .unanswered import BOT_FAILING

DOCTOR = "doctor"
INTERVAL = 3600.0
"""Seconds between two examinations of a channel."""

WEBHOOK_NOT_VERIFIED = "webhook_not_verified"
NOT_SUBSCRIBED = "not_subscribed"
DEVELOPMENT_MODE = "development_mode"
NO_EVENTS = "no_events"
SEND_FAILING = "send_failing"

FLAGS = {
    Check.TOKEN: outbox.RECONNECT_NEEDED,
    Check.ROLE: outbox.RECONNECT_NEEDED,
    Check.PERMISSIONS: outbox.RECONNECT_NEEDED,
    Check.PAGE: outbox.RESTRICTED,
    Check.APP_WEBHOOK: WEBHOOK_NOT_VERIFIED,
    Check.SUBSCRIPTION: NOT_SUBSCRIBED,
    Check.LIVE_MODE: DEVELOPMENT_MODE,
    Check.MESSAGING: NO_EVENTS,
    Check.SEND_ERRORS: SEND_FAILING,
}
"""The channel status a failing check sets (each breaks messaging for some or all customers)."""
CLEARED_BY = {
    status: tuple(check for check, flag in FLAGS.items() if flag == status)
    for status in dict.fromkeys(FLAGS.values())
}
"""A flag goes only when all of these checks pass."""


OUTRANKED = frozenset({outbox.ACTIVE, BOT_FAILING})
"""Statuses a failing check replaces and a passing report leaves as they are: a connection
problem says more than a bot that could not answer, which its own next turn clears."""


def _rank(status: str) -> int:
    """Earlier checks' flags outrank later ones'."""
    return next(i for i, check in enumerate(Check) if FLAGS[check] == status)


def banner(finding: Finding) -> str:
    """The status reason a flag carries: what is wrong, then what to do."""
    return f"{finding.detail} {finding.fix}" if finding.fix else finding.detail


def decide(report: Report, current: str) -> tuple[str, str | None] | None:
    """The channel's new (status, reason) after `report`, or None to leave it as it is."""
    first = next(iter(report.failed), None)
    if current in CLEARED_BY:
        still = any(report.finding(c).verdict is not Verdict.PASS for c in CLEARED_BY[current])
        if still:
            # Still failing, or it cannot be told: the flag stays, unless an earlier check's
            # failure now explains more.
            if first is not None and _rank(FLAGS[first.check]) < _rank(current):
                return FLAGS[first.check], banner(first)
            return None
    elif current not in OUTRANKED:
        return None  # a status someone else owns
    if first is not None:
        status = FLAGS[first.check]
        return None if status == current else (status, banner(first))
    return None if current in OUTRANKED else (outbox.ACTIVE, None)


class Checkup:
    """The doctor as a job: examine, flag or clear, have the notifier told, come back later."""

    def __init__(
        self,
        doctor: Doctor,
        secrets: Secrets,
        *,
        notifier: Notifier | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.doctor = doctor
        self.secrets = secrets
        self.notifier: Notifier = notifier or LogNotifier()
        """Told by the `doctor_notice` job, never here (see `notices`)."""
        self.interval = interval

    async def check(self, conn: AsyncConnection, channel_id: int, now: float) -> Report | None:
        """Examine one channel and apply the outcome, all in the caller's transaction (Meta is
        asked with it open: for tests and one-off runs; the job keeps the two apart)."""
        facts = await gather_facts(conn, self.secrets, channel_id, now)
        if facts is None:
            return None
        report = await self.doctor.examine(facts, now)
        await self.apply(conn, report, now)
        return report

    async def apply(self, conn: AsyncConnection, report: Report, now: float) -> ChannelAlert | None:
        """Flag or clear the channel as `report` says; a change is announced to the notifier
        once the caller's transaction commits. Returns the change, if any."""
        row = (
            await conn.execute(select(channels.c.status).where(channels.c.id == report.channel_id))
        ).first()
        if row is None:
            return None  # removed while Meta was being asked
        current = str(row.status)
        change = decide(report, current)
        if change is None:
            return None
        status, reason = change
        await outbox.flag_channel(conn, report.channel_id, status, reason, now)
        if current == outbox.RECONNECT_NEEDED:
            # Meta accepts the token again: what waited while paused goes out now.
            await sending.resume(conn, report.channel_id, now)
        alert = ChannelAlert(
            report.channel_id, report.page_id, report.page_name, current, status, reason, report
        )
        await announce(conn, alert, now)
        return alert


def doctor_key(channel_id: int) -> str:
    return f"doctor:{channel_id}"


async def watch(
    conn: AsyncConnection, channel_id: int, now: float, *, at: float | None = None
) -> bool:
    """Have the doctor examine the channel at `at` (default now) and then every interval.

    Call it when a channel is connected or reconnected; calling it again changes nothing while
    a doctor job of that channel waits. True when a job was enqueued.
    """
    key = doctor_key(channel_id)
    if await queue.has_unfinished(conn, key):
        return False
    await queue.enqueue(conn, DOCTOR, {"channel_id": channel_id}, key=key, now=now, run_at=at)
    return True


def doctor_job(checkup: Checkup) -> JobHandler:
    async def run(conn: AsyncConnection, job: Job, now: float) -> Outside[Report] | None:
        channel_id = job.payload.get("channel_id")
        if not isinstance(channel_id, int) or isinstance(channel_id, bool):
            raise PermanentFailure("a doctor job names its channel by id")
        facts = await gather_facts(conn, checkup.secrets, channel_id, now)
        if facts is None:
            return None  # the channel was removed: stop watching it
        key = doctor_key(channel_id)
        # The next examination is booked first, so a failure of this one never ends the watch.
        if not await queue.has_unfinished(conn, key, besides=job.id):
            later = now + checkup.interval
            await queue.enqueue(
                conn, DOCTOR, {"channel_id": channel_id}, key=key, now=now, run_at=later
            )

        async def examine() -> Report:
            return await checkup.doctor.examine(facts, now)

        async def record(conn: AsyncConnection, report: Report, now: float) -> None:
            await checkup.apply(conn, report, now)

        return Outside(examine, record)

    return run
