"""`/webhooks/messenger`: verify, then store the raw body and its events' jobs in ONE transaction.

Nothing else happens on the request path (ARCHITECTURE.md, "The life of one message"): an event
is acknowledged only once it is committed, and everything after that is a worker's job. The route
is a bare ASGI app (`Intake.__call__`) that the app calls before Starlette's middleware and
router (`app._Frontdesk`): FastAPI's per-request overhead was measured at ~45% of this path's
throughput, and even Starlette's request and response objects are skipped here. The events are
not read here either: `messenger.route` finds each one's Page and conversation, and the worker
reads them.

Stores are group-committed: requests that arrive while a transaction is being written queue up,
and the next transaction writes all of them (one SELECT, one multi-row INSERT per table, one
COMMIT); each request answers 200 only after the commit that holds its body and its jobs. On
SQLite, where writers queue for one lock anyway, this turns N commits into one (see
docs/performance.md). The queue is bounded (overload): with `max_pending` deliveries waiting, or
the oldest waiting over `max_wait`, a request is answered 503 at once, and one whose commit has
not come within `ack_timeout` is answered 503 then; Meta redelivers later, and a delivery that
did commit after its 503 is deduplicated by `mid` like any redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from frontdesk.messenger import MalformedPayload, Routed, route, verify_signature
from frontdesk.messenger import verify_subscription as challenge_for
from frontdesk.store import intake
from frontdesk.store.tables import webhook_bodies

ACK = "EVENT_RECEIVED"
WEBHOOK_PATH = "/webhooks/messenger"
SHED_LOG_SECONDS = 10.0
"""At most one warning this often about requests answered 503."""
log = logging.getLogger("frontdesk.webhook")


class BodyTooLarge(Exception):  # noqa: N818 - reads as the condition it reports
    """The request body passed the configured limit."""


@dataclass(eq=False)
class _Delivery:
    """One verified body waiting for the commit that stores it."""

    body: bytes
    received_at: float
    events: tuple[Routed, ...] | None
    """None for a signed body that is not JSON: kept as `malformed`, no jobs."""
    note: str | None
    queued_at: float
    """Event-loop time it joined the queue (the received_at clock may be a test's)."""
    stored: asyncio.Future[None]
    """Resolved by the writer after the commit; cancelled when the request gives up."""
    pages: frozenset[str] | None = None
    """The Pages whose events this delivery may carry (a channel's own callback URL); None: any
    Page with a channel (the app-wide URL)."""


@dataclass
class Intake:
    engine: AsyncEngine
    app_secret: str
    verify_token: str
    max_body_bytes: int = 1024 * 1024
    clock: Callable[[], float] = time.time
    received: int = 0
    """Events acknowledged since start (for /metrics)."""
    on_enqueued: Callable[[], None] | None = None
    """Called after jobs were committed (wakes an in-process worker)."""
    max_pending: int = 256
    """Deliveries queued or being written; one more is answered 503 at once (overload)."""
    max_wait: float = 0.5
    """Seconds the oldest queued delivery may wait for a writer before new ones get 503."""
    max_batch: int = 512
    """Deliveries written by one transaction at most."""
    writers: int | None = None
    """Transactions written at the same time; None: 1 on SQLite (one writer lock), else 2."""
    ack_timeout: float = 1.0
    """Seconds a request waits for its commit before answering 503: a healthy commit takes
    milliseconds, and a stalled database must not hold Meta's connections (goal: never 5 s)."""
    rejected: int = 0
    """Requests answered 503 since start (for /metrics)."""
    _pending: list[_Delivery] = field(default_factory=list, init=False, repr=False)
    _in_flight: int = field(default=0, init=False, repr=False)
    _writing: int = field(default=0, init=False, repr=False)
    _writer_tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _shed_logged_at: float = field(default=-SHED_LOG_SECONDS, init=False, repr=False)
    _shed_since_log: int = field(default=0, init=False, repr=False)
    _waiting: deque[_Delivery] = field(default_factory=deque, init=False, repr=False)
    """Deliveries in arrival order, so in the order their `ack_timeout` runs out (the answered
    ones are dropped as the watchdog passes them)."""
    _watchdog: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)

    @property
    def in_flight(self) -> int:
        """Requests waiting for the commit of their body right now."""
        return self._in_flight

    async def verify(self, request: Request) -> Response:
        challenge = None
        if self.verify_token:
            challenge = challenge_for(request.query_params, self.verify_token)
        if challenge is None:
            return PlainTextResponse("", status_code=403)
        return PlainTextResponse(challenge)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def receive(self, request: Request) -> Response:
        return await self.receive_signed(request, self.app_secret)

    async def receive_signed(
        self, request: Request, app_secret: str, pages: frozenset[str] | None = None
    ) -> Response:
        """Take a delivery signed with `app_secret`; with `pages`, events of other Pages are kept
        with the body but routed nowhere (a channel's own URL carries only its app's Pages)."""
        try:
            body = await self._body(request)
        except BodyTooLarge:
            return _EMPTY[413]
        except ClientDisconnect:
            return _EMPTY[400]
        status = await self.take(
            body, request.headers.get("x-hub-signature-256"), app_secret, pages
        )
        return _ANSWERS[status]

    async def take(
        self,
        body: bytes,
        signature: str | None,
        app_secret: str,
        pages: frozenset[str] | None = None,
    ) -> int:
        """Verify and store one delivery; the status to answer: 200 once it is committed, 403
        for a bad signature, 503 when overloaded or the store failed (Meta delivers again)."""
        loop = asyncio.get_running_loop()
        if self._in_flight >= self.max_pending:
            return self._shed(f"{self.max_pending} webhook bodies already waiting for a commit")
        if self._pending and loop.time() - self._pending[0].queued_at > self.max_wait:
            return self._shed(f"the oldest webhook body waited over {self.max_wait:g} s")
        # Without an app secret nothing can be verified, so nothing is accepted.
        if not app_secret or not verify_signature(body, signature, app_secret):
            return 403
        events: tuple[Routed, ...] | None
        try:
            # Where each event goes, not what it says: the worker reads the events.
            events, note = route(body), None
        except MalformedPayload as err:
            # Signed by Meta but unreadable: keep it for inspection and say 200, or Meta retries
            # and eventually unsubscribes the Page.
            events, note = None, str(err)[:500]
        delivery = _Delivery(
            body, self.clock(), events, note, loop.time(), loop.create_future(), pages
        )
        self._in_flight += 1
        try:
            self._pending.append(delivery)
            while self._waiting and self._waiting[0].stored.done():
                self._waiting.popleft()  # answered: nothing left to watch
            self._waiting.append(delivery)
            if self._watchdog is None:
                self._watchdog = loop.call_at(delivery.queued_at + self.ack_timeout, self._expire)
            if self._writing < self._writer_limit():
                # Counted now, uncounted by the writer itself when it finds nothing left: a
                # done-callback would run too late and could leave this delivery unwritten.
                self._writing += 1
                task = asyncio.create_task(self._write_pending(), name="webhook-intake-writer")
                self._writer_tasks.add(task)
                task.add_done_callback(self._writer_tasks.discard)
            try:
                # Giving up ends only this delivery's future, never the writer's transaction:
                # a body that commits after its 503 is redelivered by Meta and deduplicated.
                await delivery.stored
            except _TimedOut:
                return self._shed(f"a webhook body was not committed within {self.ack_timeout:g} s")
            except _NotStored:
                return self._shed("storing webhook bodies failed (logged above)")
        finally:
            self._in_flight -= 1
        if events is not None:
            self.received += len(events)
        return 200

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /webhooks/messenger` as a bare ASGI app: the busiest route of the service
        skips the framework's request and response objects (docs/performance.md). Mounted as
        a Starlette route's app, so routing, methods and error handling stay the framework's."""
        signature = None
        declared = None
        for name, value in scope["headers"]:
            if name == b"x-hub-signature-256":
                signature = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            status = 413
        else:
            chunks: list[bytes] = []
            size, status = 0, 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    status = 400
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    status = 413
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            if not status:
                status = await self.take(b"".join(chunks), signature, self.app_secret)
        await _ANSWERS[status](scope, receive, send)

    def _expire(self) -> None:
        """The watchdog: every delivery waiting `ack_timeout` for its commit is answered 503.
        One timer for all of them (one per request cost ~5 % of the intake's CPU), set for the
        oldest unanswered delivery."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting:
            oldest = self._waiting[0]
            if oldest.stored.done():
                self._waiting.popleft()
            elif now >= oldest.queued_at + self.ack_timeout:
                oldest.stored.set_exception(_TimedOut())
                self._waiting.popleft()
            else:
                self._watchdog = loop.call_at(oldest.queued_at + self.ack_timeout, self._expire)
                return

    def _shed(self, reason: str) -> int:
        """503 now, so Meta retries later; one warning per SHED_LOG_SECONDS, with the count."""
        self.rejected += 1
        self._shed_since_log += 1
        now = time.monotonic()
        if now - self._shed_logged_at >= SHED_LOG_SECONDS:
            log.warning(
                "answered 503 to %d webhook request(s) since the last warning; latest: %s",
                self._shed_since_log,
                reason,
            )
            self._shed_logged_at, self._shed_since_log = now, 0
        return 503

    def _writer_limit(self) -> int:
        if self.writers is not None:
            return self.writers
        return 1 if self.engine.dialect.name == "sqlite" else 2

    async def _write_pending(self) -> None:
        """Commit queued deliveries, a batch per transaction, until none is left."""
        try:
            await self._write_batches()
        finally:
            self._writing -= 1

    async def _write_batches(self) -> None:
        while self._pending:
            # A delivery whose request gave up (503) is not worth writing any more.
            group = [d for d in self._pending[: self.max_batch] if not d.stored.done()]
            del self._pending[: self.max_batch]
            if not group:
                continue
            try:
                await self._commit(group)
            except (DataError, IntegrityError):
                # One body the database refuses must not cost its neighbours their answer.
                for delivery in group:
                    await self._write_alone(delivery)
                continue
            except Exception:  # answered 503 and logged by _fail; Meta redelivers
                self._fail(group)
                continue
            self._stored(group)

    async def _write_alone(self, delivery: _Delivery) -> None:
        try:
            await self._commit([delivery])
        except (DataError, IntegrityError) as err:
            # Signed by Meta but unstorable as events (e.g. a NUL where a text column goes):
            # keep the raw bytes for inspection and acknowledge, as for malformed JSON, or
            # Meta would redeliver it forever and finally unsubscribe the Page.
            await self._keep_refused(delivery, type(err).__name__)
        except Exception:  # answered 503 and logged by _fail; Meta redelivers
            self._fail([delivery])
        else:
            self._stored([delivery])

    async def _keep_refused(self, delivery: _Delivery, reason: str) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(webhook_bodies).values(
                        received_at=delivery.received_at,
                        body=delivery.body,
                        state="refused",
                        note=f"the database refused its events ({reason})",
                    )
                )
        except Exception:  # answered 503 and logged by _fail; Meta redelivers
            self._fail([delivery])
        else:
            self._stored([delivery])

    def _stored(self, group: list[_Delivery]) -> None:
        for delivery in group:
            if not delivery.stored.done():
                delivery.stored.set_result(None)
        if self.on_enqueued is not None:
            self.on_enqueued()

    def _fail(self, group: list[_Delivery]) -> None:
        log.exception("storing %d webhook bodies failed; answered 503", len(group))
        for delivery in group:
            if not delivery.stored.done():
                delivery.stored.set_exception(_NotStored())

    async def _commit(self, group: list[_Delivery]) -> None:
        async with self.engine.begin() as conn:
            await self._store(conn, group)

    async def _store(self, conn: AsyncConnection, group: list[_Delivery]) -> None:
        # An entry without a usable id has page_id None: kept in the stored body, never routed.
        page_ids = sorted(
            {
                e.page_id
                for d in group
                if d.events is not None
                for e in d.events
                if e.page_id is not None
            }
        )
        known = await intake.known_pages(conn, page_ids)
        bodies: list[intake.Body] = []
        events: list[intake.EventJob] = []
        for index, delivery in enumerate(group):
            routed = known if delivery.pages is None else known & delivery.pages
            bodies.append(_body_row(delivery, routed))
            if delivery.events is None:
                continue
            for event in delivery.events:
                if event.page_id is None or event.page_id not in routed:
                    continue
                events.append(
                    intake.EventJob(
                        index,
                        event.page_id,
                        f"{event.page_id}:{event.person}" if event.person is not None else None,
                        event.raw,
                        event.standby,
                    )
                )
        await intake.store(conn, bodies, events, group[-1].received_at)


def _body_row(delivery: _Delivery, known: set[str]) -> intake.Body:
    if delivery.events is None:
        return intake.Body(delivery.received_at, delivery.body, "malformed", delivery.note)
    pages = {e.page_id for e in delivery.events if e.page_id is not None}
    unknown = sorted(pages - known)
    if not unknown:
        return intake.Body(delivery.received_at, delivery.body, "stored", None)
    state = "partly_unknown" if pages & known else "unknown_page"
    note = f"no channel for Page {', '.join(unknown)}"
    if delivery.pages is not None:
        note += " at this channel's callback URL"
    return intake.Body(delivery.received_at, delivery.body, state, note)


_EMPTY = {status: PlainTextResponse("", status_code=status) for status in (400, 403, 413)}
_ANSWERS: dict[int, Response] = {
    **_EMPTY,
    200: PlainTextResponse(ACK),
    503: PlainTextResponse("", status_code=503, headers={"retry-after": "1"}),
}
"""Every answer the intake gives, built once: a response object is a fixed ASGI app."""


class _NotStored(Exception):  # noqa: N818 - internal control flow
    """The transaction that held this delivery failed (logged); the request answers 503."""


class _TimedOut(Exception):  # noqa: N818 - internal control flow
    """No commit within `ack_timeout`; the request answers 503."""
