"""`/webhooks/messenger`: verify, then store the raw body and one job per event in ONE transaction.

Nothing else happens on the request path (ARCHITECTURE.md, "The life of one message"): an event
is acknowledged only once it is committed, and everything after that is a worker's job. The route
is plain Starlette: FastAPI's per-request overhead was measured at ~45% of this path's throughput.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from frontdesk.messenger import MalformedPayload, conversation_key, parse, verify_signature
from frontdesk.messenger import verify_subscription as challenge_for
from frontdesk.store.tables import channels, webhook_bodies
from frontdesk.workers import queue

ACK = "EVENT_RECEIVED"


class BodyTooLarge(Exception):  # noqa: N818 - reads as the condition it reports
    """The request body passed the configured limit."""


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
        try:
            body = await self._body(request)
        except BodyTooLarge:
            return PlainTextResponse("", status_code=413)
        except ClientDisconnect:
            return PlainTextResponse("", status_code=400)
        if not verify_signature(body, request.headers.get("x-hub-signature-256"), self.app_secret):
            return PlainTextResponse("", status_code=403)
        now = self.clock()
        try:
            batch = parse(body)
        except MalformedPayload as err:
            # Signed by Meta but unreadable: keep it for inspection and say 200, or Meta retries
            # and eventually unsubscribes the Page.
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(webhook_bodies).values(
                        received_at=now, body=body, state="malformed", note=str(err)[:500]
                    )
                )
            return PlainTextResponse(ACK)
        # An entry without a usable id has page_id None: kept in the stored body, never routed.
        page_ids = sorted({e.page_id for e in batch.events if e.page_id is not None})
        async with self.engine.begin() as conn:
            known: set[str] = set()
            if page_ids:
                rows = await conn.execute(
                    select(channels.c.page_id).where(channels.c.page_id.in_(page_ids))
                )
                known = {row.page_id for row in rows}
            unknown = [p for p in page_ids if p not in known]
            state = "stored" if not unknown else ("unknown_page" if not known else "partly_unknown")
            note = f"no channel for Page {', '.join(unknown)}" if unknown else None
            inserted = await conn.execute(
                insert(webhook_bodies)
                .values(received_at=now, body=body, state=state, note=note)
                .returning(webhook_bodies.c.id)
            )
            body_id = inserted.scalar_one()
            jobs = []
            for event in batch.events:
                if event.page_id is None or event.page_id not in known:
                    continue
                key = conversation_key(event)
                jobs.append(
                    {
                        "kind": "event",
                        "key": ":".join(key) if key else None,
                        "payload": {
                            "body_id": body_id,
                            "page_id": event.page_id,
                            "event": event.raw,
                            "standby": event.standby,
                        },
                    }
                )
            await queue.enqueue_many(conn, jobs, now)
        self.received += len(batch.events)
        if self.on_enqueued is not None:
            self.on_enqueued()
        return PlainTextResponse(ACK)
