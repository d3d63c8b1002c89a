"""What an agent does to a conversation from the inbox: reply (which takes the conversation),
send a file, write a private note, send a failed message again; take it, assign it, hand it back
to the handler, resolve, reopen, snooze. Each is one call in the caller's transaction; each that
changes who holds the conversation says so in the transcript, with the agent's name.

Replies go through the outbox like any (`sending.queue_reply`), so the send policy decides how
they go; who holds the conversation changes through `handing`, so the handler is silent from the
moment a person takes it, and answers again from the next message after it is handed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handoff import (
    AgentAssigned,
    AgentReplied,
    HandedBack,
    HandoffStage,
    HandoffState,
    Resolved,
)
from frontdesk.core.models import (
    Attachment,
    Author,
    ConversationStatus,
    InvalidReply,
    QuickReply,
    Reply,
)
from frontdesk.store import conversations as store
from frontdesk.store import inbox, notes, outbox, transcripts

from . import handing, presence, sending, snoozing


@dataclass(frozen=True)
class Agent:
    """A person of the workspace acting in the inbox; `key` is what a conversation's assignee
    holds."""

    id: int
    name: str

    @property
    def key(self) -> str:
        return str(self.id)


class Refused(Exception):  # noqa: N818 - reads as what happened
    """The action cannot be done; the message says why, for the agent."""


async def thread_of(conn: AsyncConnection, conversation_id: int) -> store.Thread:
    where = await outbox.conversation(conn, conversation_id)
    if where is None:
        raise LookupError(f"no conversation {conversation_id}")
    state = await store.handoff_of(conn, conversation_id)
    return store.Thread(where.channel_id, where.contact_id, conversation_id, state.owner.value)


async def _step(
    conn: AsyncConnection, thread: store.Thread, event: Any, now: float
) -> tuple[HandoffState, HandoffState]:
    before = await store.handoff_of(conn, thread.conversation_id)
    after = await handing.hand_off(conn, thread, before, event, now)
    return before, after


async def _line(conn: AsyncConnection, conversation_id: int, words: str, now: float) -> None:
    await notes.add(conn, conversation_id, notes.SYSTEM, words, now)


async def _open(conn: AsyncConnection, thread: store.Thread, status: str) -> None:
    if status in (ConversationStatus.RESOLVED.value, ConversationStatus.SNOOZED.value):
        await inbox.set_status(
            conn, thread.conversation_id, thread.channel_id, ConversationStatus.OPEN
        )


async def reply(
    conn: AsyncConnection,
    conversation_id: int,
    agent: Agent,
    message: Reply,
    now: float,
    *,
    stored: list[dict[str, Any]] | None = None,
) -> int:
    """Send `message` as `agent`; returns the stored message's id (blocked, with the reason,
    when the window does not allow it). The conversation becomes a person's: the agent's, unless
    another agent already has it. `stored` records where a file the agent sent is kept."""
    thread = await thread_of(conn, conversation_id)
    status = (await inbox.detail(conn, conversation_id)).status
    message_id = await sending.queue_reply(conn, conversation_id, message, Author.AGENT, now)
    await inbox.credit(conn, message_id, agent.id, agent.name, attachments=stored)
    before, after = await _step(conn, thread, AgentReplied(agent.key), now)
    if before.stage is not HandoffStage.HUMAN and after.assignee == agent.key:
        await _line(conn, conversation_id, f"{agent.name} replied and took the conversation.", now)
    await _open(conn, thread, status)
    return message_id


async def note(
    conn: AsyncConnection, conversation_id: int, agent: Agent, text: str, now: float
) -> int:
    """A private note: kept in the transcript for the team, never sent."""
    return await notes.add(
        conn, conversation_id, notes.NOTE, text, now, user_id=agent.id, user_name=agent.name
    )


def reply_of(message: Mapping[str, Any]) -> Reply:
    """The Reply that a stored Send API `message` object was made from. Raises InvalidReply."""
    chips = tuple(
        QuickReply(str(c.get("title", "")), str(c.get("payload", "")))
        if c.get("content_type", "text") == "text"
        else QuickReply(content_type=c["content_type"])
        for c in message.get("quick_replies", ())
        if isinstance(c, Mapping)
    )
    if isinstance(message.get("text"), str):
        return Reply(text=message["text"], quick_replies=chips)
    attachment = message.get("attachment")
    if not isinstance(attachment, Mapping):
        raise InvalidReply("the stored message has neither text nor an attachment")
    payload = attachment.get("payload")
    payload = payload if isinstance(payload, Mapping) else {}
    kind = attachment.get("type")
    if kind == "template":
        return Reply(template=dict(payload), quick_replies=chips)
    if kind not in ("image", "audio", "video", "file"):
        raise InvalidReply(f"the stored message has an attachment of type {kind!r}")
    media = Attachment(kind, url=payload.get("url"), attachment_id=payload.get("attachment_id"))
    return Reply(attachment=media, quick_replies=chips)


async def retry(
    conn: AsyncConnection, conversation_id: int, agent: Agent, message_id: int, now: float
) -> int:
    """Send a failed message again, as a new message by `agent` (the failed one stays, with its
    reason). Raises Refused when there is nothing to send again."""
    failed = await transcripts.message(conn, conversation_id, message_id)
    if failed is None or not failed.retryable:
        raise Refused("Only a message that failed can be sent again.")
    sent = failed.outgoing.get("message")
    try:
        again = reply_of(sent if isinstance(sent, Mapping) else {})
    except InvalidReply as err:
        raise Refused(f"This message cannot be sent again: {err}.") from err
    kept = [dict(item) for item in failed.attachments if "stored" in item] or None
    return await reply(conn, conversation_id, agent, again, now, stored=kept)


async def typing(conn: AsyncConnection, conversation_id: int, now: float) -> bool:
    """The agent is typing: the customer sees "typing…" (inside the window only)."""
    return await presence.typing(conn, conversation_id, now)


async def seen(conn: AsyncConnection, conversation_id: int, channel_id: int, now: float) -> None:
    """The agent has the conversation open as messages arrive: read, and seen on Messenger."""
    if await inbox.mark_read(conn, conversation_id, channel_id):
        await presence.mark_seen(conn, conversation_id, now)


# --- who holds it, and its status -------------------------------------------------------------


async def _expect(
    conn: AsyncConnection, conversation_id: int, was: str | None, names: Mapping[str, str]
) -> HandoffState:
    """The state, if its assignee is still the one the agent saw when they acted: two agents
    taking one conversation at once, the second is told instead of taking it from the first."""
    state = await store.handoff_of(conn, conversation_id)
    if state.assignee != was:
        holder = names.get(state.assignee or "", "someone") if state.assignee else "nobody"
        raise Refused(
            f"Meanwhile the conversation changed hands: {holder} has it now. "
            "Look again, and assign it again if you still mean to."
        )
    return state


async def assign(
    conn: AsyncConnection,
    conversation_id: int,
    actor: Agent,
    assignee: Agent,
    now: float,
    *,
    was: str | None,
    names: Mapping[str, str],
) -> None:
    """Give the conversation to `assignee` (the actor themselves: they take it). `was` is the
    assignee the actor saw; if it changed since, Refused says who has it."""
    thread = await thread_of(conn, conversation_id)
    await _expect(conn, conversation_id, was, names)
    if was == assignee.key:
        return
    status = (await inbox.detail(conn, conversation_id)).status
    await _step(conn, thread, AgentAssigned(assignee.key), now)
    words = (
        f"{actor.name} took the conversation."
        if assignee.key == actor.key
        else f"{actor.name} gave the conversation to {assignee.name}."
    )
    await _line(conn, conversation_id, words, now)
    await _open(conn, thread, status)


async def take_over(conn: AsyncConnection, leaving: Agent, actor: Agent, now: float) -> int:
    """`leaving` leaves the team: `actor` (who removes them) takes every conversation they held,
    with a line in each transcript, so none stays with a person nobody can see it under.
    Returns how many."""
    held = await inbox.held_by(conn, leaving.key)
    for conversation_id in held:
        thread = await thread_of(conn, conversation_id)
        status = (await inbox.detail(conn, conversation_id)).status
        await _step(conn, thread, AgentAssigned(actor.key), now)
        words = f"{leaving.name} left the team: {actor.name} has the conversation now."
        await _line(conn, conversation_id, words, now)
        await _open(conn, thread, status)
    return len(held)


async def hand_back(
    conn: AsyncConnection, conversation_id: int, actor: Agent, now: float, *, handler: str | None
) -> None:
    """Give the conversation back to the channel's `handler` (None: the channel has none, the
    conversation waits for people again), which answers from the customer's next message,
    reading what the people said in its history."""
    thread = await thread_of(conn, conversation_id)
    before, after = await _step(conn, thread, HandedBack(), now)
    if before == after:
        raise Refused("Nobody has this conversation: there is nothing to hand back.")
    words = (
        f"{actor.name} handed the conversation back: {handler} answers again."
        if handler
        else f"{actor.name} let go of the conversation."
    )
    await _line(conn, conversation_id, words, now)


async def resolve(conn: AsyncConnection, conversation_id: int, actor: Agent, now: float) -> None:
    """Done: out of the open list; the customer's next message goes to the handler and opens
    it again."""
    thread = await thread_of(conn, conversation_id)
    await _step(conn, thread, Resolved(), now)
    await inbox.set_status(conn, conversation_id, thread.channel_id, ConversationStatus.RESOLVED)
    await _line(conn, conversation_id, f"{actor.name} resolved the conversation.", now)


async def reopen(conn: AsyncConnection, conversation_id: int, actor: Agent, now: float) -> None:
    thread = await thread_of(conn, conversation_id)
    await inbox.set_status(conn, conversation_id, thread.channel_id, ConversationStatus.OPEN)
    await _line(conn, conversation_id, f"{actor.name} reopened the conversation.", now)


async def snooze(
    conn: AsyncConnection,
    conversation_id: int,
    actor: Agent,
    until: float,
    now: float,
    *,
    when: str,
) -> None:
    """Out of the open list until `until` (or the customer's next message), when it opens
    again by itself. `when` is `until` in words, for the transcript."""
    if until <= now:
        raise Refused("A snooze ends in the future.")
    thread = await thread_of(conn, conversation_id)
    await inbox.set_status(
        conn, conversation_id, thread.channel_id, ConversationStatus.SNOOZED, snoozed_until=until
    )
    await snoozing.wake_at(conn, conversation_id, until, now)
    await _line(conn, conversation_id, f"{actor.name} snoozed the conversation until {when}.", now)
