"""What Frontdesk itself saw of a channel, for the doctor: its token, events, failed replies.

Read in the caller's transaction, in a few short queries; nothing here calls Meta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import LargeBinary, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

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
from frontdesk.store.tables import channels, messages, webhook_bodies

RECENT = 24 * 3600.0
"""Send failures older than this are history, not a finding."""
STUCK_TRIES = 3
"""A reply Meta answered "try again later" this many times is a finding while it waits."""
POLICY_SCAN = 10_000
"""How many of the newest stored webhook bodies are searched for Meta's policy notices and for
standby messages. The 50 newest matches (of all Pages) are read: a notice further back, or
drowned by other Pages' traffic, is missed here, never invented."""


@dataclass(frozen=True)
class SendFailure:
    """A reply that failed lately, or one still queued after "try again later" answers."""

    conversation_id: int
    queued: bool
    reason: str | None
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
    sent_since: Mapping[int, float]
    """Conversation → when a reply to it last went out (for failures that were overcome)."""
    policy: PolicyNotice | None
    last_standby_at: float | None
    webhook_key: str | None = None
    """A manually connected channel's own Callback URL key (`/webhooks/messenger/{key}`); its
    `app` is then the channel's own Meta app."""
    """When a customer's message last came on standby (another app had the conversation)."""


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
    times = (
        await conn.execute(
            select(
                func.max(case((messages.c.direction == "inbound", messages.c.created_at))),
                func.max(messages.c.delivered_at),
                func.max(messages.c.read_at),
                func.max(case((messages.c.author == "page_inbox", messages.c.created_at))),
                func.max(messages.c.sent_at),
            ).where(mine)
        )
    ).one()
    heard = [t for t in times[:4] if t is not None]
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
        last_sent_at=times[4],
        failures=failures,
        sent_since=await _sent_since(conn, {f.conversation_id for f in failures}),
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


async def _send_failures(
    conn: AsyncConnection, channel_id: int, now: float
) -> tuple[SendFailure, ...]:
    rows = await conn.execute(
        select(
            messages.c.conversation_id,
            messages.c.status,
            messages.c.failure_reason,
            messages.c.outgoing,
            messages.c.created_at,
        )
        .where(
            and_(
                messages.c.channel_id == channel_id,
                messages.c.direction == "outbound",
                or_(
                    and_(messages.c.status == "failed", messages.c.created_at >= now - RECENT),
                    messages.c.status == "queued",
                ),
            )
        )
        .order_by(messages.c.id.desc())
        .limit(500)
    )
    found = []
    for row in rows:
        outgoing = row.outgoing if isinstance(row.outgoing, dict) else {}
        tries = outgoing.get("tries")
        tries = tries if isinstance(tries, int) else 0
        queued = row.status == "queued"
        if queued and tries < STUCK_TRIES:
            continue
        found.append(
            SendFailure(int(row.conversation_id), queued, row.failure_reason, tries, row.created_at)
        )
    return tuple(found)


async def _sent_since(conn: AsyncConnection, conversation_ids: set[int]) -> dict[int, float]:
    if not conversation_ids:
        return {}
    rows = await conn.execute(
        select(messages.c.conversation_id, func.max(messages.c.sent_at))
        .where(
            and_(
                messages.c.conversation_id.in_(conversation_ids),
                messages.c.direction == "outbound",
                messages.c.sent_at.is_not(None),
            )
        )
        .group_by(messages.c.conversation_id)
    )
    return {int(row[0]): float(row[1]) for row in rows}


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
