"""A handoff timer (pickup or idle timeout) waits beside the conversation, never in front of it:
the customer's messages are filed at once while it waits, and it still fires when due."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import HandoffStage
from frontdesk.store import conversations as store
from frontdesk.store import handoff_settings
from tests.flows.harness import JOAO, PAGE, Desk, connected

pytestmark = pytest.mark.db


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        async with connected_desk.engine.begin() as conn:
            await handoff_settings.save(
                conn,
                handoff_settings.ChannelHandoff(
                    channel_id=connected_desk.channel_id,
                    page_id=PAGE,
                    link="inbox",
                    pickup_minutes=30,
                    fallback_to_handler=True,
                ),
                connected_desk.clock.now(),
            )
        yield connected_desk


async def stage(desk: Desk) -> HandoffStage:
    conversation_id = await desk.conversation_id(JOAO)
    async with desk.engine.connect() as conn:
        return (await store.handoff_of(conn, conversation_id)).stage


async def test_messages_written_while_a_pickup_timer_waits_are_filed_at_once(desk: Desk) -> None:
    await desk.say("human")
    assert await stage(desk) is HandoffStage.HUMAN_REQUESTED
    await desk.say("Hello? Is anyone there?")
    inbound = [m["text"] for m in await desk.messages() if m["direction"] == "inbound"]
    assert inbound == ["human", "Hello? Is anyone there?"]
    assert await stage(desk) is HandoffStage.HUMAN_REQUESTED

    await desk.advance(31 * 60)  # nobody took it: back to the handler, as configured
    await desk.settle()
    assert await stage(desk) is HandoffStage.BOT
