"""Bots and their versions, and what conversations remember, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import bots, memory
from frontdesk.store import conversations as store

pytestmark = pytest.mark.db

ONE = {"name": "One", "rules": []}
TWO = {"name": "Two", "rules": [{"when": {"postback": ["A"]}, "do": [{"text": "a"}]}]}


async def test_every_save_is_a_new_numbered_version_and_the_last_is_current(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "1", "Page", 1.0)
        bot = await bots.create(conn, channel_id, "One", 1.0)
        first = await bots.save_version(
            conn, bot.id, fmt="yaml", source="name: One\nrules: []\n", definition=ONE, now=2.0
        )
        second = await bots.save_version(
            conn, bot.id, fmt="json", source="{}", definition=TWO, now=3.0, note="buttons"
        )
        assert (first.number, second.number) == (1, 2)
        assert await bots.running(conn, channel_id) == (second.id, bots.digest(TWO))
        assert [v.number for v in await bots.versions(conn, bot.id)] == [2, 1]
        # A rollback saves the old definition again, as version 3, with the old digest.
        old = await bots.version(conn, bot.id, 1)
        assert old is not None
        third = await bots.save_version(
            conn, bot.id, fmt=old.format, source=old.source, definition=old.definition, now=4.0
        )
        assert third.number == 3
        assert third.digest == first.digest
        current = await bots.current(conn, bot.id)
        assert current is not None
        assert current.definition == ONE
        assert (await bots.of_channel(conn, channel_id)).name == "One"  # type: ignore[union-attr]
        assert await bots.version(conn, bot.id, 9) is None


async def test_the_digest_ignores_key_order() -> None:
    assert bots.digest({"a": 1, "b": [1, 2]}) == bots.digest({"b": [1, 2], "a": 1})
    assert bots.digest({"a": 1}) != bots.digest({"a": 2})


async def test_memory_round_trip(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "1", "Page", 1.0)
        thread = await store.thread_for(conn, channel_id, "42", 1.0)
        empty = await memory.load(conn, thread.conversation_id, thread.contact_id)
        assert (empty.state, dict(empty.fields), empty.tags) == (None, {}, frozenset())
        await memory.save_state(conn, thread.conversation_id, {"at": ["flow", "x"]}, 2.0)
        await memory.set_fields(conn, thread.contact_id, {"email": "a@b.pt", "plan": "x"}, 2.0)
        await memory.set_fields(conn, thread.contact_id, {"plan": None, "email": "c@d.pt"}, 3.0)
        await memory.change_tags(
            conn, thread.contact_id, frozenset({"vip", "new"}), frozenset(), 2.0
        )
        await memory.change_tags(
            conn, thread.contact_id, frozenset({"vip"}), frozenset({"new"}), 3.0
        )
        found = await memory.load(conn, thread.conversation_id, thread.contact_id)
        assert found.state == {"at": ["flow", "x"]}
        assert dict(found.fields) == {"email": "c@d.pt"}
        assert found.tags == {"vip"}
        await memory.save_state(conn, thread.conversation_id, {}, 4.0)
        cleared = await memory.load(conn, thread.conversation_id, thread.contact_id)
        assert cleared.state is None
        # Fields, tags and state come in one statement: names never mix them up.
        await memory.set_fields(conn, thread.contact_id, {"state": '{"at": "x"}'}, 5.0)
        await memory.change_tags(conn, thread.contact_id, frozenset({"field"}), frozenset(), 5.0)
        mixed = await memory.load(conn, thread.conversation_id, thread.contact_id)
        assert mixed.state is None
        assert dict(mixed.fields) == {"email": "c@d.pt", "state": '{"at": "x"}'}
        assert mixed.tags == {"vip", "field"}
