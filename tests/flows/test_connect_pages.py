"""`demo.connect_pages`: several of the admin's Pages granted in one Login, each stored as a
channel, subscribed, and answered by the shop assistant, as `frontdesk dev` connects its Page
(and as `bench/rules.py` connects a business's Pages)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from frontdesk.demo import DEMO_PAGE_ID, DemoError, connect_pages
from frontdesk.store import bots
from frontdesk.store import conversations as store

from ..web.console.stage import JOAO, Stage, staged

PORTO = "104857600099999"  # the default world's second Page of the same admin


def connect(stage: Stage, page_ids: list[str]) -> list[str]:
    async def go() -> list[str]:
        async with httpx.AsyncClient(timeout=10) as http:
            pages = await connect_pages(
                http, stage.settings, stage.engine, stage.clock.now(), page_ids
            )
        return [page.id for page in pages]

    return stage.run(go())


def answers(stage: Stage, page_id: str) -> list[str]:
    sent = httpx.get(
        f"{stage.emulator}/_emulator/sent",
        params={"page_id": page_id, "person_id": JOAO},
        timeout=10,
    ).json()["data"]
    return [m.get("text") or "" for m in sent]


def test_the_admins_pages_connect_in_one_login_each_with_the_shop_assistant(
    tmp_path: Path,
) -> None:
    with staged(tmp_path) as stage:
        assert connect(stage, [DEMO_PAGE_ID, PORTO]) == [DEMO_PAGE_ID, PORTO]

        async def channels(conn: object) -> list[tuple[str, bool]]:
            found = []
            for page_id in (DEMO_PAGE_ID, PORTO):
                channel = await store.channel_for_page(conn, page_id)  # type: ignore[arg-type]
                assert channel is not None
                bot = await bots.of_channel(conn, channel.id)  # type: ignore[arg-type]
                found.append((channel.link, bot is not None))
            return found

        assert stage.database(channels) == [("rules", True), ("rules", True)]
        stage.control("act/message", {"page_id": PORTO, "person_id": JOAO, "text": "hi"})
        deadline = time.monotonic() + 15
        while not answers(stage, PORTO):
            assert time.monotonic() < deadline, "the second Page never answered"
            time.sleep(0.05)  # polling with a deadline
        assert answers(stage, DEMO_PAGE_ID) == []


def test_a_page_the_admin_was_not_granted_is_named(tmp_path: Path) -> None:
    with staged(tmp_path) as stage, pytest.raises(DemoError, match="104857600000000"):
        connect(stage, [DEMO_PAGE_ID, "104857600000000"])
