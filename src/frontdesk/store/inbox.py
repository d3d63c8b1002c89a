"""The agent inbox's lists and conversation facts: views, statuses, search, unread counts.
Callers own the transaction, and check access (web.access) before asking for one conversation.

Lists are read channel by channel, each walking an index on (channel, [assignee,] status, last
message) newest first and stopping after one page, then merged: the cost of a page does not
grow with the number of conversations, nor with other workspaces' (docs/performance.md).
Searching message text reads only the newest SEARCH_DEPTH messages of the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import ConversationStatus, fallback_name

from . import changes
from .tables import channels, contacts, conversations, messages

PAGE = 50
SEARCH_DEPTH = 20_000
"""Messages searched for text, the newest of each Page and direction (a share each): a full
scan would hold SQLite's one connection, and the event loop, as long as the history is long."""
SEARCH_LIMIT = 200
"""Conversations a search finds at most."""
QUERY_LIMIT = 100
VIEWS = ("mine", "unassigned", "all")
STATUSES = tuple(status.value for status in ConversationStatus)
SHOWN_AS = {
    ConversationStatus.OPEN.value: (ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)
}
"""The open list shows the pending conversations too: those waiting for a person are the most
open of all."""
COUNTED = (
    ConversationStatus.OPEN.value,
    ConversationStatus.PENDING.value,
    ConversationStatus.SNOOZED.value,
)
"""Statuses whose conversations are counted on the tabs (resolved ones only pile up)."""


@dataclass(frozen=True)
class Filters:
    """What list to show. `before` is the (last message time, id) of the previous page's last
    row; `query` searches contacts and message text, across statuses."""

    view: str = "all"
    status: str = ConversationStatus.OPEN.value
    channel_id: int | None = None
    query: str = ""
    before: tuple[float, int] | None = None


@dataclass(frozen=True)
class Row:
    """One conversation as the list shows it."""

    id: int
    channel_id: int
    channel_name: str
    contact_id: int
    psid: str
    name: str
    has_picture: bool
    status: str
    owner: str
    assignee: str | None
    last_message_at: float
    preview: str
    unread: int
    snoozed_until: float | None

    @property
    def waiting(self) -> bool:
        """A person was asked for and nobody took it yet."""
        return self.status == ConversationStatus.PENDING.value

    @property
    def cursor(self) -> str:
        return f"{self.last_message_at!r}_{self.id}"


def parse_cursor(text: str) -> tuple[float, int] | None:
    """A page cursor from a URL, or None when it is not one."""
    when, _, number = text.partition("_")
    try:
        moment, ident = float(when), int(number)
    except ValueError:
        return None
    if not (0 <= moment < 1e11) or ident <= 0:  # also refuses nan and inf
        return None
    return moment, ident


_ROW_COLUMNS = (
    conversations.c.id,
    conversations.c.channel_id,
    channels.c.name.label("channel_name"),
    conversations.c.contact_id,
    contacts.c.psid,
    contacts.c.name,
    contacts.c.profile_pic,
    conversations.c.status,
    conversations.c.owner,
    conversations.c.assignee,
    conversations.c.last_message_at,
    conversations.c.preview,
    conversations.c.unread,
    conversations.c.snoozed_until,
)


def _row(found: Any) -> Row:
    name = found.name.strip() if found.name and found.name.strip() else fallback_name(found.psid)
    return Row(
        id=int(found.id),
        channel_id=int(found.channel_id),
        channel_name=str(found.channel_name),
        contact_id=int(found.contact_id),
        psid=str(found.psid),
        name=name,
        has_picture=bool(found.profile_pic),
        status=str(found.status),
        owner=str(found.owner),
        assignee=found.assignee,
        last_message_at=float(found.last_message_at),
        preview=found.preview or "",
        unread=int(found.unread),
        snoozed_until=found.snoozed_until,
    )


