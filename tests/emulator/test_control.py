"""The control API refuses bad input with a 400 and a reason, and never answers 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.emulator import Emulator, psid_for

from .conftest import JOAO, PAGE, connect, say

CONTROL_POSTS = [
    "/_emulator/apps",
    "/_emulator/people",
    "/_emulator/pages",
    "/_emulator/act/message",
    "/_emulator/act/postback",
    "/_emulator/act/reaction",
    "/_emulator/act/referral",
    "/_emulator/act/optin",
    "/_emulator/act/edit",
    "/_emulator/faults",
    "/_emulator/faults/password-change",
    "/_emulator/clock/advance",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retry_delays": "soon"}, "retry_delays"),
        ({"retry_delays": [1, -1]}, "retry_delays"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"connections": 0}, "connections"),
        ({"connections": 65}, "connections"),
        ({"connections": "many"}, "connections"),
        ({"duplicate_rate": 2}, "duplicate_rate"),
        ({"timeout": True}, "timeout"),
        ({"sha1": "yes"}, "sha1"),
        ({"seed": 3}, "seed"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
async def test_webhook_settings_are_range_checked_and_left_unchanged_on_error(
    graph: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    before = (await graph.get("/_emulator/settings")).json()
    response = await graph.patch(
        "/_emulator/settings", json={"webhooks": {"batch_size": 5, **change}}
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert (await graph.get("/_emulator/settings")).json() == before


async def test_valid_webhook_settings_apply(graph: httpx.AsyncClient) -> None:
    response = await graph.patch(
        "/_emulator/settings",
        json={"webhooks": {"batch_size": 3, "retry_delays": [0, 2], "sha1": False}},
    )
    assert response.status_code == 200
    webhooks = response.json()["webhooks"]
    assert (webhooks["batch_size"], webhooks["retry_delays"], webhooks["sha1"]) == (
        3,
        [0.0, 2.0],
        False,
    )


async def test_deeply_nested_json_is_a_400(graph: httpx.AsyncClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = await graph.post(
        "/_emulator/act/message", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "nested" in response.json()["error"]


async def test_oversized_control_body_is_refused(graph: httpx.AsyncClient) -> None:
    text = "x" * (1024 * 1024 + 1)
    response = await graph.post("/_emulator/act/message", content=json.dumps({"text": text}))
    assert response.status_code == 400
    assert "1 MiB" in response.json()["error"]


async def test_unknown_things_are_404_with_a_reason(graph: httpx.AsyncClient) -> None:
    response = await graph.post(
        "/_emulator/act/message", json={"page_id": "1", "person_id": JOAO, "text": "hi"}
    )
    assert response.status_code == 404
    assert response.json() == {"error": "no page 1"}


async def test_profile_extras_need_their_own_permissions(
    emulator: Emulator, graph: httpx.AsyncClient
) -> None:
    token = await connect(graph)
    await say(graph, "hello")
    psid = psid_for(PAGE, JOAO)
    fields = {"fields": "first_name,locale,timezone,gender", "access_token": token}
    without = (await graph.get(f"/v25.0/{psid}", params=fields)).json()
    assert without == {"id": psid, "first_name": "João"}
    await graph.patch(
        "/_emulator/apps/900100200300400",
        json={
            "permissions": {
                **emulator.meta.world.apps["900100200300400"].permissions,
                "pages_user_locale": "advanced",
            }
        },
    )
    with_locale = (await graph.get(f"/v25.0/{psid}", params=fields)).json()
    assert with_locale == {"id": psid, "first_name": "João", "locale": "pt_PT"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(CONTROL_POSTS), body=json_values)
async def test_arbitrary_json_never_breaks_the_control_api(
    graph: httpx.AsyncClient, path: str, body: Any
) -> None:
    response = await graph.post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize(
    "query", ["oe=ffffffff&oh=%C3%A9", "oe=%F0%9F%98%80&oh=0", "", "oe=zz&oh=zz"]
)
async def test_cdn_refuses_forged_links_without_crashing(
    graph: httpx.AsyncClient, query: str
) -> None:
    upload = await graph.post(
        "/_emulator/act/upload", files={"file": ("a.png", b"\x89PNG....", "image/png")}
    )
    url = httpx.URL(upload.json()["payload"]["url"])
    forged = await graph.get(url.path + ("?" + query if query else ""))
    assert forged.status_code == 403
    genuine = await graph.get(url.path, params=dict(url.params))
    assert genuine.content == b"\x89PNG...."
