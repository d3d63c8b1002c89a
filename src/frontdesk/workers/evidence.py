"""What Frontdesk itself saw of a channel, for the doctor: its token, events, failed replies.

Read in the caller's transaction, in a few short queries; nothing here calls Meta. Each query
reads a bounded number of rows whatever the channel's history: the newest of something is read
from the newest end of an index on the channel's messages (`store.tables`, the partial indexes
of the messages that have it), failed and waiting replies from one of just those, at most
MOST_FAILURES of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, TextClause, and_, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import FailureCode, MessageStatus
from frontdesk.messenger import (
    Event,
    MalformedPayload,
    MessageEvent,
    PolicyEnforcement,
    PostbackEvent,
    parse,
)
from frontdesk.store import hooks, meta_apps
from frontdesk.store.meta_apps import MetaApp
from frontdesk.store.secrets import SecretError, Secrets
from frontdesk.store.tables import (
    DELIVERED,
    PAGE_INBOX,
    READ,
    SENT,
    UNSENT,
    channels,
    messages,
    webhook_bodies,
)

RECENT = 24 * 3600.0
"""Send failures older than this are history, not a finding."""
STUCK_TRIES = 3
"""A reply Meta answered "try again later" this many times is a finding while it waits."""
POLICY_SCAN = 10_000
"""How many of the newest stored webhook bodies are searched for Meta's policy notices and for
standby messages. The 50 newest matches (of all Pages) are read: a notice further back, or
drowned by other Pages' traffic, is missed here, never invented."""
MOST_FAILURES = 500
"""Failed replies (and, apart, replies waiting) read at most, newest first."""


@dataclass(frozen=True)
class SendFailure:
    """A reply that failed lately, or one still queued after "try again later" answers."""

    message_id: int
    conversation_id: int
    queued: bool
    code: FailureCode | None
    """Why it failed (None: failed before codes were kept, or still queued)."""
    tries: int
    at: float


@dataclass(frozen=True)
class PolicyNotice:
    """Meta's latest policy enforcement notice for the Page (digest §3.20)."""

    action: str
    reason: str | None
    at: float


@dataclass(frozen=True)
class Facts:
    """What Frontdesk itself knows about one channel, read in one short transaction."""

    channel_id: int
    page_id: str
    name: str
    app: MetaApp | None = field(repr=False)
    """The workspace's own Meta app when it uses one; None for the operator's."""
    status: str
    status_reason: str | None
    status_changed_at: float
    page_token: str | None = field(repr=False)
    token_problem: str | None
    """Why there is no usable Page token (None when there is one)."""
    last_event_at: float | None
    """When Messenger last told Frontdesk anything about this Page (message, receipt, echo)."""
    last_sent_at: float | None
    failures: tuple[SendFailure, ...]
    overcome: frozenset[int]
    """The failed replies (message ids) after which a reply of the same conversation went out."""
    policy: PolicyNotice | None
    last_standby_at: float | None
    """When a customer's message last came on standby (another app had the conversation)."""
    webhook_key: str | None = None
    """A manually connected channel's own Callback URL key (`/webhooks/messenger/{key}`); its
    `app` is then the channel's own Meta app."""


async def channel_ids(conn: AsyncConnection, page_id: str | None = None) -> list[int]:
    query = select(channels.c.id).order_by(channels.c.id)
    if page_id is not None:
        query = query.where(channels.c.page_id == page_id)
    return [int(row.id) for row in await conn.execute(query)]