async def workspace_channels(conn: AsyncConnection, workspace_id: int) -> list[int]:
    rows = await conn.execute(select(channels.c.id).where(channels.c.workspace_id == workspace_id))
    return sorted(int(row.id) for row in rows)


def _scope(channel_ids: list[int], filters: Filters) -> list[int]:
    if filters.channel_id is None:
        return channel_ids
    return [filters.channel_id] if filters.channel_id in channel_ids else []


def _view(user_id: int, view: str) -> Any:
    if view == "mine":
        return conversations.c.assignee == str(user_id)
    if view == "unassigned":
        return conversations.c.assignee.is_(None)
    return None


async def page(
    conn: AsyncConnection, workspace_id: int, user_id: int, filters: Filters, limit: int = PAGE
) -> tuple[list[Row], bool]:
    """One page of the list, newest first, and whether more follow. Each (channel, status)
    walks its own index range, so that a page costs the same however many rows there are."""
    scope = _scope(await workspace_channels(conn, workspace_id), filters)
    if not scope:
        return [], False
    if filters.query.strip():
        found = await _search(conn, scope, filters.query, limit + 1)
        return found[:limit], len(found) > limit
    view = _view(user_id, filters.view)
    branches = []
    statuses = SHOWN_AS.get(filters.status, (filters.status,))
    for channel_id, status in ((c, s) for c in scope for s in statuses):
        where = [
            conversations.c.channel_id == channel_id,
            conversations.c.status == status,
            conversations.c.last_message_at.is_not(None),
        ]
        if view is not None:
            where.append(view)
        if filters.before is not None:
            moment, ident = filters.before
            where.append(
                or_(
                    conversations.c.last_message_at < moment,
                    and_(conversations.c.last_message_at == moment, conversations.c.id < ident),
                )
            )
        branches.append(
            select(conversations.c.id, conversations.c.last_message_at)
            .where(*where)
            .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
            .limit(limit + 1)
        )
    # Each branch is a short walk of its channel's index; only ids cross, rows come after.
    chosen: list[Any] = []
    for part in _parts(branches):
        picked = union_all(*(branch.subquery().select() for branch in part)).subquery()
        chosen += (
            await conn.execute(
                select(picked.c.id, picked.c.last_message_at)
                .order_by(picked.c.last_message_at.desc(), picked.c.id.desc())
                .limit(limit + 1)
            )
        ).all()
    chosen.sort(key=lambda row: (row.last_message_at, row.id), reverse=True)
    ids = [int(row.id) for row in chosen[: limit + 1]]
    rows = await rows_of(conn, ids[:limit])
    return rows, len(ids) > limit


UNION_MOST = 200
"""Branches per UNION ALL: SQLite refuses a compound SELECT of more than 500 terms, and a
workspace may have hundreds of Pages (two branches each for the open list)."""


def _parts(branches: list[Any]) -> list[list[Any]]:
    return [branches[i : i + UNION_MOST] for i in range(0, len(branches), UNION_MOST)]


async def rows_of(conn: AsyncConnection, ids: list[int]) -> list[Row]:
    """The list rows of these conversations, newest first."""
    if not ids:
        return []
    found = await conn.execute(
        select(*_ROW_COLUMNS)
        .join(contacts, contacts.c.id == conversations.c.contact_id)
        .join(channels, channels.c.id == conversations.c.channel_id)
        .where(conversations.c.id.in_(ids))
        .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
    )
    return [_row(row) for row in found]


