"""The doctor page of a channel: every check of the connection doctor with ✓, ✗ or ?, and the fix.

Each visit examines the channel afresh: the evidence is read in one transaction, Meta is asked
with none open, and the outcome flags or clears the channel in a second one, exactly as the
hourly `doctor` job does (so a ✓ here lifts the banner, and a ✗ raises it).
"""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.store.channels import QUIET, REMOVED
from frontdesk.web.access import Forbidden, access_channel
from frontdesk.workers.evidence import gather_facts

from .context import Ask, Console
from .status import STATUS_WORDS


async def show(console: Console, ask: Ask) -> Response:
    checkup = console.checkup
    if checkup is None:
        raise Forbidden("the connection doctor is not set up in this Frontdesk")
    now = console.clock()
    async with console.engine.begin() as conn:
        channel = await access_channel(conn, ask.user, ask.request.path_params["channel_id"])
        facts = (
            None
            if channel.status == REMOVED
            else await gather_facts(conn, checkup.secrets, channel.id, now)
        )
    report = None if facts is None else await checkup.doctor.examine(facts, now)
    if report is not None:
        async with console.engine.begin() as conn:
            await checkup.apply(conn, report, now)
            # Shown as it is now that the report was applied (the banner too).
            channel = await access_channel(conn, ask.user, channel.id)
            ask.flagged = [c for c in ask.flagged if c.id != channel.id]
            if channel.status not in QUIET:
                ask.flagged.append(channel)
    return ask.render(
        console,
        "doctor.html",
        nav="channels",
        channel=channel,
        report=report,
        status_words=STATUS_WORDS,
    )
