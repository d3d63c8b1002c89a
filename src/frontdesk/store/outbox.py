"""The outbox: messages waiting to be sent, and the channel and contact states sends change.

An outgoing message is a `messages` row with direction outbound. It is stored `queued` (or
`blocked`, when the send policy refuses it up front) with the Send API `message` object in
`outgoing`, and moves forward only: queued → sent → delivered → read, or queued → failed /
blocked with a plain reason in `failure_reason` (`core.models.advance`). A queued message is the
durable record of work still to do: whatever happens to the jobs that send it (a paused Page, a
crash), the row says what remains. Callers own the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import Author, FailureCode, MessageStatus, advance

from . import changes
from .conversations import preview
from .prepared import Prepared
from .secrets import Secrets
from .tables import MOVING, channel_hooks, channels, contacts, conversations, messages

ACTIVE = "active"
"""A channel that sends."""
RECONNECT_NEEDED = "reconnect_needed"
"""The Page token stopped working: the outbox is paused until the token is replaced."""
RESTRICTED = "restricted"
"""Meta restricted the Page from sending. Not a pause: each send still tries (and fails with
the reason) and the first that gets through clears the flag."""

PAUSED = frozenset({RECONNECT_NEEDED})


@dataclass(frozen=True)
class Conversation:
    """What the send policy needs to know about a conversation, its contact and its channel."""

    conversation_id: int
    channel_id: int
    contact_id: int
    page_id: str
    last_user_at: float | None
    has_human_agent: bool
    workspace_id: int | None = None
    """Whose inbox hears of its messages (`changes`); None: the channel is nobody's yet."""


@dataclass(frozen=True)
class SendingChannel:
    """A channel as the send job sees it. `page_token` is the encrypted token (or None)."""

    id: int
    page_id: str
    status: str
    has_human_agent: bool
    page_token: bytes | None
    own_app: bool
    """Its Page was connected through a Meta app other than the operator's (a manual setup, or
    its workspace's own app; `hooks.app_id_of`): its token is that app's."""

    @property
    def paused(self) -> bool:
        return self.status in PAUSED


@dataclass(frozen=True)
class Outgoing:
    """One queued message with what sending it needs."""

    id: int
    conversation_id: int
    contact_id: int
    psid: str
    author: Author
    status: MessageStatus
    mid: str | None
    last_user_at: float | None
    outgoing: Mapping[str, Any]
    """The stored `outgoing` as read, locked with the row: the message and the send's
    bookkeeping (`record_attempt` writes it back with one change)."""

    @property
    def message(self) -> dict[str, Any]:
        """The Send API `message` object, without `metadata` (the send job adds its own tag)."""
        return dict(self.outgoing.get("message") or {})

    @property
    def tries(self) -> int:
        """Sends Meta answered "try later" (or never answered) so far."""
        return int(self.outgoing.get("tries") or 0)

    @property
    def attempt_started(self) -> float | None:
        """When a send of this message was begun whose outcome is not recorded: set just
        before Meta is called, cleared when the answer is. Found set by a later job, the
        outcome is unknown (the worker died, or the answer was lost) and only the echo can
        tell."""
        started = self.outgoing.get("attempt_started")
        return None if started is None else float(started)


# Who hears of a message's new status (`changes`), read with the message itself.
_WORKSPACE_OF_MESSAGE = (
    select(channels.c.workspace_id).where(channels.c.id == messages.c.channel_id).scalar_subquery()
)


# The worker's hot statements are built once and run by the driver (`prepared`): building
# one per call, or running it through SQLAlchemy, costs several times what SQLite takes.
_CONVERSATION = Prepared(
    select(
        conversations.c.id,
        conversations.c.channel_id,
        conversations.c.contact_id,
        channels.c.page_id,
        channels.c.has_human_agent,
        channels.c.workspace_id,
        contacts.c.last_user_at,
    )
    .join(channels, channels.c.id == conversations.c.channel_id)
    .join(contacts, contacts.c.id == conversations.c.contact_id)
    .where(conversations.c.id == bindparam("conversation_id"))
)


async def conversation(conn: AsyncConnection, conversation_id: int) -> Conversation | None:
    row = await _CONVERSATION.first(conn, conversation_id=conversation_id)
    if row is None:
        return None
    return Conversation(
        conversation_id=int(row.id),
        channel_id=int(row.channel_id),
        contact_id=int(row.contact_id),
        page_id=str(row.page_id),
        last_user_at=row.last_user_at,
        has_human_agent=bool(row.has_human_agent),
        workspace_id=row.workspace_id,
    )