def _like(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _search(conn: AsyncConnection, scope: list[int], query: str, limit: int) -> list[Row]:
    """Conversations whose contact's name (or PSID) or recent messages contain `query`."""
    pattern = _like(query.strip()[:QUERY_LIMIT])
    by_contact = (
        select(conversations.c.id)
        .join(contacts, contacts.c.id == conversations.c.contact_id)
        .where(
            conversations.c.channel_id.in_(scope),
            conversations.c.last_message_at.is_not(None),
            or_(contacts.c.name.ilike(pattern, escape="\\"), contacts.c.psid == query.strip()),
        )
        .limit(SEARCH_LIMIT)
    )
    # The newest messages each way of each channel, read in the order of the index on
    # (channel, direction, time): no sort, and never more than SEARCH_DEPTH rows in all.
    depth = max(1, SEARCH_DEPTH // (2 * len(scope)))
    newest = [
        select(messages.c.conversation_id, messages.c.text)
        .where(messages.c.channel_id == channel_id, messages.c.direction == direction)
        .order_by(messages.c.created_at.desc())
        .limit(depth)
        .subquery()
        .select()
        for channel_id in scope
        for direction in ("inbound", "outbound")
    ]
    by_text = []
    for part in _parts(newest):
        recent = union_all(*part).subquery()
        by_text.append(
            select(recent.c.conversation_id)
            .where(recent.c.text.ilike(pattern, escape="\\"))
            .distinct()
            .limit(SEARCH_LIMIT)
        )
    ids: dict[int, None] = {}
    for query_ in (by_contact, *by_text):
        for row in await conn.execute(query_):
            ids.setdefault(int(row[0]), None)
    found = await rows_of(conn, list(ids))
    return found[:limit]


async def counts(
    conn: AsyncConnection, workspace_id: int, user_id: int, filters: Filters
) -> dict[str, int]:
    """How many conversations each counted status holds in the current view and channel (the
    open count includes the pending ones, as the open list does)."""
    scope = _scope(await workspace_channels(conn, workspace_id), filters)
    found = dict.fromkeys(COUNTED, 0)
    if not scope:
        return found
    where = [
        conversations.c.channel_id.in_(scope),
        conversations.c.status.in_(COUNTED),
        conversations.c.last_message_at.is_not(None),
    ]
    view = _view(user_id, filters.view)
    if view is not None:
        where.append(view)
    rows = await conn.execute(
        select(conversations.c.status, func.count()).where(*where).group_by(conversations.c.status)
    )
    for status, number in rows:
        found[str(status)] = int(number)
    found[ConversationStatus.OPEN.value] += found[ConversationStatus.PENDING.value]
    return found


# --- one conversation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """One conversation with its contact and channel, for the conversation view."""

    id: int
    status: str
    owner: str
    assignee: str | None
    handoff: dict[str, Any]
    snoozed_until: float | None
    unread: int
    created_at: float
    channel_id: int
    channel_name: str
    page_id: str
    link: str
    channel_status: str
    has_human_agent: bool
    contact_id: int
    psid: str
    contact_name: str | None
    locale: str | None
    has_picture: bool
    first_seen: float
    last_user_at: float | None
    unreachable_reason: str | None

    @property
    def name(self) -> str:
        name = (self.contact_name or "").strip()
        return name or fallback_name(self.psid)

    @property
    def stage(self) -> str:
        return str(self.handoff.get("stage") or "bot")


async def detail(conn: AsyncConnection, conversation_id: int) -> Detail:
    row = (
        await conn.execute(
            select(
                conversations.c.id,
                conversations.c.status,
                conversations.c.owner,
                conversations.c.assignee,
                conversations.c.handoff,
                conversations.c.snoozed_until,
                conversations.c.unread,
                conversations.c.created_at,
                channels.c.id.label("channel_id"),
                channels.c.name.label("channel_name"),
                channels.c.page_id,
                channels.c.link,
                channels.c.status.label("channel_status"),
                channels.c.has_human_agent,
                contacts.c.id.label("contact_id"),
                contacts.c.psid,
                contacts.c.name.label("contact_name"),
                contacts.c.locale,
                contacts.c.profile_pic,
                contacts.c.created_at.label("first_seen"),
                contacts.c.last_user_at,
                contacts.c.unreachable_reason,
            )
            .join(channels, channels.c.id == conversations.c.channel_id)
            .join(contacts, contacts.c.id == conversations.c.contact_id)
            .where(conversations.c.id == conversation_id)
        )
    ).one()
    return Detail(
        id=int(row.id),
        status=str(row.status),
        owner=str(row.owner),
        assignee=row.assignee,
        handoff=dict(row.handoff or {}),
        snoozed_until=row.snoozed_until,
        unread=int(row.unread),
        created_at=float(row.created_at),
        channel_id=int(row.channel_id),
        channel_name=str(row.channel_name),
        page_id=str(row.page_id),
        link=str(row.link),
        channel_status=str(row.channel_status),
        has_human_agent=bool(row.has_human_agent),
        contact_id=int(row.contact_id),
        psid=str(row.psid),
        contact_name=row.contact_name,
        locale=row.locale,
        has_picture=bool(row.profile_pic),
        first_seen=float(row.first_seen),
        last_user_at=row.last_user_at,
        unreachable_reason=row.unreachable_reason,
    )


async def picture_of(conn: AsyncConnection, contact_id: int) -> str | None:
    """The contact's kept profile picture (a `media:` reference), if any."""
    found = await conn.execute(select(contacts.c.profile_pic).where(contacts.c.id == contact_id))
    value = found.scalar()
    return str(value) if value else None


async def mark_read(conn: AsyncConnection, conversation_id: int, channel_id: int) -> bool:
    """An agent opened the conversation: its unread count goes to 0. True if it had any."""
    changed = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.unread > 0)
        .values(unread=0)
    )
    if changed.rowcount:
        await changes.note(conn, channel_id, conversation_id, changes.CONVERSATION)
    return bool(changed.rowcount)


