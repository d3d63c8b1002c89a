"""Handing a conversation to a person and back: `core.handoff`'s state machine applied with the
channel's handoff settings, its effects carried out in the caller's transaction, and what
happened written into the transcript for the agents.

Effects: the agents are told (a system line, and a `handoff` change that live pages turn into a
notification); the auto-reply goes to the customer as the channel's handler (the business-hours
or the after-hours text); a timer becomes a `handoff_timeout` job, keyed like the conversation's
events so it runs in order with them, which delivers `IdleTimeout` when due (core ignores a
stale one).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, assert_never

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handoff import (
    HandoffEvent,
    HandoffStage,
    HandoffState,
    IdleTimeout,
    NotifyAgents,
    PageInboxReplied,
    ResumeHandler,
    ScheduleTimeout,
    SendAutoReply,
    SilenceHandler,
    transition,
)
from frontdesk.core.models import Author, LinkKind, Reply
from frontdesk.store import changes, handoff_settings, notes
from frontdesk.store import conversations as store

from . import queue, sending
from .loop import JobHandler
from .queue import Job

log = logging.getLogger("frontdesk.handing")

TIMEOUT = "handoff_timeout"


def conversation_key(page_id: str, psid: str) -> str:
    """The key of a conversation's event jobs (as the intake writes it)."""
    return f"{page_id}:{psid}"


def _author(link: str) -> Author:
    try:
        return LinkKind(link).author
    except ValueError:
        return Author.BOT


async def hand_off(
    conn: AsyncConnection,
    thread: store.Thread,
    state: HandoffState,
    event: HandoffEvent,
    now: float,
) -> HandoffState:
    """Apply one handoff event: store the new state, carry out the effects; the new state."""
    moment = datetime.fromtimestamp(now, UTC)
    channel = await handoff_settings.of_channel(conn, thread.channel_id)
    step = transition(state, event, moment, settings=channel.core(moment))
    new = step.new_state
    if new != state:
        await store.save_handoff(conn, thread.conversation_id, new)
    for effect in step.effects:
        match effect:
            case SilenceHandler() | ResumeHandler():
                # Honoured through the stored stage: `handler_may_answer` reads it before every
                # turn, so the handler is silent from now on (or answers from the next message).
                pass
            case NotifyAgents(reason=reason, note=note):
                words = f"Waiting for a person: {reason}" + (f" (note: {note})" if note else "")
                await notes.add(conn, thread.conversation_id, notes.SYSTEM, words[:2000], now)
                await changes.note(conn, thread.channel_id, thread.conversation_id, changes.HANDOFF)
            case SendAutoReply(text=text):
                await sending.queue_reply(
                    conn, thread.conversation_id, Reply(text=text), _author(channel.link), now
                )
            case ScheduleTimeout(at=at):
                await _schedule(conn, thread, channel.page_id, at.timestamp(), now)
            case _:
                assert_never(effect)
    await _record(conn, thread, state, new, event, now)
    return new


async def _record(
    conn: AsyncConnection,
    thread: store.Thread,
    old: HandoffState,
    new: HandoffState,
    event: HandoffEvent,
    now: float,
) -> None:
    """The transcript's line for what happened without an agent's action (agents' actions write
    their own, with their name)."""
    words = None
    if isinstance(event, PageInboxReplied) and old.stage is not HandoffStage.HUMAN:
        words = (
            "Someone replied from Meta's Page Inbox: a person has the conversation now, "
            "and the handler stays silent."
        )
    elif isinstance(event, IdleTimeout) and new != old:
        if new.stage is HandoffStage.BOT and old.stage is HandoffStage.HUMAN_REQUESTED:
            words = "Nobody took the conversation in time: it went back to the handler."
        elif new.stage is HandoffStage.BOT:
            words = "Nobody wrote in the conversation for a while: it went back to the handler."
        else:
            words = "Nobody took the conversation in time: it still waits for a person."
    if words is not None:
        await notes.add(conn, thread.conversation_id, notes.SYSTEM, words, now)


async def _schedule(
    conn: AsyncConnection, thread: store.Thread, page_id: str, at: float, now: float
) -> None:
    contact = await store.contact(conn, thread.contact_id)
    await queue.enqueue(
        conn,
        TIMEOUT,
        {"page_id": page_id, "psid": contact.psid, "at": at},
        # A key of its own: under the conversation's key this job, due minutes or days from
        # now, would hold back every later event of the conversation until it ran. Beside it,
        # the two may run at once; the handoff state's row lock orders them, and a timer that
        # finds a newer state is stale and does nothing (core.handoff).
        key=f"{TIMEOUT}:{conversation_key(page_id, contact.psid)}",
        now=now,
        run_at=at,
    )


def timeout_job() -> JobHandler:
    """Deliver `IdleTimeout` to the conversation; core acts only when its own timer is due."""

    async def time_out(conn: AsyncConnection, job: Job, now: float) -> Any:
        channel = await store.channel_for_page(conn, str(job.payload["page_id"]))
        if channel is None:
            return None  # the Page was removed meanwhile
        thread = await store.thread_for(conn, channel.id, str(job.payload["psid"]), now)
        state = await store.handoff_of(conn, thread.conversation_id)
        await hand_off(conn, thread, state, IdleTimeout(), now)
        return None

    return time_out
