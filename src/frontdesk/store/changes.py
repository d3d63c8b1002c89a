"""Changes to conversations, announced to the open inbox pages once their transaction commits.

Whoever changes a conversation (the worker filing an event or recording a send, an agent in the
console) calls `note` in the same transaction. The announcement goes out only if that
transaction commits, and it says only WHAT changed (ids), never the content: a page that hears
of it asks for the content again, through the same access checks as any request.

- PostgreSQL: `note` runs `pg_notify` in the transaction; PostgreSQL delivers it at commit, to
  every process that LISTENs (`listen`, one task per web process), on any host. The channel is
  named after the schema, so databases sharing one server never hear each other.
- SQLite: `note` keeps the change with the transaction, and `relay` hands it to the process's
  `Hub` right after the commit (nothing on a rollback). A process with no hub of its own (a
  separate `frontdesk worker`, an admin command) writes its changes into `live_changes` in the
  transaction instead, and `frontdesk serve` reads what is new there every half second.

Each web process has one `Hub`, which fans the changes out to the live connections of the
workspace they belong to. A connection that falls behind, or a listener that lost its
connection to PostgreSQL, gets a `RESYNC` instead of what it missed: the page reloads its view.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from sqlalchemy import Engine, bindparam, delete, event, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .prepared import Prepared
from .tables import channels, live_changes

log = logging.getLogger("frontdesk.changes")

MESSAGE = "message"
"""A message was stored or changed (status, reaction, edit, media downloaded)."""
INBOUND = "inbound"
"""A new message from the customer."""
NOTE = "note"
"""A private note or a system entry was added to the transcript."""
CONVERSATION = "conversation"
"""The conversation itself changed: status, assignment, who holds it, unread, the contact."""
HANDOFF = "handoff"
"""The conversation waits for a person."""
KINDS: Final = frozenset({MESSAGE, INBOUND, NOTE, CONVERSATION, HANDOFF})

_PENDING = "frontdesk.changes"
_NOTIFY_CHANNEL = "'frontdesk_' || left(md5(current_schema()), 16)"
# Run with nearly every statement of the worker's: built once, run by the driver (`prepared`).
_WORKSPACE = Prepared(
    select(channels.c.workspace_id).where(channels.c.id == bindparam("channel_id"))
)
_NOTIFY = Prepared(text(f"SELECT pg_notify({_NOTIFY_CHANNEL}, :payload)"))
MAX_PAYLOAD = 1000
"""Bytes; far below PostgreSQL's 8000, and a payload from elsewhere is refused above it."""

_RELAYED: weakref.WeakSet[Engine] = weakref.WeakSet()
"""SQLite engines whose changes this process hands to its own hub (`feed` is open on them)."""
_WRITE = Prepared(
    insert(live_changes).values(payload=bindparam("payload")).returning(live_changes.c.id)
)
_PRUNE = Prepared(delete(live_changes).where(live_changes.c.id <= bindparam("upto")))
_NEWEST = select(func.max(live_changes.c.id))
_SINCE = (
    select(live_changes.c.id, live_changes.c.payload)
    .where(live_changes.c.id > bindparam("after"))
    .order_by(live_changes.c.id)
    .limit(bindparam("most"))
)
KEPT = 2000
"""Changes kept in `live_changes`: a reader behind by more reloads its pages (a RESYNC)."""
PRUNE_EVERY = 100
"""A writer deletes the older ones once every this many changes."""
READ_MOST = 500