async def set_status(
    conn: AsyncConnection,
    conversation_id: int,
    channel_id: int,
    status: ConversationStatus,
    *,
    snoozed_until: float | None = None,
) -> None:
    """Resolve, reopen or snooze (`snoozed_until` only for a snooze)."""
    if (status is ConversationStatus.SNOOZED) != (snoozed_until is not None):
        raise ValueError("a snoozed conversation, and only it, has a time to open again")
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(status=status.value, snoozed_until=snoozed_until)
    )
    await changes.note(conn, channel_id, conversation_id, changes.CONVERSATION)


async def wake(conn: AsyncConnection, conversation_id: int, until: float) -> bool:
    """A snooze ended: open the conversation, if it is still snoozed until that time."""
    row = (
        await conn.execute(
            update(conversations)
            .where(
                conversations.c.id == conversation_id,
                conversations.c.status == ConversationStatus.SNOOZED.value,
                conversations.c.snoozed_until == until,
            )
            .values(status=ConversationStatus.OPEN.value, snoozed_until=None)
            .returning(conversations.c.channel_id)
        )
    ).first()
    if row is None:
        return False
    await changes.note(conn, int(row.channel_id), conversation_id, changes.CONVERSATION)
    return True


async def credit(
    conn: AsyncConnection,
    message_id: int,
    agent_id: int,
    agent_name: str,
    *,
    attachments: list[dict[str, Any]] | None = None,
) -> None:
    """Name the agent who wrote an outgoing message (and, for a file they sent, where it is
    kept, so the transcript shows it)."""
    values: dict[str, Any] = {"agent_id": agent_id, "agent_name": agent_name[:100]}
    if attachments is not None:
        values["attachments"] = attachments
    row = (
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(**values)
            .returning(messages.c.channel_id, messages.c.conversation_id)
        )
    ).one()
    await changes.note(
        conn, int(row.channel_id), int(row.conversation_id), changes.MESSAGE, message_id=message_id
    )


async def held_by(conn: AsyncConnection, assignee: str) -> list[int]:
    """The conversations a person holds (rare: when they leave the team)."""
    found = await conn.execute(
        select(conversations.c.id)
        .where(conversations.c.assignee == assignee)
        .order_by(conversations.c.id)
    )
    return [int(row.id) for row in found]
