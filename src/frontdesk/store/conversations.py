"""Contacts, conversations and messages: the record of every chat. Callers own the transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    Integer,
    String,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handoff import DEFAULT_HUMAN_COMMANDS, HandoffStage, HandoffState
from frontdesk.core.models import (
    Author,
    Contact,
    ConversationStatus,
    MessageStatus,
    can_advance,
)

from . import changes
from .channels import REMOVED
from .prepared import Prepared, padded
from .tables import MOVING, channels, contacts, conversations, handoff_settings, messages


@dataclass(frozen=True)
class Channel:
    id: int
    page_id: str
    link: str
    status: str
    human_words: tuple[str, ...] = DEFAULT_HUMAN_COMMANDS
    """What asks for a person on this channel (its handoff settings, else core's)."""


@dataclass(frozen=True)
class Thread:
    """The contact and conversation one event belongs to."""

    channel_id: int
    contact_id: int
    conversation_id: int
    owner: str
    contact: Contact | None = None
    """The contact as `thread_for` read (or made) it; None when the thread came otherwise."""
    profile_checked_at: float | None = None
    """When the contact's profile was last asked for, as `thread_for` read it."""


# The statements of the worker's hot path are built once and run by the driver (`prepared`):
# building a statement, or running it through SQLAlchemy, costs ten times what SQLite takes.
_CHANNEL_FOR_PAGE = Prepared(
    select(
        channels.c.id,
        channels.c.page_id,
        channels.c.link,
        channels.c.status,
        handoff_settings.c.keywords,
    )
    .select_from(
        channels.outerjoin(handoff_settings, handoff_settings.c.channel_id == channels.c.id)
    )
    # The live channel: a channel removed with its history kept takes no more events, and
    # another workspace's channel may have the Page now.
    .where(channels.c.page_id == bindparam("page_id"), channels.c.status != REMOVED)
)
_THREAD = Prepared(
    select(
        contacts.c.id,
        conversations.c.id.label("conversation_id"),
        conversations.c.owner,
        contacts.c.name,
        contacts.c.locale,
        contacts.c.profile_checked_at,
    )
    .select_from(contacts.outerjoin(conversations, conversations.c.contact_id == contacts.c.id))
    .where(
        and_(contacts.c.channel_id == bindparam("channel_id"), contacts.c.psid == bindparam("psid"))
    )
)
# Who to tell of the message comes back with the update: no query of its own (`changes`).
_WORKSPACE_OF_CONVERSATION = (
    select(channels.c.workspace_id)
    .where(channels.c.id == conversations.c.channel_id)
    .scalar_subquery()
)
_LAST_MESSAGE_AT = Prepared(
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"))
    .values(last_message_at=bindparam("now"), preview=bindparam("preview"))
    .returning(conversations.c.assignee, _WORKSPACE_OF_CONVERSATION.label("workspace_id"))
)
_CLOSED = (ConversationStatus.RESOLVED.value, ConversationStatus.SNOOZED.value)
# A customer's message counts as unread, and opens a resolved or snoozed conversation again.
_INBOUND_AT = Prepared(
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"))
    .values(
        last_message_at=bindparam("now"),
        preview=bindparam("preview"),
        unread=conversations.c.unread + 1,
        status=case(
            (conversations.c.status.in_(_CLOSED), ConversationStatus.OPEN.value),
            else_=conversations.c.status,
        ),
        snoozed_until=None,
    )
    .returning(conversations.c.assignee, _WORKSPACE_OF_CONVERSATION.label("workspace_id"))
)
PREVIEW_LIMIT = 200
_USER_AT = bindparam("last_user_at", type_=Double)
_TOUCH_CONTACT = Prepared(
    update(contacts)
    .where(contacts.c.id == bindparam("contact_id"))
    .values(
        last_user_at=case(
            ((contacts.c.last_user_at.is_(None)) | (contacts.c.last_user_at < _USER_AT), _USER_AT),
            else_=contacts.c.last_user_at,
        ),
        unreachable_reason=None,
    )
)
_CONTACT = Prepared(
    select(contacts.c.psid, contacts.c.name, contacts.c.locale).where(
        contacts.c.id == bindparam("contact_id")
    )
)
_HISTORY = Prepared(
    select(messages.c.author, messages.c.text)
    .where(
        and_(
            messages.c.conversation_id == bindparam("conversation_id"),
            messages.c.id < bindparam("before_id"),
            messages.c.text.is_not(None),
        )
    )
    .order_by(messages.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_HANDOFF_READ = select(conversations.c.handoff, conversations.c.created_at).where(
    conversations.c.id == bindparam("conversation_id")
)
_HANDOFF = Prepared(_HANDOFF_READ, lock={})


async def channel_for_page(conn: AsyncConnection, page_id: str) -> Channel | None:
    row = await _CHANNEL_FOR_PAGE.first(conn, page_id=page_id)
    if row is None:
        return None
    words = row.keywords
    return Channel(
        row.id,
        row.page_id,
        row.link,
        row.status,
        tuple(str(w) for w in words) if isinstance(words, list) else DEFAULT_HUMAN_COMMANDS,
    )


async def add_channel(
    conn: AsyncConnection,
    page_id: str,
    name: str,
    now: float,
    *,
    page_token: bytes | None = None,
    link: str = "inbox",
) -> int:
    result = await conn.execute(
        insert(channels)
        .values(
            page_id=page_id,
            name=name,
            page_token=page_token,
            link=link,
            status="active",
            has_human_agent=False,
            created_at=now,
            updated_at=now,
        )
        .returning(channels.c.id)
    )
    return int(result.scalar_one())


async def thread_for(conn: AsyncConnection, channel_id: int, psid: str, now: float) -> Thread:
    """The contact and conversation for (channel, PSID), created on first sight."""
    found = await _THREAD.first(conn, channel_id=channel_id, psid=psid)
    if found is None:
        contact_id = int(
            (
                await conn.execute(
                    insert(contacts)
                    .values(channel_id=channel_id, psid=psid, created_at=now)
                    .returning(contacts.c.id)
                )
            ).scalar_one()
        )
        contact, checked_at = Contact(psid=psid), None
    else:
        contact_id = int(found.id)
        contact = Contact(psid=psid, name=found.name, locale=found.locale)
        checked_at = found.profile_checked_at
        if found.conversation_id is not None:
            owner = str(found.owner)
            return Thread(
                channel_id, contact_id, int(found.conversation_id), owner, contact, checked_at
            )
        # A contact without a conversation (one was deleted): a new one begins.
    conversation_id = int(
        (
            await conn.execute(
                insert(conversations)
                .values(
                    channel_id=channel_id,
                    contact_id=contact_id,
                    status="open",
                    owner="handler",
                    created_at=now,
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()
    )
    return Thread(channel_id, contact_id, conversation_id, "handler", contact, checked_at)


def preview(text: str | None, attachments: Any = None, outgoing: Any = None) -> str:
    """A message as one line of the inbox's list: its text, else what it carries."""
    if text and text.strip():
        return " ".join(text.split())[:PREVIEW_LIMIT]
    if isinstance(attachments, list) and attachments:
        first = attachments[0]
        kind = first.get("type") if isinstance(first, dict) else None
        return f"[{kind if isinstance(kind, str) else 'attachment'}]"[:PREVIEW_LIMIT]
    if isinstance(outgoing, dict) and "postback" in outgoing:
        return "[button]"
    return ""


async def add_message(conn: AsyncConnection, thread: Thread, now: float, **values: Any) -> int:
    """Store one message; `mid` is unique per channel, so make sure no message has it first (or
    use `add_new_message`)."""
    result = await conn.execute(
        insert(messages).values(**_row(thread, now, values)).returning(messages.c.id)
    )
    message_id = int(result.scalar_one())
    await _added(conn, thread, now, message_id, values)
    return message_id


async def add_new_message(
    conn: AsyncConnection, thread: Thread, now: float, *, mid: str, **values: Any
) -> int | None:
    """Store one message unless the channel has one with this `mid` already (a redelivery):
    its id, or None. One statement where a look-up + `add_message` take two, and two
    workers filing the same `mid` at once cannot both succeed nor fail."""
    row = dict.fromkeys(_NEW_MESSAGE_COLUMNS)
    row.update(_row(thread, now, values), mid=mid)
    if len(row) > len(_NEW_MESSAGE_COLUMNS):
        unknown = sorted(row.keys() - _NEW_MESSAGE_COLUMNS)
        raise TypeError(f"add_new_message does not write {unknown}")
    found = await _ADD_NEW_MESSAGE[conn.dialect.name].scalar(conn, **row)
    if found is None:
        return None
    await _added(conn, thread, now, int(found), values)
    return int(found)


_NEW_MESSAGE_COLUMNS = frozenset(
    {
        "conversation_id",
        "channel_id",
        "created_at",
        "mid",
        "direction",
        "author",
        "status",
        "meta_timestamp",
        "text",
        "attachments",
        "outgoing",
        "reply_to_mid",
    }
)
"""What `add_new_message` writes (a column not given is NULL)."""
_ADD_NEW_MESSAGE = {
    name: Prepared(
        make(messages)
        .values(
            {
                # None is SQL NULL in a JSON column too, as for a column not written at all.
                column: bindparam(column, type_=JSON(none_as_null=True))
                if isinstance(messages.c[column].type, JSON)
                else bindparam(column)
                for column in sorted(_NEW_MESSAGE_COLUMNS)
            }
        )
        .on_conflict_do_nothing(index_elements=[messages.c.channel_id, messages.c.mid])
        .returning(messages.c.id)
    )
    for name, make in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
"""Built once: run for every message a person sends."""


def _row(thread: Thread, now: float, values: dict[str, Any]) -> dict[str, Any]:
    """A message row of `thread`'s conversation, stored `now`."""
    return {
        "conversation_id": thread.conversation_id,
        "channel_id": thread.channel_id,
        "created_at": now,
        **values,
    }


async def _added(
    conn: AsyncConnection, thread: Thread, now: float, message_id: int, values: dict[str, Any]
) -> None:
    """A message was stored: its conversation's last message, unread count and status, and
    the change announced."""
    inbound = values.get("direction") == "inbound"
    touched = await (_INBOUND_AT if inbound else _LAST_MESSAGE_AT).one(
        conn,
        conversation_id=thread.conversation_id,
        now=now,
        preview=preview(values.get("text"), values.get("attachments"), values.get("outgoing")),
    )
    if touched.workspace_id is not None:  # a channel of no workspace: nobody to tell
        await changes.note(
            conn,
            thread.channel_id,
            thread.conversation_id,
            changes.INBOUND if inbound else changes.MESSAGE,
            message_id=message_id,
            assignee=touched.assignee,
            workspace_id=int(touched.workspace_id),
        )


async def touch_contact(conn: AsyncConnection, contact_id: int, last_user_at: float) -> None:
    """The person acted: the 24-hour window restarts from the event's own time, and whoever
    just wrote to the Page can be written to again (an earlier "unreachable" is cleared)."""
    await _TOUCH_CONTACT.run(conn, contact_id=contact_id, last_user_at=last_user_at)


async def contact(conn: AsyncConnection, contact_id: int) -> Contact:
    row = await _CONTACT.one(conn, contact_id=contact_id)
    return Contact(psid=row.psid, name=row.name, locale=row.locale)


async def history(
    conn: AsyncConnection, conversation_id: int, before_id: int, limit: int = 20
) -> list[tuple[Author, str]]:
    """The last `limit` messages with text before message `before_id`, oldest first."""
    rows = await _HISTORY.all(
        conn, conversation_id=conversation_id, before_id=before_id, limit=limit
    )
    return [(Author(row.author), str(row.text)) for row in reversed(rows)]


# --- handoff: conversations.handoff holds core's HandoffState; `owner` and `assignee` mirror it


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _stamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


async def handoff_of(conn: AsyncConnection, conversation_id: int) -> HandoffState:
    """The conversation's handoff state, locked (PostgreSQL) until the transaction ends: timers
    and agents may change it concurrently with the conversation's own events."""
    row = await _HANDOFF.one(conn, conversation_id=conversation_id)
    data = row.handoff
    if not data:
        return HandoffState.start(datetime.fromtimestamp(row.created_at, UTC))
    since = _moment(data["since"])
    if since is None:
        raise ValueError(f"conversation {conversation_id}: stored handoff state has no `since`")
    return HandoffState(
        HandoffStage(data["stage"]),
        since=since,
        requested_at=_moment(data.get("requested_at")),
        assignee=data.get("assignee"),
        last_human_activity_at=_moment(data.get("last_human_activity_at")),
        reason=data.get("reason"),
        timeout_at=_moment(data.get("timeout_at")),
    )


# The inbox's status follows who holds the conversation: waiting for a person is `pending`; a
# person taking it makes it `open`. Resolving and snoozing are the inbox's own (store.inbox).
_TAKEN = case(
    (conversations.c.status == ConversationStatus.PENDING.value, ConversationStatus.OPEN.value),
    else_=conversations.c.status,
)


async def save_handoff(conn: AsyncConnection, conversation_id: int, state: HandoffState) -> None:
    data = {
        "stage": state.stage.value,
        "since": _stamp(state.since),
        "requested_at": _stamp(state.requested_at),
        "assignee": state.assignee,
        "last_human_activity_at": _stamp(state.last_human_activity_at),
        "reason": state.reason,
        "timeout_at": _stamp(state.timeout_at),
    }
    waiting = state.stage is HandoffStage.HUMAN_REQUESTED
    row = (
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(
                handoff=data,
                owner=state.owner.value,
                assignee=state.assignee,
                status=ConversationStatus.PENDING.value if waiting else _TAKEN,
            )
            .returning(conversations.c.channel_id)
        )
    ).first()
    if row is not None:
        await changes.note(
            conn,
            int(row.channel_id),
            conversation_id,
            changes.CONVERSATION,
            assignee=state.assignee,
        )


async def mark_outbound(
    conn: AsyncConnection,
    channel_id: int,
    psid: str,
    watermark_ms: int,
    status: MessageStatus,
    now: float,
    mids: tuple[str, ...] = (),
) -> int:
    """Deliveries and reads: every Page message to person `psid` up to the watermark (or
    named in `mids`) moves forward; how many did. One statement for a receipt naming up to
    MIDS_MOST messages, and no contact is made for a receipt from someone never seen."""
    if status not in _RECEIPT_STAMPS:
        raise ValueError(f"receipts move messages to delivered or read, not {status}")
    changed = 0
    # None named: one statement by the watermark alone.
    for some in list(padded(mids, MIDS_MOST)) or [[]]:
        named = {f"mid_{n}": mid for n, mid in enumerate(some)}
        moved = await _receipt(status, len(some)).all(
            conn, channel_id=channel_id, psid=psid, watermark=watermark_ms, now=now, **named
        )
        for row in moved:
            await changes.note(
                conn, channel_id, row.conversation_id, changes.MESSAGE, message_id=row.id
            )
        changed += len(moved)
    return changed


MIDS_MOST = 64
"""Mids one receipt statement names; a longer list takes a statement per MIDS_MOST."""
_RECEIPT_STAMPS = {MessageStatus.DELIVERED: "delivered_at", MessageStatus.READ: "read_at"}


@functools.cache
def _receipt(status: MessageStatus, mids: int) -> Prepared:
    """A receipt moving the person's Page messages to `status`: those it can still move, sent
    before the watermark by Meta's clock (their echo's time) or named among `mids` mids. The
    database picks them: no row comes back but those it moved."""
    person = (
        select(conversations.c.id)
        .join(contacts, contacts.c.id == conversations.c.contact_id)
        .where(
            and_(
                contacts.c.channel_id == bindparam("channel_id"),
                contacts.c.psid == bindparam("psid"),
            )
        )
        .scalar_subquery()
    )
    covered = messages.c.meta_timestamp <= bindparam("watermark", type_=BigInteger)
    if mids:
        named = [bindparam(f"mid_{n}", type_=String) for n in range(mids)]
        covered = or_(covered, messages.c.mid.in_(named))
    return Prepared(
        update(messages)
        .where(
            and_(
                messages.c.conversation_id == person,
                messages.c.status.in_(MOVING),  # the index of messages on their way
                messages.c.direction == "outbound",
                messages.c.status.in_([s.value for s in MessageStatus if can_advance(s, status)]),
                covered,
            )
        )
        .values({"status": status.value, _RECEIPT_STAMPS[status]: bindparam("now", type_=Double)})
        .returning(messages.c.id, messages.c.conversation_id)
    )


async def react(conn: AsyncConnection, channel_id: int, mid: str, emoji: str | None) -> bool:
    row = (
        await conn.execute(
            select(messages.c.id, messages.c.conversation_id, messages.c.reactions).where(
                and_(messages.c.channel_id == channel_id, messages.c.mid == mid)
            )
        )
    ).first()
    if row is None:
        return False
    reactions = dict(row.reactions or {})
    if emoji is None:
        reactions.pop("contact", None)
    else:
        reactions["contact"] = emoji
    await conn.execute(update(messages).where(messages.c.id == row.id).values(reactions=reactions))
    await changes.note(
        conn, channel_id, int(row.conversation_id), changes.MESSAGE, message_id=int(row.id)
    )
    return True


async def edit(conn: AsyncConnection, channel_id: int, mid: str, text: str) -> bool:
    row = (
        await conn.execute(
            update(messages)
            .where(and_(messages.c.channel_id == channel_id, messages.c.mid == mid))
            .values(text=text)
            .returning(messages.c.id, messages.c.conversation_id)
        )
    ).first()
    if row is None:
        return False
    await changes.note(
        conn, channel_id, int(row.conversation_id), changes.MESSAGE, message_id=int(row.id)
    )
    return True