_ADDED_COLUMNS = (
    "conversation_id",
    "channel_id",
    "direction",
    "author",
    "text",
    "attachments",
    "outgoing",
    "status",
    "failure_reason",
    "failure_code",
    "messaging_type",
    "tag",
    "created_at",
)
_ADD = Prepared(
    insert(messages)
    .values({c: bindparam(c, type_=messages.c[c].type) for c in _ADDED_COLUMNS})
    .returning(messages.c.id)
)
_LAST_MESSAGE = Prepared(
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"))
    .values(last_message_at=bindparam("now"), preview=bindparam("preview"))
)


async def add(
    conn: AsyncConnection,
    where: Conversation,
    author: Author,
    message: dict[str, Any],
    now: float,
    *,
    status: MessageStatus,
    text: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    messaging_type: str | None = None,
    tag: str | None = None,
    failure_reason: str | None = None,
    failure_code: FailureCode | None = None,
    metadata: str | None = None,
) -> int:
    """Store an outgoing message (queued, or blocked with its reason); returns its id."""
    outgoing: dict[str, Any] = {"message": message, "tries": 0}
    if metadata is not None:
        outgoing["metadata"] = metadata
    message_id = int(
        await _ADD.scalar(
            conn,
            conversation_id=where.conversation_id,
            channel_id=where.channel_id,
            direction="outbound",
            author=author.value,
            text=text,
            attachments=attachments,
            outgoing=outgoing,
            status=status.value,
            failure_reason=failure_reason,
            failure_code=None if failure_code is None else failure_code.value,
            messaging_type=messaging_type,
            tag=tag,
            created_at=now,
        )
    )
    await _LAST_MESSAGE.run(
        conn,
        conversation_id=where.conversation_id,
        now=now,
        preview=preview(text, attachments),
    )
    if where.workspace_id is not None:  # a channel of no workspace: nobody to tell
        await changes.note(
            conn,
            where.channel_id,
            where.conversation_id,
            changes.MESSAGE,
            message_id=message_id,
            workspace_id=where.workspace_id,
        )
    return message_id


# The condition "a message of conversation `:conversation_id` waits to be sent", for the send
# job's statements here and in `workers.sending`.
QUEUED = and_(
    messages.c.conversation_id == bindparam("conversation_id"),
    messages.c.status.in_(MOVING),  # the index of messages on their way, not the history
    messages.c.direction == "outbound",
    messages.c.status == MessageStatus.QUEUED.value,
)
_OLDEST_QUEUED = Prepared(
    select(
        messages.c.id,
        messages.c.conversation_id,
        messages.c.author,
        messages.c.outgoing,
        messages.c.status,
        messages.c.mid,
        contacts.c.id.label("contact_id"),
        contacts.c.psid,
        contacts.c.last_user_at,
    )
    .join(conversations, conversations.c.id == messages.c.conversation_id)
    .join(contacts, contacts.c.id == conversations.c.contact_id)
    .where(QUEUED)
    .order_by(messages.c.id)
    .limit(1),
    lock={"of": messages},
)


async def oldest_queued(conn: AsyncConnection, conversation_id: int) -> Outgoing | None:
    """The conversation's next message to send, locked until the caller's transaction ends."""
    row = await _OLDEST_QUEUED.first(conn, conversation_id=conversation_id)
    if row is None:
        return None
    return Outgoing(
        id=int(row.id),
        conversation_id=int(row.conversation_id),
        contact_id=int(row.contact_id),
        psid=str(row.psid),
        author=Author(row.author),
        status=MessageStatus(row.status),
        mid=row.mid,
        last_user_at=row.last_user_at,
        outgoing=dict(row.outgoing or {}),
    )


async def conversations_with_queued(conn: AsyncConnection, channel_id: int) -> list[int]:
    """Conversations of the channel with something still to send, oldest waiting first."""
    rows = await conn.execute(
        select(messages.c.conversation_id)
        .where(
            and_(
                messages.c.channel_id == channel_id,
                messages.c.direction == "outbound",
                messages.c.status == MessageStatus.QUEUED.value,
            )
        )
        .order_by(messages.c.id)
    )
    seen: dict[int, None] = {}
    for row in rows:
        seen.setdefault(int(row.conversation_id), None)
    return list(seen)


