"""How quickly the inbox lists and opens conversations, with 10,000 of them and a 2,000-message
transcript, on SQLite and PostgreSQL.

`python bench/inbox.py [--conversations N] [--transcript M] [--rounds R] [--pg-url URL]`:
fills a workspace of two Pages with N conversations (three messages each, statuses and
assignees mixed: 20 % open, 5 % pending, 5 % snoozed, the rest resolved) and one conversation of
M messages with notes among them, then asks the real app (`create_app`, in-process through
httpx, signed in as an agent) for each page R times and prints p50 / p95 / max in ms. These are
whole requests: session check, queries, template, as an agent's browser gets them. Goal
(issue 6): list and open under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from filing import DEFAULT_PG, drop_schema, postgres_schema
from sqlalchemy import insert, select, update

from frontdesk.app import create_app
from frontdesk.core.people import Role
from frontdesk.settings import Settings
from frontdesk.store import accounts
from frontdesk.store.db import create_engine
from frontdesk.store.migrate import upgrade
from frontdesk.store.passwords import Passwords
from frontdesk.store.tables import channels, contacts, conversations, messages, notes

PASSWORD = "bench password, not a real one"  # noqa: S105 - a throwaway bench account
CHEAP = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
BATCH = 2000
WORDS = ("size", "order", "tee", "black", "navy", "return", "refund", "shipping", "hello", "thanks")


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))).capitalize() + "."


async def fill(url: str, count: int, transcript: int) -> tuple[int, list[int]]:
    """The workspace's rows; returns the long conversation's id and the agents' ids."""
    upgrade(url)
    engine = create_engine(url)
    rng = random.Random(6)
    now = time.time()
    async with engine.begin() as conn:
        workspace = await accounts.create_workspace(conn, "Bench Tees", now)
        agents = [
            (
                await accounts.add_user(
                    conn,
                    workspace.id,
                    f"agent{n}@bench.test",
                    f"Agent {n}",
                    Role.AGENT,
                    CHEAP.hash(PASSWORD),
                    now,
                )
            ).id
            for n in range(5)
        ]
        pages = []
        for n, name in enumerate(("Bench Tees", "Bench Tees Outlet")):
            found = await conn.execute(
                insert(channels)
                .values(
                    workspace_id=workspace.id,
                    page_id=f"10485760001{n}",
                    name=name,
                    link="inbox",
                    status="active",
                    has_human_agent=True,
                    created_at=now,
                    updated_at=now,
                )
                .returning(channels.c.id)
            )
            pages.append(int(found.scalar_one()))
    statuses = ["open"] * 20 + ["pending"] * 5 + ["snoozed"] * 5 + ["resolved"] * 70
    for start in range(0, count + 1, BATCH):
        numbers = range(start, min(count + 1, start + BATCH))
        async with engine.begin() as conn:
            await conn.execute(
                insert(contacts),
                [
                    {
                        "id": n + 1,
                        "channel_id": pages[0] if n % 10 else pages[1],
                        "psid": f"7{n:015d}",
                        "name": f"Customer {n:05d}",
                        "last_user_at": now - rng.uniform(0, 9 * 86400),
                        "created_at": now - 86400 * 30,
                    }
                    for n in numbers
                ],
            )
            rows = []
            for n in numbers:
                status = statuses[n % 100]
                when = now - (count - n) * 30.0
                rows.append(
                    {
                        "id": n + 1,
                        "channel_id": pages[0] if n % 10 else pages[1],
                        "contact_id": n + 1,
                        "status": status,
                        "owner": "human" if status == "pending" or n % 3 == 0 else "handler",
                        "assignee": str(rng.choice(agents))
                        if n % 3 == 0 and status != "pending"
                        else None,
                        "last_message_at": when,
                        "created_at": when - 600,
                        "snoozed_until": now + 3600 if status == "snoozed" else None,
                        "unread": n % 4,
                        "preview": _sentence(rng)[:200],
                    }
                )
            await conn.execute(insert(conversations), rows)
            await conn.execute(
                insert(messages),
                [
                    {
                        "conversation_id": n + 1,
                        "channel_id": pages[0] if n % 10 else pages[1],
                        "mid": f"m.{n}.{k}",
                        "direction": "inbound" if k % 2 == 0 else "outbound",
                        "author": "contact" if k % 2 == 0 else "bot",
                        "text": _sentence(rng),
                        "status": "received" if k % 2 == 0 else "read",
                        "created_at": now - (count - n) * 30.0 - (3 - k) * 5,
                    }
                    for n in numbers
                    for k in range(3)
                ],
            )
    long_id = count + 1  # the last conversation: the newest, with the long transcript
    async with engine.begin() as conn:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == long_id)
            .values(status="open", assignee=str(agents[0]), last_message_at=now)
        )
        base = now - transcript * 60.0
        rows = []
        for k in range(transcript):
            inbound = k % 2 == 0
            entry = {
                "conversation_id": long_id,
                "channel_id": pages[0] if count % 10 else pages[1],
                "mid": f"m.long.{k}",
                "direction": "inbound" if inbound else "outbound",
                "author": "contact" if inbound else rng.choice(["bot", "agent", "page_inbox"]),
                "agent_name": None if inbound else "Agent 0",
                "text": _sentence(rng),
                "status": "received" if inbound else "read",
                "created_at": base + k * 60.0,
                "reactions": {"contact": "❤"} if k % 97 == 0 else None,
                "reply_to_mid": f"m.long.{k - 3}" if k % 41 == 0 and k > 3 else None,
                "attachments": [{"type": "image", "url": "https://cdn.example/x.png"}]
                if k % 53 == 0
                else None,
            }
            rows.append(entry)
        await conn.execute(insert(messages), rows)
        await conn.execute(
            insert(notes),
            [
                {
                    "conversation_id": long_id,
                    "kind": "note" if k % 2 else "system",
                    "text": _sentence(rng),
                    "user_name": "Agent 0",
                    "created_at": base + k * 3000.0,
                }
                for k in range(transcript // 50)
            ],
        )
        oldest = (
            await conn.execute(
                select(messages.c.id)
                .where(messages.c.conversation_id == long_id)
                .order_by(messages.c.id)
                .offset(transcript // 2)
                .limit(1)
            )
        ).scalar_one()
    await engine.dispose()
    return long_id, [agents[0], int(oldest)]


async def measure(
    url: str, data: Path, count: int, transcript: int, rounds: int
) -> dict[str, list[float]]:
    long_id, (agent_id, middle) = await fill(url, count, transcript)
    settings = Settings(
        data_dir=data,
        database_url=url,
        secret_keys=(Fernet.generate_key().decode(),),
        public_url="http://bench.test",
    )
    app = create_app(settings, run_worker=False, passwords=CHEAP)
    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
        login = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        signed = await client.post(
            "/login",
            data={"csrf_token": token.group(1), "email": "agent0@bench.test", "password": PASSWORD},
            headers={"origin": "http://bench.test"},
        )
        assert signed.status_code == 303, signed.text
        pages = {
            "list: open, all": "/inbox",
            "list: open, mine": "/inbox?view=mine",
            "list: pending": "/inbox?status=pending",
            "list: resolved, page 2": None,
            "list: one Page": "/inbox?channel=2",
            "list: fragment (live refresh)": "/inbox/list",
            "list: search a name": "/inbox?q=Customer+0420",
            "list: search message text": "/inbox?q=refund+shipping",
            f"open: {transcript}-message conversation": f"/inbox/{long_id}",
            "open: its fragment (header, panel)": f"/inbox/{long_id}/parts",
            "open: paging back": f"/inbox/{long_id}?before={middle}",
            "export: its JSON": f"/inbox/{long_id}/export?format=json",
        }
        first = (await client.get("/inbox?status=resolved")).text
        older = re.search(r'href="(/inbox\?[^"]*before=[^"]+)">Older conversations', first)
        assert older, "no second page of resolved conversations"
        pages["list: resolved, page 2"] = older.group(1).replace("&amp;", "&")
        for name, path in pages.items():
            assert path is not None
            answer = await client.get(path)  # warm: the first request of each builds caches
            assert answer.status_code == 200, (path, answer.status_code)
            spent = []
            for _ in range(rounds):
                started = time.perf_counter()
                answer = await client.get(path)
                spent.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            timings[name] = spent
    await app.state.engine.dispose()
    assert agent_id
    return timings


def report(name: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{name}\n")
    print("| request | p50 | p95 | max |")
    print("|---|---|---|---|")
    for request, spent in timings.items():
        ordered = sorted(spent)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        p50 = statistics.median(spent)
        print(f"| {request} | {p50:.1f} ms | {p95:.1f} ms | {max(spent):.1f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--transcript", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    shape = (args.conversations, args.transcript, args.rounds)
    with tempfile.TemporaryDirectory(prefix="frontdesk-inbox-") as folder:
        data = Path(folder)
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{data / 'bench.db'}"
            report("SQLite", asyncio.run(measure(url, data, *shape)))
        if args.only in (None, "postgresql"):
            made = postgres_schema(args.pg_url)
            if made is not None:
                url, schema = made
                try:
                    report("PostgreSQL", asyncio.run(measure(url, data, *shape)))
                finally:
                    drop_schema(args.pg_url, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