async def gather_facts(
    conn: AsyncConnection, secrets: Secrets, channel_id: int, now: float
) -> Facts | None:
    """The channel's facts, or None when it does not exist (any more)."""
    row = (await conn.execute(select(channels).where(channels.c.id == channel_id))).first()
    if row is None:
        return None
    token, problem = _open_token(secrets, row.page_token)
    app = await _own_app(conn, secrets, row.workspace_id)
    webhook_key = None
    manual = await hooks.channel_app(conn, secrets, channel_id)
    if manual is not None:
        app, webhook_key = manual
    mine = messages.c.channel_id == channel_id
    heard = [
        t
        for t in (
            await _newest(conn, messages.c.created_at, mine, messages.c.direction == "inbound"),
            await _newest(conn, messages.c.delivered_at, mine, text(DELIVERED)),
            await _newest(conn, messages.c.read_at, mine, text(READ)),
            await _newest(conn, messages.c.created_at, mine, text(PAGE_INBOX)),
        )
        if t is not None
    ]
    failures = await _send_failures(conn, channel_id, now)
    return Facts(
        channel_id=channel_id,
        page_id=str(row.page_id),
        name=str(row.name or row.page_id),
        app=app,
        status=str(row.status),
        status_reason=row.status_reason,
        status_changed_at=float(row.updated_at),
        page_token=token,
        token_problem=problem,
        last_event_at=max(heard) if heard else None,
        last_sent_at=await _newest(conn, messages.c.sent_at, mine, text(SENT)),
        failures=failures,
        overcome=await _overcome(conn, failures),
        policy=await _policy_notice(conn, str(row.page_id)),
        last_standby_at=await _last_standby(conn, str(row.page_id)),
        webhook_key=webhook_key,
    )


async def _own_app(
    conn: AsyncConnection, secrets: Secrets, workspace_id: int | None
) -> MetaApp | None:
    if workspace_id is None:
        return None  # not claimed by a workspace yet: the operator's app connected it
    nobody = MetaApp("", "", "", "", "")
    app = await meta_apps.app_for_workspace(conn, secrets, int(workspace_id), nobody)
    return None if app is nobody else app


def _open_token(secrets: Secrets, sealed: bytes | None) -> tuple[str | None, str | None]:
    if sealed is None:
        return None, "No Page token is stored for this Page."
    try:
        return secrets.decrypt(sealed), None
    except SecretError:
        return None, (
            "The stored Page token cannot be opened: it was encrypted with a secret key this "
            "Frontdesk no longer has."
        )


async def _newest(
    conn: AsyncConnection,
    column: Any,
    mine: ColumnElement[bool],
    having: ColumnElement[bool] | TextClause,
) -> float | None:
    """The largest `column` among the channel's messages that satisfy `having`: the first row
    of an index on (channel, ..., column) read from its newest end. `having` is the index's
    own predicate, spelled as the index spells it, so that both databases use it."""
    row = (
        await conn.execute(select(column).where(mine, having).order_by(column.desc()).limit(1))
    ).first()
    return None if row is None or row[0] is None else float(row[0])


def _code(value: str | None) -> FailureCode | None:
    try:
        return None if value is None else FailureCode(value)
    except ValueError:
        return None  # a code a later Frontdesk wrote: of no kind this one knows


async def _send_failures(
    conn: AsyncConnection, channel_id: int, now: float
) -> tuple[SendFailure, ...]:
    """Replies that failed in the last RECENT seconds, and replies still waiting after STUCK_TRIES
    "try later" answers: two ranges of the index of unsent replies, newest first."""
    columns = (
        messages.c.id,
        messages.c.conversation_id,
        messages.c.status,
        messages.c.failure_code,
        messages.c.outgoing,
        messages.c.created_at,
    )
    unsent = and_(messages.c.channel_id == channel_id, text(UNSENT))
    failed = await conn.execute(
        select(*columns)
        .where(
            unsent,
            messages.c.status == MessageStatus.FAILED.value,
            messages.c.created_at >= now - RECENT,
        )
        .order_by(messages.c.created_at.desc())
        .limit(MOST_FAILURES)
    )
    found = []
    for row in failed:
        found.append(
            SendFailure(
                int(row.id),
                int(row.conversation_id),
                False,
                _code(row.failure_code),
                _tries(row.outgoing),
                float(row.created_at),
            )
        )
    waiting = await conn.execute(
        select(*columns)
        .where(unsent, messages.c.status == MessageStatus.QUEUED.value)
        .order_by(messages.c.created_at.desc())
        .limit(MOST_FAILURES)
    )
    for row in waiting:
        tries = _tries(row.outgoing)
        if tries >= STUCK_TRIES:
            found.append(
                SendFailure(
                    int(row.id), int(row.conversation_id), True, None, tries, float(row.created_at)
                )
            )
    return tuple(found)


