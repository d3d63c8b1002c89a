"""Pruning: finished jobs and raw webhook bodies go once expired, oldest first, a batch at a
time; unfinished jobs never; kept media no row names go once old, and a file downloaded again
meanwhile stays; a running worker prunes on its own."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.app import create_app
from frontdesk.settings import Settings
from frontdesk.store import conversations, removal
from frontdesk.store.media import INCOMING, MediaStore, reference
from frontdesk.store.tables import channels, contacts, jobs, webhook_bodies
from frontdesk.workers import retention
from frontdesk.workers.loop import Worker
from frontdesk.workers.retention import DAY, MediaSweep, Retention

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0


async def fill(engine: AsyncEngine) -> None:
    """Jobs and bodies of every age and state, ids in the order of their times."""
    rows = [
        ("done", NOW - 3 * DAY),
        ("done", NOW - 2 * DAY),
        ("dead", NOW - 40 * DAY),
        ("ready", None),  # however old, unfinished work stays
        ("running", None),
        ("done", NOW - 3600),
        ("dead", NOW - 2 * DAY),
    ]
    async with engine.begin() as conn:
        for n, (state, finished) in enumerate(rows):
            await conn.execute(
                insert(jobs).values(
                    kind="event",
                    key=f"k{n}",
                    payload={"n": n},
                    state=state,
                    attempts=1,
                    run_at=NOW - 50 * DAY,
                    created_at=NOW - 50 * DAY,
                    finished_at=finished,
                )
            )
        for age in (20 * DAY, 15 * DAY, 13 * DAY, 60.0):
            await conn.execute(
                insert(webhook_bodies).values(received_at=NOW - age, body=b"{}", state="stored")
            )


async def left(engine: AsyncEngine) -> tuple[list[int], list[float]]:
    async with engine.connect() as conn:
        kept = [row.payload["n"] for row in await conn.execute(select(jobs).order_by(jobs.c.id))]
        ages = [
            round((NOW - row.received_at) / DAY, 2)
            for row in await conn.execute(select(webhook_bodies).order_by(webhook_bodies.c.id))
        ]
    return kept, ages


async def test_expired_rows_go_and_everything_else_stays(engine: AsyncEngine) -> None:
    await fill(engine)
    async with engine.begin() as conn:
        removed = await retention.prune(conn, NOW, Retention())
    assert removed == 5
    kept, ages = await left(engine)
    assert kept == [3, 4, 5, 6]  # ready, running, done an hour ago, dead two days ago
    assert ages == [13.0, 0.0]
    async with engine.begin() as conn:
        assert await retention.prune(conn, NOW, Retention()) == 0


async def test_a_batch_at_a_time_oldest_first(engine: AsyncEngine) -> None:
    await fill(engine)
    keep = Retention(batch=1)
    async with engine.begin() as conn:
        assert await retention.prune(conn, NOW, keep) == 3  # one done, one dead, one body
    kept, ages = await left(engine)
    assert kept == [1, 3, 4, 5, 6]
    assert ages == [15.0, 13.0, 0.0]


async def test_a_running_worker_prunes_on_its_own(engine: AsyncEngine) -> None:
    await fill(engine)
    worker = Worker(engine, {}, clock=lambda: NOW, prune_every=0.01, keep=Retention(batch=2))
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while (await left(engine))[0] != [3, 4, 5, 6]:  # noqa: ASYNC110 - the database
                await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task
    assert (await left(engine))[1] == [13.0, 0.0]


# --- kept media no row names -------------------------------------------------------------------

REAL_NOW = time.time()
OLD = REAL_NOW - 3 * DAY


def keep_file(store: MediaStore, content: bytes, written: float | None = OLD) -> str:
    """Kept as a download keeps it, then made to look `written` then (None: left as it is)."""
    with store.incoming(max_bytes=10_000) as incoming:
        incoming.write(content)
        kept = incoming.keep()
    if written is not None:
        os.utime(store.path_of(kept.sha256), (written, written))
    return kept.sha256


def stored(digest: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "image",
            "url": "https://cdn.example/x.png",
            "stored": {"sha256": digest, "size": 4, "content_type": "image/png", "name": "x.png"},
        }
    ]


async def shop_with_media(engine: AsyncEngine, store: MediaStore) -> dict[str, str]:
    """A channel whose contact's picture and one message's photo are kept; and files nobody
    names: old, new, and an old part of a download that never finished."""
    files = {
        "picture": keep_file(store, b"picture"),
        "photo": keep_file(store, b"photo"),
        "forgotten": keep_file(store, b"forgotten"),
        "new": keep_file(store, b"new", written=REAL_NOW - 60),
    }
    async with engine.begin() as conn:
        channel_id = await conversations.add_channel(conn, "111", "Lisbon Tees", NOW)
        thread = await conversations.thread_for(conn, channel_id, "p-joao", NOW)
        await conversations.add_message(
            conn,
            thread,
            NOW,
            mid="m.1",
            direction="inbound",
            author="contact",
            text=None,
            status="received",
            attachments=stored(files["photo"]),
        )
        await conn.execute(
            update(contacts)
            .where(contacts.c.id == thread.contact_id)
            .values(profile_pic=reference(files["picture"]))
        )
    parts = store.root / INCOMING
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "part-abandoned").write_bytes(b"half")
    os.utime(parts / "part-abandoned", (OLD, OLD))
    (parts / "part-writing").write_bytes(b"half")
    return files


def on_disk(store: MediaStore) -> set[str]:
    return {p.name for p in store.root.rglob("*") if p.is_file()}


async def sweep_round(engine: AsyncEngine, keep: Retention) -> int:
    """Prune as the worker does, a transaction per call, until nothing is left to do; returns
    how many calls it took."""
    calls = 0
    while True:
        calls += 1
        async with engine.begin() as conn:
            if await retention.prune(conn, NOW, keep) == 0:
                return calls


async def test_kept_media_no_row_names_go_once_old_a_batch_at_a_time(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "media")
    files = await shop_with_media(engine, store)
    clock = [REAL_NOW]
    sweep = MediaSweep(store, every=DAY, grace=DAY, clock=lambda: clock[0])
    keep = Retention(batch=2, media=sweep)

    calls = await sweep_round(engine, keep)
    assert calls > 3  # rows and files, two at a time, each call its own transaction
    kept = on_disk(store)
    assert kept == {files["picture"], files["photo"], files["new"], "part-writing"}
    assert sweep.removed == 1
    # A round at most every day: until then nothing is looked at again.
    assert await sweep_round(engine, keep) == 1

    # The channel is removed with its history: its photo and picture go at the next round,
    # and so do the file nobody named and the part nobody writes to, now that they are old.
    async with engine.begin() as conn:
        channel_id = (await conn.execute(select(channels.c.id))).scalar_one()
        while not await removal.erase_batch(conn, channel_id, 1000):  # the whole history
            pass
    clock[0] += 2 * DAY
    await sweep_round(engine, keep)
    assert on_disk(store) == set()
    assert sweep.removed == 4


async def test_a_file_downloaded_again_while_it_is_pruned_stays(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "media")
    forgotten = keep_file(store, b"forgotten")
    async with engine.begin() as conn:
        channel_id = await conversations.add_channel(conn, "111", "Lisbon Tees", NOW)
        thread = await conversations.thread_for(conn, channel_id, "p-joao", NOW)
        await conversations.add_message(
            conn,
            thread,
            NOW,
            mid="m.1",
            direction="inbound",
            author="contact",
            text="Olá",
            status="received",
        )
    sweep = MediaSweep(store, clock=lambda: REAL_NOW)
    async with engine.begin() as conn:
        assert await sweep.step(conn, 1) == 1  # the round began: no row names the file...
    # ...when a media job downloads the same bytes again, to name them in a moment.
    again = keep_file(store, b"forgotten", written=None)
    assert again == forgotten
    await sweep_round(engine, Retention(batch=1, media=sweep))
    assert store.has(forgotten)
    assert sweep.removed == 0


def test_removing_a_file_leaves_a_new_copy_and_puts_back_what_it_set_aside(
    tmp_path: Path,
) -> None:
    store = MediaStore(tmp_path / "media")
    old = keep_file(store, b"old")
    new = keep_file(store, b"new", written=REAL_NOW)
    cut = REAL_NOW - DAY
    assert store.digests_after("", 10) == sorted([old, new])
    assert store.digests_after(min(old, new), 10) == [max(old, new)]
    assert (store.remove_if_older(new, cut), store.remove_if_older(old, cut)) == (False, True)
    assert store.remove_if_older(old, cut) is False  # already gone
    assert on_disk(store) == {new}

    # A pruner that died with a file set aside: it goes back, for the next round to judge.
    aside = store.root / INCOMING / f"aside-{new}-0a1b"
    os.rename(store.path_of(new), aside)
    assert store.tidy_incoming(REAL_NOW - DAY) == 0  # set aside just now: maybe still at work
    assert store.tidy_incoming(time.time() + 1) == 1
    assert on_disk(store) == {new}


async def test_a_running_worker_prunes_media_on_its_own(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "media")
    files = await shop_with_media(engine, store)
    sweep = MediaSweep(store, clock=lambda: REAL_NOW)
    worker = Worker(
        engine, {}, clock=lambda: NOW, prune_every=0.01, keep=Retention(batch=2, media=sweep)
    )
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while files["forgotten"] in on_disk(store):  # noqa: ASYNC110 - the disk
                await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task
    assert files["photo"] in on_disk(store)


def test_frontdesk_s_worker_prunes_the_media_of_its_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/frontdesk.db",
        secret_keys=(Fernet.generate_key().decode(),),
    )
    worker: Worker = create_app(settings).state.worker
    assert worker.retention.media is not None
    assert worker.retention.media.store.root == tmp_path / "media"
