"""A turn the channel's handler could not take: it raised, or the bot version it runs cannot be
built. The customer's message stays filed; what a person sees is a system line in the
conversation's transcript saying the bot could not answer and why (in plain words: no traceback,
nothing from the error's text, which may hold anything), and the channel flagged `bot_failing`
for the banner and the channels table. Nothing is retried: the next message is a new turn.

The flag is raised only over `active` (a connection problem already flagged says more), and it
goes at the next turn the handler takes without trouble. The doctor's flags outrank it
(`checkup.decide`), and it never clears them.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.rules import BotInvalid
from frontdesk.store import conversations as store
from frontdesk.store import notes, outbox

log = logging.getLogger("frontdesk.turns")

BOT_FAILING = "bot_failing"
"""The channel status while its handler cannot answer."""


def crashed(link: str, err: Exception) -> str:
    """Why, for a handler that raised: the kind of error only (its text may hold anything)."""
    return (
        f"the {link} handler stopped with an error ({type(err).__name__}); "
        "the details are in Frontdesk's log"
    )


def invalid(err: BotInvalid) -> str:
    """Why, for a bot version that no longer builds: where, never the values found there."""
    count = len(err.problems)
    first = f", the first at {err.problems[0].where}" if err.problems else ""
    problems = "1 problem" if count == 1 else f"{count} problems"
    return (
        f"the bot version it runs is not a valid bot for this Frontdesk ({problems}{first}); "
        "open the bot in the console, fix it and save it again"
    )


async def could_not_answer(
    conn: AsyncConnection, channel: store.Channel, thread: store.Thread, why: str, now: float
) -> None:
    """In the turn's transaction: the system line, and the flag over `active`."""
    await notes.add(
        conn,
        thread.conversation_id,
        notes.SYSTEM,
        f"The bot could not answer this message: {why}. Answer the customer here.",
        now,
    )
    if channel.status == outbox.ACTIVE:
        await outbox.flag_channel(
            conn, channel.id, BOT_FAILING, f"The bot could not answer a customer: {why}.", now
        )
    log.warning("channel %s: the bot could not answer: %s", channel.id, why)


async def answered(conn: AsyncConnection, channel: store.Channel, now: float) -> None:
    """The handler took a turn without trouble: a `bot_failing` flag goes (no query else)."""
    if channel.status == BOT_FAILING:
        await outbox.flag_channel(conn, channel.id, outbox.ACTIVE, None, now)
