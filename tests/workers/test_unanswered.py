"""A turn the handler could not take: the customer's message stays filed, the transcript says the
bot could not answer and why (in plain words: no traceback, nothing of the error's text), the
channel is flagged for the banner, nothing is retried, and the flag goes once the bot answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core import LinkKind, Outcome, Reply, Turn
from frontdesk.store.tables import bot_versions, bots, channels, jobs, notes
from frontdesk.workers.unanswered import BOT_FAILING
from tests.flows.harness import NOW, Desk, connected

pytestmark = pytest.mark.db

SECRET = "EAAB-page-token-of-the-shop"


class Clumsy:
    """Answers, except on "crash", where it fails with a secret in its error's text."""

    async def handle(self, turn: Turn) -> Outcome:
        if turn.event.text == "crash":
            raise RuntimeError(f"could not call https://shop.example/?token={SECRET}")
        return Outcome(replies=(Reply(text="How can I help?"),))


async def system_lines(desk: Desk) -> list[str]:
    conversation_id = await desk.conversation_id()
    async with desk.engine.connect() as conn:
        rows = await conn.execute(
            select(notes.c.text)
            .where(notes.c.conversation_id == conversation_id, notes.c.kind == "system")
            .order_by(notes.c.id)
        )
        return [str(text) for text in rows.scalars()]


async def job_states(desk: Desk) -> set[str]:
    async with desk.engine.connect() as conn:
        return set((await conn.execute(select(jobs.c.state).distinct())).scalars())


async def test_a_handler_that_raises_leaves_a_line_and_a_flag(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with connected(
        database_url, engine, tmp_path, handlers={LinkKind.AI: Clumsy()}, link=LinkKind.AI
    ) as desk:
        await desk.say("crash")
        assert [(m["author"], m["text"]) for m in await desk.messages()] == [("contact", "crash")]
        [line] = await system_lines(desk)
        assert line == (
            "The bot could not answer this message: the ai handler stopped with an error "
            "(RuntimeError); the details are in Frontdesk's log. Answer the customer here."
        )
        channel = await desk.channel()
        assert channel["status"] == BOT_FAILING
        assert "RuntimeError" in channel["status_reason"]
        for said in (line, channel["status_reason"]):
            assert SECRET not in said
            assert "Traceback" not in said
        assert await job_states(desk) == {"done"}  # not retried

        await desk.say("hello again")  # the bot answers: the flag goes, the line stays
        assert (await desk.channel())["status"] == "active"
        assert await system_lines(desk) == [line]
        assert (await desk.outbound())[-1] == ("How can I help?", "delivered")


async def test_a_flag_of_a_connection_problem_is_not_replaced(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with connected(
        database_url, engine, tmp_path, handlers={LinkKind.AI: Clumsy()}, link=LinkKind.AI
    ) as desk:
        reason = "The Page token stopped working: it expired (190/463). Reconnect the Page."
        async with desk.engine.begin() as conn:
            await conn.execute(
                update(channels).values(status="reconnect_needed", status_reason=reason)
            )
        await desk.say("crash")
        assert len(await system_lines(desk)) == 1
        channel = await desk.channel()
        assert (channel["status"], channel["status_reason"]) == ("reconnect_needed", reason)


async def test_a_bot_version_that_cannot_run_leaves_a_line_and_a_flag(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with connected(database_url, engine, tmp_path, link=LinkKind.RULES) as desk:
        async with desk.engine.begin() as conn:
            bot_id = (
                await conn.execute(
                    insert(bots)
                    .values(channel_id=desk.channel_id, name="Shop", created_at=NOW, updated_at=NOW)
                    .returning(bots.c.id)
                )
            ).scalar_one()
            # Saved by an older Frontdesk, refused by this one; a value in it is a secret.
            version_id = (
                await conn.execute(
                    insert(bot_versions)
                    .values(
                        bot_id=bot_id,
                        number=1,
                        format="json",
                        source="{}",
                        definition={"rules": "not a list", "api_key": SECRET},
                        digest="f" * 64,
                        created_at=NOW,
                    )
                    .returning(bot_versions.c.id)
                )
            ).scalar_one()
            await conn.execute(
                update(bots).where(bots.c.id == bot_id).values(version_id=version_id)
            )
        await desk.say("hi")
        assert [(m["author"], m["text"]) for m in await desk.messages()] == [("contact", "hi")]
        [line] = await system_lines(desk)
        assert line.startswith(
            "The bot could not answer this message: the bot version it runs is not a valid bot "
            "for this Frontdesk (3 problems, the first at "
        )
        assert SECRET not in line
        assert (await desk.channel())["status"] == BOT_FAILING
        await desk.say("anyone?")  # one line per message, no retry, no more
        assert len(await system_lines(desk)) == 2
        assert await job_states(desk) == {"done"}