def _tries(outgoing: Any) -> int:
    tries = outgoing.get("tries") if isinstance(outgoing, dict) else None
    return tries if isinstance(tries, int) and not isinstance(tries, bool) else 0


async def _overcome(conn: AsyncConnection, failures: tuple[SendFailure, ...]) -> frozenset[int]:
    """The failed replies after which the conversation got a reply out. Per conversation, the
    newest reply that went out after its earliest recent failure: a range of the conversation's
    index that starts at that failure (at most RECENT old), not its whole history. Replies of a
    conversation go out in order, so "after" is by id."""
    earliest: dict[int, int] = {}
    for failure in failures:
        if not failure.queued:
            first = earliest.get(failure.conversation_id, failure.message_id)
            earliest[failure.conversation_id] = min(first, failure.message_id)
    newest_sent: dict[int, int] = {}
    for conversation_id, first in earliest.items():
        found = (
            await conn.execute(
                select(func.max(messages.c.id)).where(
                    messages.c.conversation_id == conversation_id,
                    messages.c.id > first,
                    messages.c.direction == "outbound",
                    messages.c.sent_at.is_not(None),
                )
            )
        ).scalar()
        if found is not None:
            newest_sent[conversation_id] = int(found)
    return frozenset(
        f.message_id
        for f in failures
        if not f.queued and newest_sent.get(f.conversation_id, 0) > f.message_id
    )


async def _bodies_mentioning(conn: AsyncConnection, word: bytes) -> list[bytes]:
    """The newest stored webhook bodies (at most 50) that contain `word`, among the newest
    POLICY_SCAN: a range on the key, so the cost is bounded however long the table grows."""
    newest = (await conn.execute(select(func.max(webhook_bodies.c.id)))).scalar()
    if newest is None:
        return []
    # A cheap filter on the raw bytes before parsing: bytea LIKE on PostgreSQL; SQLite's LIKE
    # never matches a blob, but its instr() searches one byte for byte.
    if conn.dialect.name == "sqlite":
        mentions = func.instr(webhook_bodies.c.body, literal(word, LargeBinary)) > 0
    else:
        mentions = webhook_bodies.c.body.op("LIKE")(literal(b"%" + word + b"%", LargeBinary))
    rows = await conn.execute(
        select(webhook_bodies.c.body)
        .where(and_(webhook_bodies.c.id > newest - POLICY_SCAN, mentions))
        .order_by(webhook_bodies.c.id.desc())
        .limit(50)
    )
    return [bytes(row.body) for row in rows]


def _events(bodies: list[bytes], page_id: str) -> list[Event]:
    found = []
    for body in bodies:
        try:
            batch = parse(body)
        except MalformedPayload:
            continue  # kept as malformed by the intake; nothing to read here
        found += [event for event in batch.events if event.page_id == page_id]
    return found


async def _policy_notice(conn: AsyncConnection, page_id: str) -> PolicyNotice | None:
    """Meta's newest block / unblock / warning for the Page among the recent webhook bodies; a
    notice older than those is left to the send pipeline, which flags the channel when a reply
    meets the restriction."""
    latest: PolicyNotice | None = None
    for event in _events(await _bodies_mentioning(conn, b"policy_enforcement"), page_id):
        if isinstance(event, PolicyEnforcement):
            at = event.timestamp / 1000
            if latest is None or at > latest.at:
                latest = PolicyNotice(event.action, event.reason, at)
    return latest


async def _last_standby(conn: AsyncConnection, page_id: str) -> float | None:
    """When a customer's event for the Page last came on standby: another app (or Meta's Page
    Inbox) owned the conversation (digest §3.18)."""
    times = [
        event.timestamp / 1000
        for event in _events(await _bodies_mentioning(conn, b'"standby"'), page_id)
        if event.standby and isinstance(event, MessageEvent | PostbackEvent)
    ]
    return max(times, default=None)
