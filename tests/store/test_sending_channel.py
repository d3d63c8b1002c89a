"""What the send job reads of a channel: whether its Page was connected through the operator's
app (its sends may share Graph batches with other Pages', under that app's token) or through
another app, a manual setup's or its workspace's own (they never do: `messenger.batch`)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store import accounts, hooks, meta_apps, outbox
from frontdesk.store import channels as store_channels
from frontdesk.store import conversations as store
from frontdesk.store.secrets import Secrets

pytestmark = pytest.mark.db
NOW = 1_795_000_000.0
GRAPH = "https://graph.facebook.com"


@pytest.mark.parametrize(
    ("hook_app", "expected"),
    [(None, False), ("777", True), ("", False)],
    ids=["operator's app", "another app (manual setup, or the workspace's own)", "a draft hook"],
)
async def test_a_channel_says_whether_its_page_came_through_another_app(
    engine: AsyncEngine, hook_app: str | None, expected: bool
) -> None:
    keys = Secrets((Fernet.generate_key().decode(),))
    async with engine.begin() as conn:
        workspace = await accounts.create_workspace(conn, "Shop", NOW)
        channel_id = await store.add_channel(conn, "111", "Page", NOW)
        other_id = await store.add_channel(conn, "222", "Other Page", NOW)
        for channel in (channel_id, other_id):
            await store_channels.adopt(conn, channel, workspace.id, "Page", NOW)
        # The workspace's own app, saved and in use, says nothing of a channel connected
        # before; another channel's hook neither.
        await meta_apps.save_own_app(
            conn,
            keys,
            workspace.id,
            NOW,
            in_use=True,
            app_id="888",
            app_secret="own-secret-123456",
            graph_url=GRAPH,
            graph_version="v25.0",
        )
        theirs = await hooks.create(conn, keys, workspace.id, GRAPH, "v25.0", NOW, app_id="999")
        await hooks.attach(conn, keys, theirs.id, other_id, "999", None)
        if hook_app is not None:
            hook = await hooks.create(conn, keys, workspace.id, GRAPH, "v25.0", NOW)
            if hook_app:
                await hooks.attach(conn, keys, hook.id, channel_id, hook_app, "secret-123456")
        found = await outbox.sending_channel(conn, channel_id)
        other = await outbox.sending_channel(conn, other_id)

    assert found is not None
    assert (found.id, found.page_id, found.own_app) == (channel_id, "111", expected)
    assert other is not None
    assert other.own_app
