"""The doctor page of a channel: every check of the connection doctor with ✓, ✗ or ?, and the fix.

Opening the page examines the channel afresh and only shows the outcome: a GET changes nothing
(a link may be prefetched, or opened by something that is not a person). "Run the checks again"
(a POST) examines it and applies the outcome as the hourly `doctor` job does: a ✗ raises the
channel's flag (the banner), and a flag whose checks all pass goes. Either way the evidence is
read in one transaction, and Meta is asked with none open.
"""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.store.channels import QUIET, REMOVED, ChannelSummary
from frontdesk.web.access import Forbidden, access_channel
from frontdesk.workers.checkup import Checkup, decide
from frontdesk.workers.evidence import gather_facts
from frontdesk.workers.findings import Report

from .context import Ask, Console
from .status import STATUS_WORDS


def _checkup(console: Console) -> Checkup:
    if console.checkup is None:
        raise Forbidden("the connection doctor is not set up in this Frontdesk")
    return console.checkup


async def _examine(
    console: Console, ask: Ask, checkup: Checkup, now: float
) -> tuple[ChannelSummary, Report | None]:
    async with console.engine.begin() as conn:
        channel = await access_channel(conn, ask.user, ask.request.path_params["channel_id"])
        facts = (
            None
            if channel.status == REMOVED
            else await gather_facts(conn, checkup.secrets, channel.id, now)
        )
    report = None if facts is None else await checkup.doctor.examine(facts, now)
    return channel, report


def _render(
    console: Console, ask: Ask, channel: ChannelSummary, report: Report | None, *, applied: bool
) -> Response:
    # What the checks would do to the channel's flag that is not done yet (only after a GET).
    pending = None if report is None or applied else decide(report, channel.status)
    return ask.render(
        console,
        "doctor.html",
        nav="channels",
        channel=channel,
        report=report,
        status_words=STATUS_WORDS,
        applied=applied,
        pending=pending,
    )


async def show(console: Console, ask: Ask) -> Response:
    """The checks as Meta and Frontdesk's records answer them now; nothing is changed."""
    checkup = _checkup(console)
    channel, report = await _examine(console, ask, checkup, console.clock())
    return _render(console, ask, channel, report, applied=False)


async def run(console: Console, ask: Ask) -> Response:
    """The checks again, their outcome applied to the channel's flag (and banner)."""
    checkup = _checkup(console)
    now = console.clock()
    channel, report = await _examine(console, ask, checkup, now)
    if report is not None:
        async with console.engine.begin() as conn:
            await checkup.apply(conn, report, now)
            # Shown as it is now that the report was applied (the banner too).
            channel = await access_channel(conn, ask.user, channel.id)
        ask.flagged = [c for c in ask.flagged if c.id != channel.id]
        if channel.status not in QUIET:
            ask.flagged.append(channel)
    return _render(console, ask, channel, report, applied=True)