@dataclass(frozen=True)
class Change:
    """What changed, by id. `assignee` is the conversation's (for "my conversations")."""

    workspace_id: int
    conversation_id: int
    kind: str
    message_id: int | None = None
    note_id: int | None = None
    assignee: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"w": self.workspace_id, "c": self.conversation_id, "k": self.kind}
        if self.message_id is not None:
            data["m"] = self.message_id
        if self.note_id is not None:
            data["n"] = self.note_id
        if self.assignee is not None:
            data["a"] = self.assignee
        return json.dumps(data, separators=(",", ":"))

    def public(self) -> dict[str, Any]:
        """What a browser is told: no workspace (it is the browser's own)."""
        data = json.loads(self.encode())
        del data["w"]
        return dict(data)


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def decode(payload: str) -> Change | None:
    """The change a payload names, or None for anything that is not one of ours."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    workspace, conversation, kind = _id(data.get("w")), _id(data.get("c")), data.get("k")
    if workspace is None or conversation is None or kind not in KINDS:
        return None
    assignee = data.get("a")
    return Change(
        workspace,
        conversation,
        str(kind),
        message_id=_id(data.get("m")),
        note_id=_id(data.get("n")),
        assignee=assignee if isinstance(assignee, str) and len(assignee) <= 100 else None,
    )


@dataclass
class _Pending:
    """The changes noted in one transaction (so each is announced once), and the channels'
    workspaces looked up in it."""

    transaction: Any
    changes: dict[Change, None]
    workspaces: dict[int, int | None]


def _pending(conn: AsyncConnection) -> _Pending:
    sync = conn.sync_connection
    if sync is None:
        raise RuntimeError("a change is noted inside an open connection")
    transaction = sync.get_transaction()
    found = sync.info.get(_PENDING)
    if not isinstance(found, _Pending) or found.transaction is not transaction:
        found = _Pending(transaction, {}, {})
        sync.info[_PENDING] = found
    return found


async def note(
    conn: AsyncConnection,
    channel_id: int,
    conversation_id: int,
    kind: str,
    *,
    message_id: int | None = None,
    note_id: int | None = None,
    assignee: str | None = None,
    workspace_id: int | None = None,
) -> None:
    """Announce, once the caller's transaction commits, that a conversation of `channel_id`
    changed. A channel that belongs to no workspace yet has nobody to tell. A caller that read
    the channel's `workspace_id` in its own statement passes it, saving a query."""
    if kind not in KINDS:
        raise ValueError(f"no change kind {kind!r}")
    pending = _pending(conn)
    if workspace_id is not None:
        pending.workspaces[channel_id] = workspace_id
    elif channel_id not in pending.workspaces:
        found = await _WORKSPACE.scalar(conn, channel_id=channel_id)
        pending.workspaces[channel_id] = int(found) if found is not None else None
    workspace = pending.workspaces[channel_id]
    if workspace is None:
        return
    change = Change(workspace, conversation_id, kind, message_id, note_id, assignee)
    if change in pending.changes:
        return
    pending.changes[change] = None
    if conn.dialect.name == "postgresql":
        await _NOTIFY.run(conn, payload=change.encode())
    elif conn.sync_engine not in _RELAYED:
        # SQLite, in a process with no pages of its own: for `frontdesk serve` to read.
        written = await _WRITE.scalar(conn, payload=change.encode())
        if written % PRUNE_EVERY == 0:
            await _PRUNE.run(conn, upto=written - KEPT)


# --- fanning out in a web process ----------------------------------------------------------


class _Resync:
    """Some changes were missed: reload the whole view."""

    def __repr__(self) -> str:
        return "RESYNC"


RESYNC: Final = _Resync()


class _Closed:
    """The process is stopping: end the connection."""

    def __repr__(self) -> str:
        return "CLOSED"


CLOSED: Final = _Closed()


