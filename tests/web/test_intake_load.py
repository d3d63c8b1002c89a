"""The intake under load: concurrent webhooks share one commit (group commit) yet each is stored
with its own jobs; a full queue or a database that does not commit in time is answered 503 at
once, never a hang; one body the database refuses costs only its own answer.

A held database lock is what makes the intake wait: a real transaction of the test's own
(SQLite's write lock, PostgreSQL's table lock), nothing faked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

from frontdesk.app import create_app
from frontdesk.settings import Settings
from frontdesk.store import conversations as store
from frontdesk.store.tables import jobs, webhook_bodies
from frontdesk.web.webhook import Intake

pytestmark = pytest.mark.db

APP_SECRET = "load-app-secret-0123456789abcdef"
PAGE = "104857600055555"
NOW = 1_795_000_000.0


def message(n: int, psid: str | None = None) -> bytes:
    event = {
        "sender": {"id": psid or f"71000000000{n:05d}"},
        "recipient": {"id": PAGE},
        "timestamp": 1_795_000_000_000 + n,
        "message": {"mid": f"m_load_{n}", "text": f"message {n}"},
    }
    return json.dumps(
        {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}
    ).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


@pytest.fixture
async def frontdesk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> Starlette:
    async with engine.begin() as conn:
        await store.add_channel(conn, PAGE, "Load Tees", NOW)
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        meta_app_secret=APP_SECRET,
    )
    return create_app(settings, engine=engine, clock=lambda: NOW, run_worker=False)


@pytest.fixture
async def client(frontdesk: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=frontdesk), base_url="http://frontdesk.test"
    ) as c:
        yield c


def intake(frontdesk: Starlette) -> Intake:
    found: Intake = frontdesk.state.intake
    return found


async def post(client: httpx.AsyncClient, body: bytes) -> int:
    response = await client.post("/webhooks/messenger", content=body, headers=signed(body))
    return response.status_code


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int((await conn.execute(query)).scalar_one())


async def count_is(engine: AsyncEngine, expected: int) -> bool:
    return await count(engine, webhook_bodies) == expected


@contextlib.asynccontextmanager
async def writes_blocked(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Hold the lock the intake needs to write, until the block ends."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.begin()  # BEGIN IMMEDIATE (store/db.py): SQLite's one write lock
        else:
            await conn.begin()
            await conn.execute(text("LOCK TABLE webhook_bodies IN EXCLUSIVE MODE"))
        yield conn
        await conn.rollback()


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = 10.0) -> None:
    """Let the event loop run until `condition()` holds (bounded, so a bug fails, not hangs)."""
    async with asyncio.timeout(limit):
        while True:
            holds = condition()
            if holds if isinstance(holds, bool) else await holds:
                return
            await asyncio.sleep(0.01)


async def test_concurrent_webhooks_share_commits_and_each_keeps_its_own_jobs(
    client: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    bodies = [message(n) for n in range(60)]
    async with writes_blocked(engine):
        answers = [asyncio.create_task(post(client, body)) for body in bodies]
        await until(lambda: intake(frontdesk).in_flight == len(bodies))
    assert await asyncio.gather(*answers) == [200] * len(bodies)
    async with engine.connect() as conn:
        stored = dict(
            (await conn.execute(select(webhook_bodies.c.id, webhook_bodies.c.body))).all()
        )
        queued = (await conn.execute(select(jobs.c.key, jobs.c.payload))).all()
    assert sorted(stored.values()) == sorted(bodies)
    # Written in shared transactions, yet each job points at the body that carried its event
    # (one person per body: a job each).
    assert len(queued) == len(bodies)
    for key, payload in queued:
        [item] = payload["events"]
        body = json.loads(stored[item["body_id"]])
        event = body["entry"][0]["messaging"][0]
        assert event == item["event"]
        assert key == f"{PAGE}:{event['sender']['id']}"


async def test_a_full_queue_answers_503_at_once_and_the_waiting_bodies_are_stored(
    client: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    intake(frontdesk).max_pending = 3
    async with writes_blocked(engine):
        waiting = [asyncio.create_task(post(client, message(n))) for n in range(3)]
        await until(lambda: intake(frontdesk).in_flight == 3)
        # The database is still locked: an answer now can only be the immediate refusal.
        assert await post(client, message(99)) == 503
    assert await asyncio.gather(*waiting) == [200, 200, 200]
    async with engine.connect() as conn:
        stored = (await conn.execute(select(webhook_bodies.c.body))).scalars().all()
    assert sorted(stored) == sorted(message(n) for n in range(3))
    assert intake(frontdesk).rejected == 1


async def test_a_commit_that_does_not_come_in_time_is_answered_503(
    client: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    intake(frontdesk).ack_timeout = 0.2
    async with writes_blocked(engine):
        assert await post(client, message(1)) == 503
    # Taken by the writer before the 503, it commits once the lock is free: stored although
    # refused, so Meta's redelivery will be a duplicate, filed once by its mid.
    assert intake(frontdesk).in_flight == 0
    await until(lambda: count_is(engine, 1))
    assert await post(client, message(1)) == 200
    assert await count(engine, webhook_bodies) == 2


async def test_every_request_waiting_too_long_is_answered_and_the_next_ones_are_watched_too(
    client: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    intake(frontdesk).ack_timeout = 0.2
    async with writes_blocked(engine):
        first = asyncio.create_task(post(client, message(1)))
        await asyncio.sleep(0.1)
        later = [asyncio.create_task(post(client, message(n))) for n in (2, 3)]
        assert await asyncio.gather(first, *later) == [503, 503, 503]
    # Those a writer took commit late; on SQLite (one writer) the others, answered while they
    # waited for it, are not written any more (Meta redelivers them); on PostgreSQL a second
    # writer took them.
    late = 1 if engine.dialect.name == "sqlite" else 3
    await until(lambda: count_is(engine, late))
    async with writes_blocked(engine):
        # One timer watches them all: it must be set again for requests after a quiet spell.
        assert await post(client, message(4)) == 503
    assert await post(client, message(5)) == 200
    assert intake(frontdesk).rejected == 4
    assert intake(frontdesk).in_flight == 0
    assert await count(engine, webhook_bodies) == late + 2


async def test_a_body_the_database_refuses_is_kept_raw_and_costs_no_one_an_answer(
    client: httpx.AsyncClient, frontdesk: Starlette, engine: AsyncEngine
) -> None:
    poison = message(7, psid="71\u0000evil")  # the job key holds the PSID: a text column
    async with writes_blocked(engine):
        answers = [
            asyncio.create_task(post(client, body)) for body in (message(1), poison, message(2))
        ]
        await until(lambda: intake(frontdesk).in_flight == 3)
    # Every signed body is acknowledged and kept; its neighbours are filed as usual.
    assert await asyncio.gather(*answers) == [200, 200, 200]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(webhook_bodies.c.body, webhook_bodies.c.state))).all()
    assert sorted(rows) == sorted(
        [
            (message(1), "stored"),
            (message(2), "stored"),
            # PostgreSQL refuses a NUL in a text column, so only the raw bytes are kept there;
            # SQLite stores it as given.
            (poison, "refused" if engine.dialect.name == "postgresql" else "stored"),
        ]
    )
