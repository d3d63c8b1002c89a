"""Statements run by the driver (`store.prepared`) answer as `conn.execute` does, on each
database: the same rows and types (JSON, floats, NULLs), the same errors, in the same
transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    and_,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from frontdesk.store import conversations as conversations_store
from frontdesk.store.prepared import Prepared, padded
from frontdesk.store.tables import channels, contacts, conversations, messages

pytestmark = pytest.mark.db
NOW = 1_795_000_000.25


async def seed(conn: AsyncConnection) -> int:
    """A channel, a contact and a conversation; the conversation's id."""
    channel = await conversations_store.add_channel(conn, "1001", "Shop", NOW)
    return (await conversations_store.thread_for(conn, channel, "7001", NOW)).conversation_id


ADD = Prepared(
    insert(messages)
    .values(
        conversation_id=bindparam("conversation_id"),
        channel_id=select(conversations.c.channel_id)
        .where(conversations.c.id == bindparam("conversation_id"))
        .scalar_subquery(),
        mid=bindparam("mid"),
        direction="outbound",
        author="bot",
        text=bindparam("text"),
        outgoing=bindparam("outgoing", type_=JSON(none_as_null=True)),
        status="queued",
        created_at=bindparam("now"),
    )
    .returning(messages.c.id, messages.c.created_at)
)
READ = (
    select(
        messages.c.id,
        messages.c.mid,
        messages.c.text,
        messages.c.outgoing,
        messages.c.created_at,
        conversations.c.unread,
    )
    .where(
        and_(
            messages.c.conversation_id == conversations.c.id,
            conversations.c.id == bindparam("conversation_id"),
            # A fixed IN list, expanded when the statement is prepared.
            messages.c.status.in_(["queued", "sent"]),
        )
    )
    .order_by(messages.c.id)
)


async def test_rows_are_those_sqlalchemy_reads_json_floats_and_nulls_alike(
    engine: AsyncEngine,
) -> None:
    outgoing = {"quick_replies": [{"title": "Sí ✓", "payload": "YES"}], "n": 1.5}
    async with engine.begin() as conn:
        conversation = await seed(conn)
        first = await ADD.one(
            conn, conversation_id=conversation, mid="m1", text="héllo", outgoing=outgoing, now=NOW
        )
        await ADD.one(
            conn, conversation_id=conversation, mid="m2", text=None, outgoing=None, now=NOW
        )
        ours = await Prepared(READ).all(conn, conversation_id=conversation)
        theirs = (await conn.execute(READ, {"conversation_id": conversation})).all()

    assert first.created_at == NOW
    assert isinstance(first.id, int)
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert (ours[0].outgoing, ours[0].text) == (outgoing, "héllo")
    assert (ours[1].text, ours[1].outgoing) == (None, None)
    assert [type(value) for value in ours[0]] == [type(value) for value in theirs[0]]


async def test_first_scalar_one_and_run(engine: AsyncEngine) -> None:
    owner = Prepared(
        select(conversations.c.owner).where(conversations.c.id == bindparam("conversation_id"))
    )
    rename = Prepared(
        update(contacts).where(contacts.c.psid == bindparam("psid")).values(name=bindparam("name"))
    )
    counted = Prepared(select(func.count()).select_from(conversations))  # no parameter at all
    async with engine.begin() as conn:
        conversation = await seed(conn)
        assert await counted.scalar(conn) == 1
        assert await owner.scalar(conn, conversation_id=conversation) == "handler"
        assert await owner.scalar(conn, conversation_id=conversation + 1) is None
        assert await owner.first(conn, conversation_id=conversation + 1) is None
        with pytest.raises(NoResultFound):
            await owner.one(conn, conversation_id=conversation + 1)
        assert await rename.run(conn, psid="7001", name="Bea") == 1
        assert await rename.run(conn, psid="nobody", name="Bea") == 0
        assert await rename.all(conn, psid="7001", name="Cy") == []  # returns no rows
        names = (await conn.execute(select(contacts.c.name))).scalars().all()
    assert names == ["Cy"]


async def test_the_statement_is_part_of_the_callers_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        conversation = await seed(conn)
    async with engine.connect() as conn:  # no transaction begun: the statement begins it
        await ADD.one(conn, conversation_id=conversation, mid="m1", text="x", outgoing=None, now=1)
        await conn.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).all() == []


async def test_the_drivers_errors_are_sqlalchemys(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        conversation = await seed(conn)
        await ADD.one(conn, conversation_id=conversation, mid="m1", text="x", outgoing=None, now=1)
        with pytest.raises(IntegrityError):  # (channel_id, mid) is unique
            await ADD.one(
                conn, conversation_id=conversation, mid="m1", text="y", outgoing=None, now=1
            )
        await conn.rollback()


FULL = {"conversation_id": 1, "mid": "m", "text": "t", "outgoing": None, "now": 1}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"conversation_id": 1}, r"needs \['mid', 'now', 'outgoing', 'text'\]"),
        ({**FULL, "x": 2}, r"takes no \['x'\]"),
        # A value the statement holds itself is not the caller's to change.
        ({**FULL, "status": 2}, r"takes no \['status'\]"),
    ],
)
async def test_parameters_missing_or_unknown_are_refused_before_the_database_is_asked(
    engine: AsyncEngine, given: dict[str, Any], message: str
) -> None:
    async with engine.connect() as conn:
        with pytest.raises(TypeError, match=message):
            await ADD.one(conn, **given)
        assert not conn.in_transaction()


async def test_an_in_list_bound_per_call_is_refused(engine: AsyncEngine) -> None:
    bound = Prepared(
        select(messages.c.id).where(messages.c.status.in_(bindparam("states", expanding=True)))
    )
    async with engine.connect() as conn:
        with pytest.raises(ValueError, match="IN list must be written in it"):
            await bound.all(conn, states=["sent"])


