"""Every field of the webhook envelope fuzzed: no 500, nothing lost, nothing unsigned stored."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from frontdesk.store import conversations as store
from frontdesk.store.tables import webhook_bodies

from .test_webhook import NOW, PAGE, client, frontdesk, signed  # noqa: F401 - fixtures

pytestmark = pytest.mark.db

ENVELOPE: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": PAGE,
            "time": 1767225600123,
            "messaging": [
                {
                    "sender": {"id": "7301234567890123"},
                    "recipient": {"id": PAGE},
                    "timestamp": 1767225600001,
                    "message": {"mid": "m_q1", "text": "hi", "reply_to": {"mid": "m_0"}},
                }
            ],
        }
    ],
}
PATHS = [
    ("object",),
    ("entry",),
    ("entry", 0),
    ("entry", 0, "id"),
    ("entry", 0, "time"),
    ("entry", 0, "messaging"),
    ("entry", 0, "messaging", 0),
    ("entry", 0, "messaging", 0, "sender"),
    ("entry", 0, "messaging", 0, "sender", "id"),
    ("entry", 0, "messaging", 0, "recipient"),
    ("entry", 0, "messaging", 0, "timestamp"),
    ("entry", 0, "messaging", 0, "message"),
    ("entry", 0, "messaging", 0, "message", "mid"),
    ("entry", 0, "messaging", 0, "message", "text"),
    ("entry", 0, "messaging", 0, "message", "reply_to"),
]
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(ENVELOPE)
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


@pytest.fixture
async def channel(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await store.add_channel(conn, PAGE, "Lisbon Tees", NOW)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), value=values, tamper=st.booleans())
async def test_fuzzed_envelopes_are_stored_or_refused_never_a_500(
    client: httpx.AsyncClient,  # noqa: F811 - the fixture imported above
    frontdesk: Starlette,  # noqa: F811
    engine: AsyncEngine,
    channel: None,
    path: tuple[Any, ...],
    value: Any,
    tamper: bool,
) -> None:
    body = json.dumps(mutate(path, value)).encode()
    headers = signed(body)
    if tamper:
        body = body + b" "
    async with engine.connect() as conn:
        before = (await conn.execute(select(func.count()).select_from(webhook_bodies))).scalar_one()
    response = await client.post("/webhooks/messenger", content=body, headers=headers)
    async with engine.connect() as conn:
        after = (await conn.execute(select(func.count()).select_from(webhook_bodies))).scalar_one()
    if tamper:
        assert response.status_code == 403
        assert after == before  # nothing unsigned is stored
    else:
        assert (response.status_code, response.text) == (200, "EVENT_RECEIVED")
        assert after == before + 1  # nothing signed is lost
    worker = frontdesk.state.worker
    failed = worker.failed
    await worker.run_until_idle()
    assert worker.failed == failed  # filing whatever was stored never fails a job