_MOVE_READ = select(
    messages.c.status,
    messages.c.channel_id,
    messages.c.conversation_id,
    _WORKSPACE_OF_MESSAGE.label("workspace_id"),
).where(messages.c.id == bindparam("message_id"))
_MOVE_READ_LOCKED = Prepared(_MOVE_READ, lock={})


@functools.cache
def _move_write(columns: tuple[str, ...]) -> Prepared:
    """The UPDATE of a status move that also sets `columns` (`new_<column>` parameters)."""
    return Prepared(
        update(messages)
        .where(messages.c.id == bindparam("message_id"))
        .values(status=bindparam("new_status"), **{c: bindparam(f"new_{c}") for c in columns})
    )


async def _write(
    conn: AsyncConnection, message_id: int, status: MessageStatus, values: dict[str, Any]
) -> None:
    """Set the message's status and `values`, by the UPDATE prepared for those columns."""
    await _move_write(tuple(sorted(values))).run(
        conn,
        message_id=message_id,
        new_status=status.value,
        **{f"new_{c}": value for c, value in values.items()},
    )


async def _move(conn: AsyncConnection, message_id: int, new: MessageStatus, **values: Any) -> bool:
    """Apply a forward status move (and `values` with it); False if it would go backwards."""
    row = await _MOVE_READ_LOCKED.first(conn, message_id=message_id)
    if row is None:
        return False
    current = MessageStatus(row.status)
    if advance(current, new) is current:
        return False
    await _write(conn, message_id, new, values)
    if row.workspace_id is not None:  # a channel of no workspace: nobody to tell
        await changes.note(
            conn,
            int(row.channel_id),
            int(row.conversation_id),
            changes.MESSAGE,
            message_id=message_id,
            workspace_id=int(row.workspace_id),
        )
    return True


async def record_sent(
    conn: AsyncConnection,
    message_id: int,
    mid: str,
    now: float,
    *,
    messaging_type: str | None = None,
    tag: str | None = None,
) -> bool:
    """Meta accepted the message: keep its `mid` (how a repeated job knows not to send again)."""
    values: dict[str, Any] = {
        "mid": mid,
        "sent_at": now,
        "failure_reason": None,
        "failure_code": None,
    }
    if messaging_type is not None:
        values.update(messaging_type=messaging_type, tag=tag)
    return await _move(conn, message_id, MessageStatus.SENT, **values)


async def record_failure(
    conn: AsyncConnection,
    message_id: int,
    status: MessageStatus,
    reason: str,
    code: FailureCode,
) -> bool:
    """The message will not be sent: `failed` (Meta refused) or `blocked` (the policy did),
    with the reason people read and the code machines read."""
    if status not in (MessageStatus.FAILED, MessageStatus.BLOCKED):
        raise ValueError("a message ends failed or blocked")
    return await _move(conn, message_id, status, failure_reason=reason, failure_code=code.value)


async def record_try(conn: AsyncConnection, message_id: int, tries: int) -> None:
    """Count a "try later" answer against the message; the attempt's outcome is known now."""
    await _note(conn, message_id, tries=tries, attempt_started=None)


async def record_attempt(conn: AsyncConnection, item: Outgoing, now: float) -> None:
    """A send of `item` (read by `oldest_queued` in this transaction, its row locked) is about
    to begin: committed before Meta is called (`Outgoing.attempt_started`)."""
    await _NOTE_WRITE.run(
        conn, message_id=item.id, new_outgoing={**item.outgoing, "attempt_started": now}
    )


_NOTE_READ = select(messages.c.outgoing).where(messages.c.id == bindparam("message_id"))
_NOTE_READ_LOCKED = Prepared(_NOTE_READ, lock={})
_NOTE_WRITE = Prepared(
    update(messages)
    .where(messages.c.id == bindparam("message_id"))
    .values(outgoing=bindparam("new_outgoing"))
)


async def _note(conn: AsyncConnection, message_id: int, **notes: Any) -> None:
    """Set (or, given None, drop) bookkeeping keys kept in the message's `outgoing`."""
    row = await _NOTE_READ_LOCKED.first(conn, message_id=message_id)
    if row is None:
        return
    outgoing = {**(row.outgoing or {}), **notes}
    for name, value in notes.items():
        if value is None:
            del outgoing[name]
    await _NOTE_WRITE.run(conn, message_id=message_id, new_outgoing=outgoing)