async def test_literal_sql_in_the_statement_runs_as_written(engine: AsyncEngine) -> None:
    literal = Prepared(
        select(literal_column("'ready'").label("state"), literal_column("2").label("two"))
    )
    async with engine.connect() as conn:
        row = await literal.one(conn)
    assert (row.state, row.two) == ("ready", 2)


async def test_listeners_of_statements_hear_of_prepared_ones(engine: AsyncEngine) -> None:
    heard: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        heard.append((sql, params))

    owner = Prepared(
        select(conversations.c.owner).where(conversations.c.id == bindparam("conversation_id"))
    )
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with engine.connect() as conn:
            await owner.first(conn, conversation_id=41)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)
    [(sql, params)] = [(sql, params) for sql, params in heard if "owner" in sql]
    assert "conversations.id = " in sql
    assert 41 in (params.values() if isinstance(params, dict) else params)


async def test_a_column_left_to_its_python_default_is_refused(engine: AsyncEngine) -> None:
    from frontdesk.store.tables import jobs

    partial = Prepared(insert(jobs).values(kind="x", payload={}, run_at=1.0, created_at=1.0))
    async with engine.connect() as conn:
        with pytest.raises(ValueError, match="name every column"):
            await partial.run(conn)


async def test_a_connection_found_gone_is_invalidated_and_not_handed_out_again(
    engine: AsyncEngine,
) -> None:
    owner = Prepared(
        select(conversations.c.owner).where(conversations.c.id == bindparam("conversation_id"))
    )
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:  # SQLite: the connection's file handle closed under it, in a transaction
            await conn.begin()
            (await conn.get_raw_connection()).driver_connection.sqlite.close()  # type: ignore[union-attr]
        with pytest.raises(DBAPIError) as caught:
            await owner.first(conn, conversation_id=1)
        assert caught.value.connection_invalidated
        assert conn.invalidated
    async with engine.connect() as conn:
        assert await owner.first(conn, conversation_id=1) is None


HOSTILE = [
    "O'Brien",
    "100% sure",
    "back\\slash",
    "two''quotes",
    "naïve ✓",
    "; DROP TABLE messages; --",
]


@pytest.mark.parametrize("constant", HOSTILE)
async def test_constants_are_written_into_the_sql_and_still_match_exactly(
    engine: AsyncEngine, constant: str
) -> None:
    # Written, not bound: a plan may depend on them (a partial index's condition) and SQLite
    # re-prepares a statement at each call whose plan depends on a bound value.
    by_text = Prepared(
        select(messages.c.mid).where(
            and_(
                messages.c.conversation_id == bindparam("conversation_id"),
                messages.c.text == constant,
                messages.c.status.in_(["queued", constant]),
            )
        )
    )
    compiled = by_text.compiled(engine.dialect)
    assert compiled.fixed == {}
    assert compiled.required == {"conversation_id"}
    async with engine.begin() as conn:
        conversation = await seed(conn)
        for mid, text_ in (("m1", constant), ("m2", constant + "x"), ("m3", "O")):
            await ADD.one(
                conn, conversation_id=conversation, mid=mid, text=text_, outgoing=None, now=1
            )
        found = await by_text.all(conn, conversation_id=conversation)
    assert [row.mid for row in found] == ["m1"]


async def test_the_callers_values_booleans_and_nulls_stay_bound(engine: AsyncEngine) -> None:
    statement = Prepared(
        update(contacts)
        .where(contacts.c.psid == bindparam("psid"))
        .values(name=None, unreachable_reason="gone", profile_checked_at=bindparam("at"))
    )
    compiled = statement.compiled(engine.dialect)
    assert compiled.required == {"psid", "at"}
    assert compiled.fixed == {"name": None, "unreachable_reason": "gone"}  # a SET: no plan
    assert "gone" not in compiled.sql
    flagged = Prepared(
        select(channels.c.id).where(channels.c.has_human_agent == bindparam("flag", True))
    )
    assert flagged.compiled(engine.dialect).fixed == {"flag": True}
    # A JSON value (a list here) has no literal form: it stays a parameter.
    tagged = Prepared(
        update(messages)
        .where(messages.c.id == bindparam("message_id"))
        .values(outgoing=["a", 1], attachments={"n": 2})
    )
    assert set(tagged.compiled(engine.dialect).fixed) == {"outgoing", "attachments"}
    async with engine.begin() as conn:
        await seed(conn)
        assert await statement.run(conn, psid="7001", at=NOW) == 1
        assert await flagged.all(conn) == []
        assert await tagged.run(conn, message_id=1) == 0
        row = (await conn.execute(select(contacts.c.name, contacts.c.unreachable_reason))).one()
    assert tuple(row) == (None, "gone")


def test_the_channel_look_up_names_the_partial_indexs_condition() -> None:
    sql = conversations_store._CHANNEL_FOR_PAGE.compiled(sqlite.dialect()).sql  # noqa: SLF001
    # The condition of `uq_channels_live_page_id`, as the index has it.
    assert "channels.status != 'removed'" in sql


def test_padded_lists_come_in_powers_of_two_and_keep_every_value_in_order() -> None:
    assert list(padded([], 4)) == []
    assert list(padded([7], 4)) == [[7]]
    assert list(padded([1, 2, 3], 4)) == [[1, 2, 3, 3]]
    assert list(padded([1, 2, 3, 4, 5], 4)) == [[1, 2, 3, 4], [5]]
    assert list(padded(list(range(11)), 8)) == [list(range(8)), [8, 9, 10, 10]]
