"""The agent's presence on Messenger: "seen" when an agent opens a conversation, "typing…" while
one types. Each is a `sender_action` job, sent outside the transaction like any call to Meta.

Both are cosmetic, so they are best effort: a failure is logged, never retried, and neither is
sent outside the 24-hour window (Meta refuses sender actions there too, digest §5.6). A typing
indicator waits behind the replies already queued (it is keyed like the conversation's sends)
and is dropped once stale: shown after the reply it announced, it would mislead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.policy import WindowState, window_state
from frontdesk.messenger import MessengerError
from frontdesk.store import conversations as store
from frontdesk.store import outbox

from . import queue, sending
from .loop import JobHandler, Outside
from .queue import Job

log = logging.getLogger("frontdesk.presence")

SENDER_ACTION = "sender_action"
MARK_SEEN = "mark_seen"
TYPING_ON = "typing_on"
TYPING_FRESH = 10.0
"""Seconds after which a typing indicator not yet shown is not shown at all."""


async def mark_seen(conn: AsyncConnection, conversation_id: int, now: float) -> None:
    await queue.enqueue(
        conn,
        SENDER_ACTION,
        {"conversation_id": conversation_id, "action": MARK_SEEN, "at": now},
        key=None,
        now=now,
    )


async def typing(conn: AsyncConnection, conversation_id: int, now: float) -> bool:
    """Show "typing…" to the customer; False (nothing queued) for an unknown conversation."""
    where = await outbox.conversation(conn, conversation_id)
    if where is None:
        return False
    await queue.enqueue(
        conn,
        SENDER_ACTION,
        {"conversation_id": conversation_id, "action": TYPING_ON, "at": now},
        key=sending.send_key(where.channel_id, conversation_id),
        now=now,
    )
    return True


def _open(last_user_at: float | None, now: float) -> bool:
    last = None if last_user_at is None else datetime.fromtimestamp(last_user_at, UTC)
    return window_state(last, datetime.fromtimestamp(now, UTC)) is WindowState.OPEN


def presence_job(sender: sending.Sender) -> JobHandler:
    async def act(conn: AsyncConnection, job: Job, now: float) -> Outside[Any] | None:
        action = str(job.payload.get("action"))
        if action not in (MARK_SEEN, TYPING_ON):
            log.warning("sender_action job %s names no action we send: %.40r", job.id, action)
            return None
        if action == TYPING_ON and now - float(job.payload.get("at", 0.0)) > TYPING_FRESH:
            return None  # stale: the reply it announced has gone, or is about to
        where = await outbox.conversation(conn, int(job.payload["conversation_id"]))
        if where is None or not _open(where.last_user_at, now):
            return None
        channel = await outbox.sending_channel(conn, where.channel_id)
        if channel is None or channel.paused or channel.page_token is None:
            return None
        token = sender.secrets.decrypt(channel.page_token)
        psid = (await store.contact(conn, where.contact_id)).psid

        async def call() -> str | None:
            try:
                await sender.client.sender_action(token, psid, action)  # type: ignore[arg-type]
            except MessengerError as err:
                return f"{type(err).__name__}: {err}"
            return None

        async def record(conn: AsyncConnection, problem: str | None, now: float) -> None:
            if problem is not None:
                log.warning(
                    "%s for conversation %s not shown: %s", action, where.conversation_id, problem
                )

        return Outside(call, record)

    return act
