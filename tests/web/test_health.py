"""`/healthz`, `/readyz` and `/metrics` over HTTP, on a real database (and broken ones)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from frontdesk.app import create_app
from frontdesk.settings import Settings
from frontdesk.store import conversations as store
from frontdesk.store.tables import worker_heartbeats
from frontdesk.web.health import READY_TIMEOUT

pytestmark = pytest.mark.db

APP_SECRET = "health-app-secret"
PAGE = "104857600012345"
NOW = 1_795_000_000.0
DEADLINE = 10.0
# A sample line: name, optional {label="value",...}, value.
SAMPLE = re.compile(
    r'^([a-z_]+)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (-?[0-9.]+(?:e[+-]?\d+)?)$'
)


def settings_for(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(Fernet.generate_key().decode(),),
        meta_app_id="900100200300400",
        meta_app_secret=APP_SECRET,
        meta_verify_token="verify",
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def served(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(settings_for(database_url, tmp_path), engine=engine, run_worker=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as client:
        yield app, client


@pytest.fixture
def unreachable_port() -> int:
    """A loopback port with nothing listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def readyz(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/readyz")


async def test_healthz_answers_while_the_process_runs(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = served
    answer = await client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_not_ready_without_a_worker_then_ready_once_one_runs(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = served
    before = await readyz(client)
    assert before.status_code == 503
    assert before.json() == {
        "status": "unavailable",
        "problems": ["no worker heartbeat in the last 30 s"],
    }

    worker = app.state.worker
    running = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + DEADLINE
        while (answer := await readyz(client)).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            assert not running.done(), running
            await asyncio.sleep(0.02)  # polling with a deadline: the first heartbeat is a write
        assert answer.json() == {"status": "ready", "problems": []}
    finally:
        worker.stop()
        await running
    # A worker that stopped cleanly takes its heartbeat with it.
    assert (await readyz(client)).status_code == 503


async def test_a_stale_heartbeat_is_not_ready(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    app = create_app(settings_for(database_url, tmp_path), engine=engine, clock=clock)
    async with engine.begin() as conn:
        await conn.execute(insert(worker_heartbeats).values(worker_id="w1", seen_at=NOW - 5))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as client:
        assert (await readyz(client)).status_code == 200
        clock.now = NOW + 31  # the worker died 36 s ago without a word
        stale = await readyz(client)
    assert stale.status_code == 503
    assert stale.json()["problems"] == ["no worker heartbeat in the last 30 s"]


async def not_ready(database_url: str, tmp_path: Path) -> tuple[httpx.Response, float]:
    app = create_app(settings_for(database_url, tmp_path), run_worker=False)
    started = time.monotonic()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as client:
        answer = await readyz(client)
        healthy = await client.get("/healthz")
    await app.state.engine.dispose()
    assert healthy.status_code == 200  # alive, just not ready
    return answer, time.monotonic() - started


async def test_not_ready_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    answer, took = await not_ready(f"sqlite:///{tmp_path}/no/such/folder/frontdesk.db", tmp_path)
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "problems": ["database: OperationalError"]}
    assert took < READY_TIMEOUT


async def test_not_ready_when_postgresql_refuses(tmp_path: Path, unreachable_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{unreachable_port}/test"
    answer, took = await not_ready(url, tmp_path)
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "problems": ["database: OperationalError"]}
    assert took < READY_TIMEOUT


@pytest.mark.slow
async def test_not_ready_quickly_when_the_database_never_answers(
    tmp_path: Path, silent_port: int
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/test?connect_timeout=60"
    answer, took = await not_ready(url, tmp_path)
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "problems": [f"database: no answer within {READY_TIMEOUT:g} s"],
    }
    assert READY_TIMEOUT <= took < READY_TIMEOUT + 2


# --- /metrics --------------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format, checked strictly: every sample has a HELP and a TYPE first."""
    described: dict[str, set[str]] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            kind, name = line[2:6], line.split()[2]
            described.setdefault(name, set()).add(kind)
            if kind == "TYPE":
                assert line.split()[3] in ("counter", "gauge"), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        name, labels, value = match.groups()
        assert described.get(name) == {"HELP", "TYPE"}, f"{name} lacks HELP or TYPE"
        samples[name + (labels or "")] = float(value)
    assert text.endswith("\n")
    return samples


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


def webhook(*texts: str) -> bytes:
    events = [
        {
            "sender": {"id": f"psid-{i}"},
            "recipient": {"id": PAGE},
            "timestamp": int(NOW * 1000) + i,
            "message": {"mid": f"m_{i}", "text": text},
        }
        for i, text in enumerate(texts)
    ]
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": events}]}
    return json.dumps(body).encode()


async def test_metrics_count_events_queue_depth_lag_and_sends(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    app = create_app(settings_for(database_url, tmp_path), engine=engine, clock=clock)
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, PAGE, "Lisbon Tees", NOW)
        thread = await store.thread_for(conn, channel_id, "psid-9", NOW)
        statuses = [
            ("bot", "sent"),
            ("bot", "delivered"),
            ("agent", "read"),
            ("bot", "failed"),
            ("bot", "blocked"),
            ("bot", "queued"),
            ("page_inbox", "sent"),  # a person in Meta's Page Inbox: not a send of ours
        ]
        for i, (author, status) in enumerate(statuses):
            await store.add_message(
                conn, thread, NOW, mid=f"m_out_{i}", direction="outbound", author=author,
                text="hi", status=status,
            )  # fmt: skip
        await store.add_message(
            conn, thread, NOW, mid="m_in", direction="inbound", author="contact", text="hi",
            status="received",
        )  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as client:
        body = webhook("Olá", "Do you ship to Porto?")
        assert (await client.post("/webhooks/messenger", content=body, headers=signed(body))).text
        clock.now = NOW + 42.5  # nobody works the queue meanwhile
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = parse_metrics(answer.text)
    assert metrics["frontdesk_events_received_total"] == 2
    assert metrics['frontdesk_jobs{state="ready"}'] == 2
    assert metrics['frontdesk_jobs{state="dead"}'] == 0
    assert metrics["frontdesk_queue_lag_seconds"] == pytest.approx(42.5)
    assert {k: v for k, v in metrics.items() if k.startswith("frontdesk_sends_total")} == {
        'frontdesk_sends_total{outcome="sent"}': 3,
        'frontdesk_sends_total{outcome="failed"}': 1,
        'frontdesk_sends_total{outcome="blocked"}': 1,
    }
    assert metrics["frontdesk_outbox_queued"] == 1


async def test_metrics_start_at_zero(served: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, client = served
    metrics = parse_metrics((await client.get("/metrics")).text)
    assert metrics["frontdesk_events_received_total"] == 0
    assert metrics["frontdesk_queue_lag_seconds"] == 0
    assert metrics['frontdesk_sends_total{outcome="sent"}'] == 0
    assert all(value == 0 for value in metrics.values())


def test_the_sample_parser_refuses_what_prometheus_would() -> None:
    with pytest.raises(AssertionError, match="lacks HELP or TYPE"):
        parse_metrics("frontdesk_x 1\n")
    with pytest.raises(AssertionError, match="not a Prometheus sample"):
        parse_metrics("# HELP frontdesk_x x\n# TYPE frontdesk_x gauge\nfrontdesk_x{a=b} 1\n")