_ECHOED = Prepared(
    select(
        messages.c.status,
        messages.c.mid,
        messages.c.sent_at,
        messages.c.conversation_id,
    ).where(
        and_(
            messages.c.id == bindparam("message_id"),
            messages.c.channel_id == bindparam("channel_id"),
            messages.c.direction == "outbound",
        )
    ),
    lock={},
)


async def match_echo(
    conn: AsyncConnection, channel_id: int, message_id: int, mid: str, timestamp_ms: int, now: float
) -> bool:
    """Our own echo, named by its metadata tag: the message we sent gets its `mid` and Meta's
    time (read receipts go by that time). False when no such outgoing message of this channel
    exists, or it already carries another `mid`."""
    row = await _ECHOED.first(conn, message_id=message_id, channel_id=channel_id)
    if row is None or row.mid not in (None, mid):
        return False
    current = MessageStatus(row.status)
    status = advance(current, MessageStatus.SENT)
    values: dict[str, Any] = {
        "mid": mid,
        "meta_timestamp": timestamp_ms,
        "sent_at": row.sent_at if row.sent_at is not None else now,
    }
    if current is MessageStatus.FAILED and status is MessageStatus.SENT:
        # Given up as unknown, but it did go out.
        values.update(failure_reason=None, failure_code=None)
    await _write(conn, message_id, status, values)
    await changes.note(
        conn, channel_id, int(row.conversation_id), changes.MESSAGE, message_id=message_id
    )
    return True


_ECHO_TIME = Prepared(
    update(messages)
    .where(
        and_(
            messages.c.channel_id == bindparam("echo_channel_id"),
            messages.c.mid == bindparam("echo_mid"),
        )
    )
    .values(meta_timestamp=func.coalesce(messages.c.meta_timestamp, bindparam("timestamp_ms")))
)


async def note_echo_time(
    conn: AsyncConnection, channel_id: int, mid: str, timestamp_ms: int
) -> bool:
    """The echo of a message filed under its `mid`: keep Meta's time for read receipts (the
    first echo's). False when no message has that `mid` (yet): one statement answers both."""
    return (
        await _ECHO_TIME.run(
            conn, echo_channel_id=channel_id, echo_mid=mid, timestamp_ms=timestamp_ms
        )
        == 1
    )


# --- channels and contacts -------------------------------------------------------------------


_SENDING_CHANNEL = Prepared(
    select(
        channels.c.id,
        channels.c.page_id,
        channels.c.status,
        channels.c.has_human_agent,
        channels.c.page_token,
        exists()
        .where(channel_hooks.c.channel_id == channels.c.id, channel_hooks.c.app_id.is_not(None))
        .label("own_app"),
    ).where(channels.c.id == bindparam("channel_id"))
)


async def sending_channel(conn: AsyncConnection, channel_id: int) -> SendingChannel | None:
    row = await _SENDING_CHANNEL.first(conn, channel_id=channel_id)
    if row is None:
        return None
    return SendingChannel(
        id=int(row.id),
        page_id=str(row.page_id),
        status=str(row.status),
        has_human_agent=bool(row.has_human_agent),
        page_token=row.page_token,
        own_app=bool(row.own_app),
    )


async def flag_channel(
    conn: AsyncConnection, channel_id: int, status: str, reason: str | None, now: float
) -> None:
    """Set the channel's status with the reason a person reads in the console."""
    await conn.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(status=status, status_reason=reason, updated_at=now)
    )


async def replace_page_token(
    conn: AsyncConnection, secrets: Secrets, channel_id: int, page_token: str, now: float
) -> None:
    """Store a new Page token (encrypted under the newest key) and make the channel active.

    The queued messages are still there; `workers.sending.reconnect` calls this and then
    restarts their sends.
    """
    if not page_token:
        raise ValueError("a Page token is needed")
    await conn.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(
            page_token=secrets.encrypt(page_token),
            status=ACTIVE,
            status_reason=None,
            updated_at=now,
        )
    )


async def set_human_agent(conn: AsyncConnection, channel_id: int, allowed: bool) -> None:
    """Whether the Page's app holds Meta's Human Agent permission (7-day replies by people)."""
    await conn.execute(
        update(channels).where(channels.c.id == channel_id).values(has_human_agent=allowed)
    )


async def mark_unreachable(conn: AsyncConnection, contact_id: int, reason: str) -> None:
    await conn.execute(
        update(contacts).where(contacts.c.id == contact_id).values(unreachable_reason=reason)
    )
