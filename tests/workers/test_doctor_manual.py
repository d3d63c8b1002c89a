"""The connection doctor on a Page connected by hand (manual setup): it is examined through the
channel's own Meta app, and the app's webhook must point at the channel's own Callback URL (or
at a sibling's: one app has one URL for all its Pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import accounts, hooks
from frontdesk.store import conversations as store
from frontdesk.store.hooks import Hook
from frontdesk.store.meta_apps import MetaApp
from frontdesk.store.tables import channels
from frontdesk.workers import evidence
from frontdesk.workers.doctor import Doctor
from frontdesk.workers.examination import REQUIRED_FIELDS, Setup
from frontdesk.workers.findings import Check, Report, Verdict
from tests.flows.harness import APP_ID, APP_SECRET, PAGE, VERIFY, Desk, connected

pytestmark = pytest.mark.db

CALLBACK = "http://frontdesk.test/webhooks/messenger"


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as ready:
        await ready.say("Hi, is the blue tee back in stock?")
        yield ready


async def manual(desk: Desk, channel_id: int, now: float) -> Hook:
    """The channel as a manual setup would leave it: a hook of its own, through the app."""
    async with desk.engine.begin() as conn:
        workspace = await accounts.workspace_named(
            conn, "Lisbon"
        ) or await accounts.create_workspace(conn, "Lisbon", now)
        await conn.execute(
            update(channels).where(channels.c.id == channel_id).values(workspace_id=workspace.id)
        )
        made = await hooks.create(
            conn, desk.secrets, workspace.id, desk.emulator.base_url, "v25.0", now
        )
        await hooks.attach(conn, desk.secrets, made.id, channel_id, APP_ID, APP_SECRET)
        found = await hooks.by_id(conn, desk.secrets, made.id)
    assert found is not None
    return found


async def point_app_at(desk: Desk, url: str, verify: str) -> None:
    answer = await desk.meta.post(
        f"/v25.0/{APP_ID}/subscriptions",
        data={
            "object": "page",
            "callback_url": url,
            "verify_token": verify,
            "fields": ",".join(REQUIRED_FIELDS),
            "access_token": f"{APP_ID}|{APP_SECRET}",
        },
    )
    assert answer.json() == {"success": True}, answer.text


async def examine(desk: Desk, channel_id: int) -> Report:
    async with desk.engine.begin() as conn:
        facts = await evidence.gather_facts(conn, desk.secrets, channel_id, desk.clock.now())
    assert facts is not None
    # The operator's app as Frontdesk knows it is not this channel's: a wrong secret shows it
    # is not the one asked with.
    operator = MetaApp(APP_ID, "not-the-operators-secret", VERIFY, desk.emulator.base_url, "v25.0")
    async with desk.emulator.client() as client:
        return await Doctor(client, Setup(operator, CALLBACK)).examine(facts, desk.clock.now())


async def test_a_manual_channel_is_examined_through_its_own_app_and_url(desk: Desk) -> None:
    hook = await manual(desk, desk.channel_id, desk.clock.now())
    own_url = f"{CALLBACK}/{hook.key}"
    await point_app_at(desk, own_url, hook.verify_token)
    token = desk.secrets.decrypt((await desk.channel())["page_token"])
    subscribed = await desk.meta.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": ",".join(REQUIRED_FIELDS), "access_token": token},
    )
    assert subscribed.json() == {"success": True}, subscribed.text
    report = await examine(desk, desk.channel_id)
    assert [f.check for f in report.failed] == []
    assert (
        report.finding(Check.APP_WEBHOOK).detail == f"Verified, pointing at {own_url}, every field."
    )


async def test_the_app_wide_url_is_not_the_manual_channels(desk: Desk) -> None:
    hook = await manual(desk, desk.channel_id, desk.clock.now())
    await point_app_at(desk, CALLBACK, VERIFY)
    finding = (await examine(desk, desk.channel_id)).finding(Check.APP_WEBHOOK)
    assert finding.verdict is Verdict.FAIL
    assert f"not at this Frontdesk ({CALLBACK}/{hook.key})" in finding.detail


async def test_a_sibling_verified_later_is_where_the_app_points(desk: Desk) -> None:
    first = await manual(desk, desk.channel_id, desk.clock.now())
    await point_app_at(desk, f"{CALLBACK}/{first.key}", first.verify_token)
    async with desk.engine.begin() as conn:
        other = await store.add_channel(conn, "104857600099999", "Porto Books", desk.clock.now())
    await desk.advance(60)
    second = await manual(desk, other, desk.clock.now())
    # The admin set the app's one URL to the second Page's (Meta verified it then).
    await point_app_at(desk, f"{CALLBACK}/{second.key}", second.verify_token)
    finding = (await examine(desk, desk.channel_id)).finding(Check.APP_WEBHOOK)
    assert finding.verdict is Verdict.PASS, finding
    assert second.key in finding.detail
