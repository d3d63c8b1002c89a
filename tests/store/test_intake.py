"""The intake's writes (`store.intake`), on each database: groups of any size, in order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import intake
from frontdesk.store.tables import channels, jobs, webhook_bodies

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0


async def add_channel(engine: AsyncEngine, page_id: str, status: str = "active") -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(channels).values(
                page_id=page_id, name=page_id, status=status, created_at=NOW, updated_at=NOW
            )
        )


async def test_a_group_larger_than_one_insert_keeps_each_body_with_its_jobs(
    engine: AsyncEngine,
) -> None:
    size = intake.ROWS_PER_INSERT * 2 + 7
    bodies = [intake.Body(NOW + n, f"body {n}".encode(), "stored", None) for n in range(size)]
    # Two events for every third body, in reverse order of the bodies: the pairing must not
    # depend on the order of the jobs. The two of a body share a job; one event more of
    # other people for each makes more jobs than one INSERT takes.
    events = [
        intake.EventJob(n, "1001", f"1001:{n}", {"n": n, "half": half}, half == 1)
        for n in reversed(range(0, size, 3))
        for half in (0, 1)
    ]
    others = [intake.EventJob(n, "1001", f"1001:x{n}", {"x": n}, False) for n in range(0, size, 3)]
    events += others
    async with engine.begin() as conn:
        ids = await intake.store(conn, bodies, events, NOW)

    assert len(set(ids)) == size
    assert ids == sorted(ids)
    async with engine.connect() as conn:
        stored = dict(
            (await conn.execute(select(webhook_bodies.c.id, webhook_bodies.c.body))).all()
        )
        rows = (await conn.execute(select(jobs.c.key, jobs.c.payload, jobs.c.state))).all()
    assert [stored[ids[n]] for n in range(size)] == [b.body for b in bodies]
    assert len(rows) == len(others) * 2 > intake.ROWS_PER_INSERT  # two events share a job
    for key, payload, state in rows:
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        if key.startswith("1001:x"):
            [other] = payload["events"]
            assert key == f"1001:x{other['event']['x']}"
            assert stored[other["body_id"]] == f"body {other['event']['x']}".encode()
            continue
        n = payload["events"][0]["event"]["n"]
        assert (key, state, payload["page_id"]) == (f"1001:{n}", "ready", "1001")
        assert [item["event"] for item in payload["events"]] == [
            {"n": n, "half": 0},
            {"n": n, "half": 1},
        ]
        for item in payload["events"]:
            assert stored[item["body_id"]] == f"body {n}".encode()
            assert item["standby"] is (item["event"]["half"] == 1)


async def test_a_conversations_events_share_jobs_in_order_and_others_stay_apart(
    engine: AsyncEngine,
) -> None:
    bodies = [intake.Body(NOW, b"one", "stored", None), intake.Body(NOW, b"two", "stored", None)]
    many = intake.EVENTS_PER_JOB + 3
    events = [
        intake.EventJob(0, "1001", "1001:a", {"a": 0}, False),
        intake.EventJob(0, "1001", None, {"nobody": 0}, False),
        intake.EventJob(0, "1001", "1001:b", {"b": 0}, False),
        intake.EventJob(0, "1001", None, {"nobody": 1}, False),
        *(intake.EventJob(1, "1001", "1001:a", {"a": n}, n % 2 == 0) for n in range(1, many)),
        intake.EventJob(1, "1001", "1001:b", {"b": 1}, True),
    ]
    async with engine.begin() as conn:
        ids = await intake.store(conn, bodies, events, NOW)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.key, jobs.c.payload).order_by(jobs.c.id))).all()

    def shown(payload: Any) -> list[tuple[int, Any, bool]]:
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        assert payload["page_id"] == "1001"
        return [(ids.index(i["body_id"]), i["event"], i["standby"]) for i in payload["events"]]

    # In the order of each job's first event; "a" has more than a job holds: a second job
    # after the others, its events still in order.
    assert [(key, shown(payload)) for key, payload in rows] == [
        (
            "1001:a",
            [(0, {"a": 0}, False)]
            + [(1, {"a": n}, n % 2 == 0) for n in range(1, intake.EVENTS_PER_JOB)],
        ),
        (None, [(0, {"nobody": 0}, False)]),
        ("1001:b", [(0, {"b": 0}, False), (1, {"b": 1}, True)]),
        (None, [(0, {"nobody": 1}, False)]),
        ("1001:a", [(1, {"a": n}, n % 2 == 0) for n in range(intake.EVENTS_PER_JOB, many)]),
    ]


async def test_known_pages_of_a_group_with_more_pages_than_one_look_up(
    engine: AsyncEngine,
) -> None:
    await add_channel(engine, "5")
    await add_channel(engine, "1700")
    await add_channel(engine, "9", status="removed")
    asked = [str(n) for n in range(intake.ROWS_PER_INSERT * 4)]
    async with engine.connect() as conn:
        assert await intake.known_pages(conn, asked) == {"5", "1700"}
        assert await intake.known_pages(conn, []) == set()
