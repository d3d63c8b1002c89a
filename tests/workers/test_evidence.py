"""The doctor's evidence on a channel with a long history: the newest receipt, send, Page Inbox
reply and customer message, the recent failures with their codes and whether a later reply
overcame them, all right whatever the history holds (read from the newest end of indexes)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core.models import FailureCode
from frontdesk.store import conversations as store
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import messages
from frontdesk.workers.evidence import MOST_FAILURES, RECENT, STUCK_TRIES, gather_facts

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0
DAY = 86400.0
HISTORY = 6000
"""Messages per channel: enough history that reading it all would be the wrong answer's cost."""


def history(
    rng: random.Random, channel_id: int, conversations: list[int], first_id: int
) -> list[dict[str, Any]]:
    """A year of mixed traffic, ids in creation order, a fifth of it in the last two days."""
    rows = []
    old = HISTORY * 4 // 5
    for n in range(HISTORY):
        if n < old:
            created = NOW - 365 * DAY + (n + rng.random()) * (363 * DAY / old)
        else:
            created = NOW - 2 * DAY + (n - old + rng.random()) * (2 * DAY / (HISTORY - old))
        inbound = rng.random() < 0.4
        row: dict[str, Any] = {
            "id": first_id + n,
            "conversation_id": rng.choice(conversations),
            "channel_id": channel_id,
            "mid": f"m.{channel_id}.{n}",
            "direction": "inbound" if inbound else "outbound",
            "author": "contact" if inbound else rng.choice(["bot", "agent", "page_inbox"]),
            "text": "hello",
            "status": "received",
            "created_at": created,
            **dict.fromkeys(
                ("failure_code", "failure_reason", "outgoing", "sent_at", "delivered_at", "read_at")
            ),
        }
        if not inbound:
            fate = rng.random()
            if fate < 0.15:
                row["status"] = "failed"
                code = rng.choice([*FailureCode, None])
                row["failure_code"] = None if code is None else code.value
                row["failure_reason"] = "Pas envoyé."
            elif fate < 0.2:
                row["status"] = "queued"
                row["outgoing"] = {"tries": rng.randrange(6)}
            else:
                row["status"] = rng.choice(["sent", "delivered", "read"])
                row["sent_at"] = created + rng.random() * 5
                if row["status"] in ("delivered", "read") and rng.random() < 0.9:
                    row["delivered_at"] = created + 5 + rng.random() * 50
                if row["status"] == "read":
                    row["read_at"] = created + 60 + rng.random() * 3000
        rows.append(row)
    return rows


def newest(rows: list[dict[str, Any]], column: str, **where: Any) -> float | None:
    found = [
        r[column]
        for r in rows
        if r.get(column) is not None and all(r.get(k) == v for k, v in where.items())
    ]
    return max(found, default=None)


async def test_the_evidence_of_a_long_history_is_exact(engine: AsyncEngine) -> None:
    rng = random.Random(20240611)
    secrets = Secrets([Fernet.generate_key().decode()])
    channel_ids, conversations, rows = [], {}, {}
    async with engine.begin() as conn:
        for page in ("104857600012345", "104857600099999"):
            channel_id = await store.add_channel(
                conn, page, "Lisbon Tees", NOW - 400 * DAY, page_token=secrets.encrypt("EAA")
            )
            channel_ids.append(channel_id)
            threads = [
                await store.thread_for(conn, channel_id, f"71000000000{i:05d}", NOW - 400 * DAY)
                for i in range(40)
            ]
            conversations[channel_id] = [t.conversation_id for t in threads]
        for n, channel_id in enumerate(channel_ids):
            rows[channel_id] = history(rng, channel_id, conversations[channel_id], 1 + n * HISTORY)
            # Two channels alike: the other's rows must never count for this one.
            for batch in range(0, HISTORY, 1000):
                await conn.execute(insert(messages), rows[channel_id][batch : batch + 1000])

    mine = rows[channel_ids[0]]
    async with engine.begin() as conn:
        facts = await gather_facts(conn, secrets, channel_ids[0], NOW)
    assert facts is not None

    heard = [
        newest(mine, "created_at", direction="inbound"),
        newest(mine, "delivered_at"),
        newest(mine, "read_at"),
        newest(mine, "created_at", author="page_inbox"),
    ]
    assert facts.last_event_at == max(t for t in heard if t is not None)
    assert facts.last_sent_at == newest(mine, "sent_at")

    recent_failed = sorted(
        (r for r in mine if r["status"] == "failed" and r["created_at"] >= NOW - RECENT),
        key=lambda r: -r["created_at"],
    )[:MOST_FAILURES]
    stuck = [r for r in mine if r["status"] == "queued" and r["outgoing"]["tries"] >= STUCK_TRIES]
    assert recent_failed, "the history must hold recent failures for the test to mean much"
    assert stuck
    failures = {f.message_id: f for f in facts.failures}
    assert {i for i, f in failures.items() if not f.queued} == {r["id"] for r in recent_failed}
    assert {i for i, f in failures.items() if f.queued} == {r["id"] for r in stuck}
    for row in recent_failed:
        found = failures[row["id"]]
        assert (found.conversation_id, found.code, found.at) == (
            row["conversation_id"],
            None if row["failure_code"] is None else FailureCode(row["failure_code"]),
            row["created_at"],
        )

    def overcome(failed: dict[str, Any]) -> bool:
        return any(
            r["conversation_id"] == failed["conversation_id"]
            and r["id"] > failed["id"]
            and r["direction"] == "outbound"
            and r.get("sent_at") is not None
            for r in mine
        )

    assert facts.overcome == {r["id"] for r in recent_failed if overcome(r)}


async def test_a_channel_without_messages_has_no_evidence(engine: AsyncEngine) -> None:
    secrets = Secrets([Fernet.generate_key().decode()])
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "104857600012345", "Lisbon Tees", NOW)
        facts = await gather_facts(conn, secrets, channel_id, NOW)
    assert facts is not None
    assert (facts.last_event_at, facts.last_sent_at, facts.failures, facts.overcome) == (
        None,
        None,
        (),
        frozenset(),
    )
