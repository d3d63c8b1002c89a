"""Crash test: `frontdesk serve` and `frontdesk worker` as separate processes, killed with
SIGKILL again and again under a steady stream of signed webhooks; afterwards every acknowledged
event is filed exactly once, each person's messages in the order they were sent, no job is left
undone.

The sender behaves like Meta: a body that got no 200 (connection refused or reset while the
server is down, a 503) is sent again, byte for byte, before that sender moves on; so a body that
was committed just before a kill arrives twice and must still be filed once. Each sender owns its
people and waits for each answer, so the order in which their events were acknowledged is the
order they were sent in. The worker's jobs outlive it through their lease
(FRONTDESK_JOB_LEASE_SECONDS, 2 s here).

Runs on SQLite too: the two processes share the database file, as they may.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import conversations as store
from frontdesk.store.tables import contacts, conversations, jobs, messages, webhook_bodies
from tests.flows.processes import STARTUP_SECONDS, Frontdesk, free_port

pytestmark = [pytest.mark.db, pytest.mark.slow]

APP_SECRET = "crash-app-secret-0123456789abcdef"
PAGE = "104857600077777"
LANES = 4
"""Senders; each owns two people and has one request in flight at a time."""
PAUSE = 0.05
"""Seconds a sender waits between two bodies: a steady stream the worker keeps up with."""
WORKER_KILLS = 5
SERVER_KILLS = 2
DRAIN_SECONDS = 90.0
"""Bounds on waiting, so that a broken build fails instead of hanging; never reached normally."""


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


@pytest.fixture
async def frontdesk(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Frontdesk]:
    async with engine.begin() as conn:
        await store.add_channel(conn, PAGE, "Crash Test Tees", 1_795_000_000.0)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        FRONTDESK_DATABASE_URL=database_url,
        FRONTDESK_DATA_DIR=str(tmp_path),
        FRONTDESK_SECRET_KEY=Fernet.generate_key().decode(),
        FRONTDESK_META_APP_SECRET=APP_SECRET,
        FRONTDESK_META_APP_ID="900100200300400",
        # Nothing here answers, so nothing may call out; a closed loopback port if it tried.
        FRONTDESK_GRAPH_URL=f"http://127.0.0.1:{free_port()}",
        FRONTDESK_IN_PROCESS_WORKER="false",
        FRONTDESK_JOB_LEASE_SECONDS="2",
        FRONTDESK_LOG_LEVEL="warning",
    )
    desk = Frontdesk(env, logs)
    try:
        yield desk
    finally:
        await desk.stop()
        print(desk.log_tail())  # shown when the test failed


@dataclass
class Lane:
    """One sender: its people, what it sent in order, and what it had to send again."""

    number: int
    psids: tuple[str, str]
    sent: list[tuple[str, str]] = field(default_factory=list)
    """(psid, mid) of every event, in the order the bodies carrying them were acknowledged."""
    bodies: int = 0
    resends: int = 0
    redeliveries: int = 0
    """Bodies sent again after their 200, as Meta sometimes does: filed once all the same."""
    answers: dict[int, int] = field(default_factory=dict)

    def next_body(self) -> tuple[bytes, list[tuple[str, str]]]:
        """Three shapes in turn: one event; two entries (one per person); one entry with three
        events. Meta batches like this under load."""
        n = self.bodies
        self.bodies += 1
        first, second = self.psids
        order: list[tuple[str, str]] = []

        def event(psid: str, part: int) -> dict[str, object]:
            mid = f"m_crash_{self.number}_{n}_{part}"
            order.append((psid, mid))
            return {
                "sender": {"id": psid},
                "recipient": {"id": PAGE},
                "timestamp": 1_795_000_000_000 + n,
                "message": {"mid": mid, "text": f"lane {self.number} body {n} part {part}"},
            }

        if n % 3 == 0:
            entries = [[event(first, 0)]]
        elif n % 3 == 1:
            entries = [[event(first, 0)], [event(second, 1)]]
        else:
            entries = [[event(second, 0), event(first, 1), event(second, 2)]]
        envelope = {
            "object": "page",
            "entry": [
                {"id": PAGE, "time": 1_795_000_000_000 + n, "messaging": events}
                for events in entries
            ],
        }
        return json.dumps(envelope).encode(), order

    async def deliver(self, http: httpx.AsyncClient, url: str, body: bytes) -> None:
        """Like Meta: the same bytes again until they are acknowledged."""
        while True:
            try:
                response = await http.post(
                    f"{url}/webhooks/messenger", content=body, headers=signed(body)
                )
                status = response.status_code
            except httpx.TransportError:
                status = 0
            self.answers[status] = self.answers.get(status, 0) + 1
            if status == 200:
                return
            self.resends += 1
            await asyncio.sleep(0.1)

    async def run(self, http: httpx.AsyncClient, url: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            body, events = self.next_body()
            await self.deliver(http, url, body)
            self.sent.extend(events)
            if self.bodies % 7 == 0:
                await self.deliver(http, url, body)
                self.redeliveries += 1
            await asyncio.sleep(PAUSE)


async def chaos(desk: Frontdesk, http: httpx.AsyncClient) -> list[str]:
    """Kill the worker WORKER_KILLS times and the server SERVER_KILLS times, restarting each."""
    done: list[str] = []
    plan = ["worker", "server", "worker", "worker", "both", "worker"]
    assert plan.count("worker") + plan.count("both") == WORKER_KILLS
    assert plan.count("server") + plan.count("both") == SERVER_KILLS
    for step in plan:
        await asyncio.sleep(1.5)  # let the stream and a backlog build up between kills
        if step in ("worker", "both"):
            await desk.kill(desk.worker)
            done.append("worker")
        if step in ("server", "both"):
            await desk.kill(desk.server)
            done.append("server")
            await asyncio.sleep(0.3)  # senders meet a closed port, then resend
            await desk.start_server(http)
        if step in ("worker", "both"):
            await desk.start_worker()
    await asyncio.sleep(1.5)
    return done


async def unfinished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(jobs.c.state.in_(("ready", "running")))
        return int((await conn.execute(query)).scalar_one())


async def test_killing_server_and_worker_loses_and_duplicates_nothing(
    frontdesk: Frontdesk, engine: AsyncEngine
) -> None:
    lanes = [Lane(n, (f"71000000000{n:02d}001", f"71000000000{n:02d}002")) for n in range(LANES)]
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30.0) as http:
        await frontdesk.start_server(http)
        await frontdesk.start_worker()
        senders = [asyncio.create_task(lane.run(http, frontdesk.url, stop)) for lane in lanes]
        try:
            kills = await chaos(frontdesk, http)
        except BaseException:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            raise
        stop.set()
        # Each sender ends once its last body is acknowledged (the server is up again).
        async with asyncio.timeout(STARTUP_SECONDS):
            await asyncio.gather(*senders)

    # The last worker drains the queue; jobs of killed workers come back when leases lapse.
    async with asyncio.timeout(DRAIN_SECONDS):
        while await unfinished(engine):  # noqa: ASYNC110 - another process's progress, polled
            await asyncio.sleep(0.2)
    await frontdesk.stop()

    sent = [event for lane in lanes for event in lane.sent]
    assert kills.count("worker") == WORKER_KILLS
    assert kills.count("server") == SERVER_KILLS
    # The kills were felt: some bodies had to be sent again (connection refused or reset).
    assert sum(lane.resends for lane in lanes) > 0, [lane.answers for lane in lanes]

    async with engine.connect() as conn:
        states = dict(
            (await conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))).all()
        )
        dead = (
            await conn.execute(select(jobs.c.id, jobs.c.last_error).where(jobs.c.state == "dead"))
        ).all()
        filed = (
            await conn.execute(
                select(messages.c.mid, contacts.c.psid)
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .order_by(messages.c.id)
            )
        ).all()
        bodies = int(
            (await conn.execute(select(func.count()).select_from(webhook_bodies))).scalar_one()
        )

    assert not dead, dead
    assert set(states) == {"done"}, states
    # Every acknowledged event filed exactly once, and nothing else filed.
    mids = [row.mid for row in filed]
    assert len(mids) == len(set(mids)), "a message was filed twice"
    assert sorted(mids) == sorted(mid for _psid, mid in sent)
    # Each person's messages in the order they were sent.
    for lane in lanes:
        for psid in lane.psids:
            assert [r.mid for r in filed if r.psid == psid] == [
                mid for who, mid in lane.sent if who == psid
            ], psid
    # Bodies stored at least once each, redelivered ones again (yet their events filed once).
    redelivered = sum(lane.redeliveries for lane in lanes)
    assert redelivered > 0
    assert bodies >= sum(lane.bodies for lane in lanes) + redelivered
    print(
        f"\n{len(sent)} events in {sum(lane.bodies for lane in lanes)} bodies "
        f"({bodies} stored, {redelivered} redelivered, "
        f"{sum(lane.resends for lane in lanes)} resends after no answer or 503), "
        f"{states['done']} jobs done, kills: {kills}"
    )
