"""Echoes on a channel connected through its own Meta app (a manual setup, or a workspace's own
app): our sends come back from that app, not the operator's, and must be filed as ours, not as
a person's reply from Meta's Page Inbox (which would hand the conversation to a human)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import HandoffStage
from frontdesk.emulator import psid_for
from frontdesk.store import accounts, hooks, outbox
from frontdesk.store import conversations as store
from frontdesk.workers import queue, sending
from tests.flows.harness import JOAO, PAGE, Desk, connected

pytestmark = pytest.mark.db

OWN_APP = "555000111222333"


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        await connected_desk.say("Hi, a question about my order")
        async with connected_desk.engine.begin() as conn:
            workspace = await accounts.create_workspace(conn, "Lisbon Tees", 0.0)
            hook = await hooks.create(
                conn, connected_desk.secrets, workspace.id, "http://emulator.test", "v25.0", 0.0
            )
            await hooks.attach(
                conn, connected_desk.secrets, hook.id, connected_desk.channel_id, OWN_APP, "s3cret"
            )
            # Sends wait (a paused outbox): the echo below plays the one that got through
            # while Frontdesk's own record of it was lost.
            await outbox.flag_channel(
                conn, connected_desk.channel_id, outbox.RECONNECT_NEEDED, "paused", 0.0
            )
        yield connected_desk


async def echo(desk: Desk, app_id: str, metadata: str, mid: str) -> None:
    """An echo as Meta sends it for a message the Page sent through `app_id`."""
    event = {
        "sender": {"id": PAGE},
        "recipient": {"id": psid_for(PAGE, JOAO)},
        "timestamp": int(desk.clock.now() * 1000),
        "message": {
            "is_echo": True,
            "app_id": int(app_id),
            "metadata": metadata,
            "mid": mid,
            "text": "Your parcel left this morning.",
        },
    }
    async with desk.engine.begin() as conn:
        # A job of one event as queued before the intake grouped a conversation's events
        # (`store.intake`): still read, so jobs waiting across an upgrade are filed.
        await queue.enqueue(
            conn,
            "event",
            {"page_id": PAGE, "event": event, "standby": False},
            key=f"{PAGE}:{psid_for(PAGE, JOAO)}",
            now=desk.clock.now(),
        )
    await desk.worker.run_until_idle()


async def stage(desk: Desk) -> HandoffStage:
    conversation_id = await desk.conversation_id(JOAO)
    async with desk.engine.connect() as conn:
        return (await store.handoff_of(conn, conversation_id)).stage


async def test_the_channels_own_app_echoing_our_send_files_it_as_ours(desk: Desk) -> None:
    message_id = await desk.reply("Your parcel left this morning.")  # queued, not sent yet
    await echo(desk, OWN_APP, sending.metadata_for(message_id), "m_own_app_1")
    [found] = [m for m in await desk.messages() if m["id"] == message_id]
    assert (found["mid"], found["status"]) == ("m_own_app_1", "sent")
    assert [m["author"] for m in await desk.messages() if m["direction"] == "outbound"] == ["agent"]
    assert await stage(desk) is HandoffStage.BOT


async def test_another_app_echoing_is_still_a_person_in_the_page_inbox(desk: Desk) -> None:
    message_id = await desk.reply("Your parcel left this morning.")
    await echo(desk, "999000111222333", sending.metadata_for(message_id), "m_elsewhere_1")
    outbound = [m for m in await desk.messages() if m["direction"] == "outbound"]
    assert [(m["author"], m["mid"]) for m in outbound] == [
        ("agent", None),
        ("page_inbox", "m_elsewhere_1"),
    ]
    assert await stage(desk) is HandoffStage.HUMAN
