"""What is stored of a profile: only what Meta gave, within the columns' sizes, and a name once
known is never lost to a later answer without one."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core.models import Contact
from frontdesk.store import conversations as store
from frontdesk.store import profiles
from frontdesk.store.tables import contacts, conversations

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0


async def new_contact(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "104857600012345", "Lisbon Tees", NOW)
        thread = await store.thread_for(conn, channel_id, "7301234567890123", NOW)
        return thread.contact_id


async def stored(engine: AsyncEngine, contact_id: int) -> tuple[object, ...]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    contacts.c.name,
                    contacts.c.locale,
                    contacts.c.profile_pic,
                    contacts.c.profile_checked_at,
                ).where(contacts.c.id == contact_id)
            )
        ).one()
        return tuple(row)


async def test_a_contact_is_due_until_asked_and_again_once_stale(engine: AsyncEngine) -> None:
    contact_id = await new_contact(engine)
    async with engine.begin() as conn:
        assert await profiles.due(conn, contact_id, NOW)
        await profiles.record(conn, contact_id, NOW)
        assert not await profiles.due(conn, contact_id, NOW)
        assert await profiles.due(conn, contact_id, NOW + 1)
        assert not await profiles.due(conn, contact_id + 1, NOW + 1)  # no such contact
        asking = await profiles.asking(conn, contact_id)
        assert asking is not None
        assert (asking.psid, asking.checked_at, asking.page_token) == (
            "7301234567890123",
            NOW,
            None,
        )
        assert await profiles.asking(conn, contact_id + 1) is None


async def test_oversized_or_empty_values_never_reach_the_columns(engine: AsyncEngine) -> None:
    """A 500-character name would be refused by PostgreSQL's varchar(200): it is cut instead."""
    contact_id = await new_contact(engine)
    async with engine.begin() as conn:
        await profiles.record(
            conn, contact_id, NOW, name="  " + "A" * 500, locale="pt_PT" * 10, picture=None
        )
    name, locale, picture, checked = await stored(engine, contact_id)
    assert (name, locale, picture, checked) == ("A" * 200, None, None, NOW)


async def test_a_known_name_stays_when_a_later_answer_has_none(engine: AsyncEngine) -> None:
    contact_id = await new_contact(engine)
    async with engine.begin() as conn:
        await profiles.record(
            conn,
            contact_id,
            NOW,
            name="Jo\u00e3o Pereira",
            locale="pt_PT",
            picture="media:" + "a" * 64,
        )
        await profiles.record(conn, contact_id, NOW + 10, name="   ", locale=None, picture=None)
    assert await stored(engine, contact_id) == (
        "Jo\u00e3o Pereira",
        "pt_PT",
        "media:" + "a" * 64,
        NOW + 10,
    )


async def test_the_thread_carries_the_contact_and_when_its_profile_was_asked_for(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        channel_id = await store.add_channel(conn, "104857600012345", "Lisbon Tees", NOW)
        first = await store.thread_for(conn, channel_id, "7301234567890123", NOW)
        assert (first.contact, first.profile_checked_at) == (Contact("7301234567890123"), None)
        await profiles.record(conn, first.contact_id, NOW, name="Ana Silva", locale="pt_PT")
        again = await store.thread_for(conn, channel_id, "7301234567890123", NOW)
        assert again.contact == Contact("7301234567890123", name="Ana Silva", locale="pt_PT")
        assert again.profile_checked_at == NOW
        # The conversation deleted: a new one begins, the contact as it was.
        await conn.execute(delete(conversations).where(conversations.c.id == first.conversation_id))
        fresh = await store.thread_for(conn, channel_id, "7301234567890123", NOW)
    assert fresh.conversation_id != first.conversation_id
    assert (fresh.contact, fresh.profile_checked_at) == (again.contact, NOW)