class Subscription:
    """One live connection's changes, in order; `RESYNC` when it fell behind."""

    def __init__(self, workspace_id: int, backlog: int) -> None:
        self.workspace_id = workspace_id
        self._queue: asyncio.Queue[Change | _Resync | _Closed] = asyncio.Queue(backlog)
        self.closed = False

    def put(self, item: Change | _Resync) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # Behind by a whole backlog: what it missed is replaced by one reload.
            self._drop()
            self._queue.put_nowait(RESYNC)

    def close(self) -> None:
        self.closed = True
        self._drop()
        self._queue.put_nowait(CLOSED)

    def _drop(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def next(self) -> Change | _Resync | _Closed:
        """The next change, waiting for one; CLOSED once the process is stopping."""
        return await self._queue.get()


class Hub:
    """The process's live connections, by workspace."""

    def __init__(self, backlog: int = 256) -> None:
        self.backlog = backlog
        self._subscribers: dict[int, set[Subscription]] = {}
        self.closed = False

    @contextlib.contextmanager
    def subscribe(self, workspace_id: int) -> Any:
        subscription = Subscription(workspace_id, self.backlog)
        if self.closed:
            subscription.close()
        self._subscribers.setdefault(workspace_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            listeners = self._subscribers.get(workspace_id, set())
            listeners.discard(subscription)
            if not listeners:
                self._subscribers.pop(workspace_id, None)

    @property
    def connections(self) -> int:
        return sum(len(found) for found in self._subscribers.values())

    def publish(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for subscription in self._subscribers.get(change.workspace_id, ()):
                subscription.put(change)

    def resync(self) -> None:
        for found in self._subscribers.values():
            for subscription in found:
                subscription.put(RESYNC)

    def close(self) -> None:
        """The process is stopping: every connection ends now (a server waits for open
        responses before it stops, and these never end on their own)."""
        self.closed = True
        for found in self._subscribers.values():
            for subscription in found:
                subscription.close()


@contextlib.asynccontextmanager
async def feed(
    engine: AsyncEngine, hub: Hub, *, wait: float = 5.0, every: float = 0.5
) -> AsyncIterator[Hub]:
    """While open, every change committed to the database reaches `hub`: on SQLite, relayed
    after each commit of this process, and read from `live_changes` every `every` seconds for
    other processes'; heard from PostgreSQL otherwise (from every process).

    On PostgreSQL it waits up to `wait` seconds for the listener to be in place, then goes on
    regardless (it keeps trying in the background: pages work, just not live, meanwhile)."""
    if engine.dialect.name != "postgresql":
        with _relay(engine, hub):
            async with engine.begin() as conn:
                newest = (await conn.execute(_NEWEST)).scalar()
            task = asyncio.create_task(_follow(engine, hub, newest, every), name="live-updates")
            task.add_done_callback(_report)
            try:
                yield hub
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        return
    ready = asyncio.Event()
    task = asyncio.create_task(listen(engine, hub, ready=ready), name="live-updates")
    task.add_done_callback(_report)
    waiter = asyncio.create_task(ready.wait(), name="live-updates-ready")
    try:
        await asyncio.wait([task, waiter], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it never ends on its own: raise what ended it
        if not ready.is_set():
            log.warning("live updates: not listening to PostgreSQL yet; still trying")
        yield hub
    finally:
        for running in (waiter, task):
            running.cancel()
        await asyncio.gather(waiter, task, return_exceptions=True)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live updates stopped: pages no longer update live", exc_info=task.exception())


@contextlib.contextmanager
def _relay(engine: AsyncEngine, hub: Hub) -> Any:
    """SQLite: hand each committed transaction's changes to `hub`.

    SQLAlchemy's `commit` event comes just before the database commits; the changes are handed
    over with `call_soon`, which runs once the code committing returns to the event loop, after
    the commit (statements run in the loop's own thread: `inloop_sqlite`). Whoever hears of a
    change reads through the same single connection anyway, so never before the commit.
    """

    def committed(connection: Any) -> None:
        pending = connection.info.pop(_PENDING, None)
        if isinstance(pending, _Pending) and pending.changes:
            asyncio.get_running_loop().call_soon(hub.publish, list(pending.changes))

    def rolled_back(connection: Any) -> None:
        connection.info.pop(_PENDING, None)

    target = engine.sync_engine
    event.listen(target, "commit", committed)
    event.listen(target, "rollback", rolled_back)
    _RELAYED.add(target)
    try:
        yield
    finally:
        _RELAYED.discard(target)
        event.remove(target, "commit", committed)
        event.remove(target, "rollback", rolled_back)


async def _follow(engine: AsyncEngine, hub: Hub, newest: int | None, every: float) -> None:
    """SQLite: hand `hub` what other processes committed to `live_changes` after `newest`, every
    `every` seconds, until cancelled. Changes pruned before they were read, or a read that
    failed, make the pages reload their view: nothing is missed without them knowing."""
    after = newest
    while True:
        await asyncio.sleep(every)
        try:
            async with engine.begin() as conn:
                rows = (await conn.execute(_SINCE, {"after": after or 0, "most": READ_MOST})).all()
        except DBAPIError as err:
            log.warning("live updates: could not read other processes' changes (%s)", err)
            hub.resync()
            continue
        if not rows:
            continue
        if after is not None and rows[0].id > after + 1:
            hub.resync()  # ids only grow by one: the ones between were pruned unread
        found = [change for change in map(decode, (row.payload for row in rows)) if change]
        if len(found) < len(rows):
            log.warning(
                "live updates: ignored %d rows that are not changes", len(rows) - len(found)
            )
        hub.publish(found)
        after = rows[-1].id


def _conninfo(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(
    engine: AsyncEngine,
    hub: Hub,
    *,
    ready: asyncio.Event | None = None,
    retry: float = 1.0,
) -> None:
    """PostgreSQL: hand every change any process commits to `hub`, until cancelled. A lost
    connection is made again (after `retry` seconds, doubling to a minute), and the pages
    reload their view, since changes may have been missed meanwhile."""
    conninfo = _conninfo(engine)
    pause = retry
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as pg:
                channel = await _channel(pg)
                await pg.execute(f'LISTEN "{channel}"')
                hub.resync()
                pause = retry
                if ready is not None:
                    ready.set()
                async for notice in _notices(pg):
                    change = decode(notice)
                    if change is None:
                        log.warning("ignored a notification that is not a change: %.80r", notice)
                        continue
                    hub.publish((change,))
        except psycopg.Error as err:
            log.warning("live updates: lost PostgreSQL (%s); listening again in %.0f s", err, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 60.0)


async def _channel(pg: psycopg.AsyncConnection[Any]) -> str:
    row = await (await pg.execute(f"SELECT {_NOTIFY_CHANNEL}")).fetchone()
    if row is None:
        raise psycopg.OperationalError("no current schema")
    return str(row[0])


async def _notices(pg: psycopg.AsyncConnection[Any]) -> AsyncIterator[str]:
    async for notice in pg.notifies():
        yield notice.payload
