"""Token lifetimes, `debug_token`, and the faults that break tokens (digest §8.2-§8.7, §9).

Each fault must break exactly the tokens Meta would break, with the documented 190 subcode,
and leave every other token working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from frontdesk.emulator import Emulator

from .conftest import (
    ADMIN,
    APP_ID,
    APP_SECRET,
    CHLOE,
    JOAO,
    PAGE,
    PAGE2,
    REDIRECT,
    Receiver,
    connect,
    graph_error,
    login,
    say,
    user_token,
)

OTHER_APP = "555666777888999"
OTHER_SECRET = "other-app-secret-9876543210fedcba"
APP_TOKEN = f"{APP_ID}|{APP_SECRET}"
SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata"
DEBUG_KEYS = {
    "app_id",
    "type",
    "application",
    "data_access_expires_at",
    "expires_at",
    "is_valid",
    "issued_at",
    "scopes",
    "granular_scopes",
    "user_id",
}


async def me(graph: httpx.AsyncClient, token: str) -> httpx.Response:
    return await graph.get("/v25.0/me", params={"access_token": token})


async def works(graph: httpx.AsyncClient, token: str) -> bool:
    response = await me(graph, token)
    return response.status_code == 200 and "id" in response.json()


async def advance(graph: httpx.AsyncClient, seconds: float) -> None:
    response = await graph.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def fault(graph: httpx.AsyncClient, kind: str, **body: str) -> dict[str, Any]:
    response = await graph.post(f"/_emulator/faults/{kind}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def add_other_app(graph: httpx.AsyncClient) -> None:
    response = await graph.post(
        "/_emulator/apps",
        json={"id": OTHER_APP, "secret": OTHER_SECRET, "name": "Other Connector", "mode": "live"},
    )
    assert response.status_code == 201, response.text


async def other_app_user_token(graph: httpx.AsyncClient, person: str = ADMIN) -> str:
    """Log `person` in to the second app and return its long-lived user token."""
    query = {"client_id": OTHER_APP, "redirect_uri": REDIRECT, "state": "s", "scope": SCOPE}
    await graph.get("/v25.0/dialog/oauth", params={**query, "as": person})
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={
            **query,
            "person_id": person,
            "action": "allow",
            "page": [PAGE, PAGE2],
            "permission": SCOPE.split(","),
        },
    )
    code = parse_qs(urlparse(response.headers["location"]).query)["code"][0]
    credentials = {"client_id": OTHER_APP, "client_secret": OTHER_SECRET}
    short = await graph.get(
        "/v25.0/oauth/access_token",
        params={**credentials, "redirect_uri": REDIRECT, "code": code},
    )
    long = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            **credentials,
            "grant_type": "fb_exchange_token",
            "fb_exchange_token": short.json()["access_token"],
        },
    )
    assert long.status_code == 200, long.text
    return str(long.json()["access_token"])


async def page_tokens(graph: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await graph.get("/v25.0/me/accounts", params={"access_token": token})
    assert response.status_code == 200, response.text
    return {page["id"]: page["access_token"] for page in response.json()["data"]}


async def short_user_token(graph: httpx.AsyncClient, person: str = ADMIN) -> tuple[str, int]:
    code = await login(graph, person)
    response = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"]), int(response.json()["expires_in"])


async def give_role(graph: httpx.AsyncClient, page: str, person: str, tasks: list[str]) -> None:
    response = await graph.put(f"/_emulator/pages/{page}/roles/{person}", json={"tasks": tasks})
    assert response.status_code == 200, response.text


async def debug(
    graph: httpx.AsyncClient, input_token: str, caller: str = APP_TOKEN
) -> httpx.Response:
    return await graph.get(
        "/v25.0/debug_token", params={"input_token": input_token, "access_token": caller}
    )


async def now(graph: httpx.AsyncClient) -> float:
    return float((await graph.get("/_emulator/clock")).json()["now"])


# --- lifetimes ---------------------------------------------------------------------------------


async def test_a_short_lived_user_token_expires_on_the_emulated_clock(
    graph: httpx.AsyncClient,
) -> None:
    short, expires_in = await short_user_token(graph)
    long = await user_token(graph)
    assert await works(graph, short)

    await advance(graph, expires_in - 1)
    assert await works(graph, short)

    await advance(graph, 1)
    error = graph_error(await me(graph, short), 190, 463)
    assert "expired" in error["message"].lower()
    assert await works(graph, long)  # the long-lived token is good for about 60 days


async def test_a_long_lived_user_token_expires_after_about_sixty_days(
    graph: httpx.AsyncClient,
) -> None:
    long = await user_token(graph)
    page = (await page_tokens(graph, long))[PAGE]

    await advance(graph, 59 * 86400)
    assert await works(graph, long)

    await advance(graph, 2 * 86400)
    graph_error(await me(graph, long), 190, 463)
    # Page tokens derived from a long-lived user token have no expiry (digest §8.4).
    assert await works(graph, page)


async def test_page_tokens_from_a_short_lived_user_token_last_about_an_hour(
    graph: httpx.AsyncClient,
) -> None:
    short, _ = await short_user_token(graph)
    page = (await page_tokens(graph, short))[PAGE]
    assert await works(graph, page)

    await advance(graph, 3600 + 1)

    graph_error(await me(graph, page), 190, 463)


async def test_the_authorization_header_is_as_good_as_the_access_token_parameter(
    graph: httpx.AsyncClient,
) -> None:
    token = await user_token(graph)
    by_header = await graph.get("/v25.0/me", headers={"Authorization": f"Bearer {token}"})
    by_param = await me(graph, token)

    assert by_header.status_code == 200
    assert by_header.json() == by_param.json() == {"id": ADMIN, "name": "Morgan Reyes"}


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("EAAnot-a-real-token", 190),
        (f"{APP_ID}|wrong-secret", 190),
        (f"{APP_ID}|sécret", 190),
        ("123|abc", 190),
    ],
    ids=["unknown", "wrong-app-secret", "unicode-app-secret", "unknown-app"],
)
async def test_bad_tokens_answer_190(graph: httpx.AsyncClient, token: str, code: int) -> None:
    graph_error(await me(graph, token), code)


async def test_no_token_at_all_is_refused_with_the_envelope(graph: httpx.AsyncClient) -> None:
    response = await graph.get("/v25.0/me")
    error = graph_error(response, 104)
    assert "access token" in error["message"].lower()


# --- faults ------------------------------------------------------------------------------------


async def test_a_password_change_breaks_exactly_that_persons_tokens(
    graph: httpx.AsyncClient,
) -> None:
    await add_other_app(graph)
    await give_role(graph, PAGE, JOAO, ["MESSAGING", "MODERATE"])
    admin_user = await user_token(graph)
    admin_pages = await page_tokens(graph, admin_user)
    admin_other_user = await other_app_user_token(graph)
    admin_other_pages = await page_tokens(graph, admin_other_user)
    joao_user = await user_token(graph, JOAO)
    joao_page = (await page_tokens(graph, joao_user))[PAGE]
    chloe_user = await user_token(graph, CHLOE)
    admins = [admin_user, admin_other_user, *admin_pages.values(), *admin_other_pages.values()]
    assert len(admins) == 6
    assert all([await works(graph, t) for t in admins])

    result = await fault(graph, "password-change", person_id=ADMIN)

    assert result["tokens_invalidated"] >= len(admins)
    for token in admins:
        error = graph_error(await me(graph, token), 190, 460)
        assert "password" in error["message"].lower()
    # Page-token endpoints answer the same.
    graph_error(
        await graph.get(
            f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": admin_pages[PAGE]}
        ),
        190,
        460,
    )
    for token in (joao_user, joao_page, chloe_user, APP_TOKEN):
        assert (
            await graph.get(f"/v25.0/{APP_ID}", params={"access_token": token})
        ).status_code == 200
    assert await works(graph, joao_user)
    assert await works(graph, joao_page)
    assert await works(graph, chloe_user)

    # Logging in again after the change gives working tokens.
    fresh = await user_token(graph)
    assert await works(graph, fresh)
    fresh_page = (await page_tokens(graph, fresh))[PAGE]
    assert fresh_page != admin_pages[PAGE]
    assert await works(graph, fresh_page)


async def test_expire_token_breaks_one_token_with_463(graph: httpx.AsyncClient) -> None:
    user = await user_token(graph)
    pages = await page_tokens(graph, user)

    result = await fault(graph, "expire-token", token=pages[PAGE])

    assert result["tokens_expired"] == 1
    error = graph_error(await me(graph, pages[PAGE]), 190, 463)
    assert "expired" in error["message"].lower()
    assert await works(graph, pages[PAGE2])
    assert await works(graph, user)


async def test_expire_token_by_person_expires_all_of_theirs(graph: httpx.AsyncClient) -> None:
    admin = await user_token(graph)
    admin_page = (await page_tokens(graph, admin))[PAGE]
    chloe = await user_token(graph, CHLOE)

    await fault(graph, "expire-token", person_id=ADMIN)

    graph_error(await me(graph, admin), 190, 463)
    graph_error(await me(graph, admin_page), 190, 463)
    assert await works(graph, chloe)


async def test_losing_the_page_role_breaks_only_that_page_token_with_492(
    graph: httpx.AsyncClient,
) -> None:
    await give_role(graph, PAGE, JOAO, ["MESSAGING"])
    admin = await user_token(graph)
    admin_pages = await page_tokens(graph, admin)
    joao_page = (await page_tokens(graph, await user_token(graph, JOAO)))[PAGE]

    await fault(graph, "remove-role", page_id=PAGE, person_id=ADMIN)

    graph_error(await me(graph, admin_pages[PAGE]), 190, 492)
    assert await works(graph, admin_pages[PAGE2])
    assert await works(graph, admin)
    assert await works(graph, joao_page)
    # The Page is gone from the person's list, so no new token for it either.
    assert set(await page_tokens(graph, admin)) == {PAGE2}


async def test_removing_the_app_from_the_page_breaks_its_page_token_and_unsubscribes(
    emulator: Emulator, graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    await add_other_app(graph)
    token = await connect(graph)
    other_pages = await page_tokens(graph, await other_app_user_token(graph))
    subscribed = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages", "access_token": other_pages[PAGE]},
    )
    assert subscribed.json() == {"success": True}
    admin = await user_token(graph)
    page2 = (await page_tokens(graph, admin))[PAGE2]

    await fault(graph, "remove-app", page_id=PAGE, app_id=APP_ID)

    error = graph_error(await me(graph, token), 190, 458)
    assert APP_ID in error["message"]
    assert await works(graph, page2)
    assert await works(graph, admin)
    listed = await graph.get(
        f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": other_pages[PAGE]}
    )
    assert [app["id"] for app in listed.json()["data"]] == [OTHER_APP]
    assert PAGE not in await page_tokens(graph, admin)

    await say(graph, "anyone there?")
    await emulator.meta.drain()
    assert receiver.posts == []  # the app hears nothing from that Page any more


async def test_removing_the_app_also_ends_access_granted_through_a_business(
    graph: httpx.AsyncClient,
) -> None:
    # A browser login leaves the business portfolio ticked: the Page comes in through it.
    query = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "s", "scope": SCOPE}
    await graph.get("/v25.0/dialog/oauth", params={**query, "as": ADMIN})
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={
            **query,
            "person_id": ADMIN,
            "action": "allow",
            "business": ["2200000000000001"],
            "permission": SCOPE.split(","),
        },
    )
    code = parse_qs(urlparse(response.headers["location"]).query)["code"][0]
    short = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    user = short.json()["access_token"]
    assert set(await page_tokens(graph, user)) == {PAGE}

    await fault(graph, "remove-app", page_id=PAGE, app_id=APP_ID)

    assert await page_tokens(graph, user) == {}


async def test_revoking_all_permissions_breaks_user_and_page_tokens_with_458(
    graph: httpx.AsyncClient,
) -> None:
    user = await user_token(graph)
    page = (await page_tokens(graph, user))[PAGE]
    chloe = await user_token(graph, CHLOE)

    revoked = await graph.delete("/v25.0/me/permissions", params={"access_token": user})

    assert revoked.json() == {"success": True}
    graph_error(await me(graph, user), 190, 458)
    graph_error(await me(graph, page), 190, 458)
    assert await works(graph, chloe)


# --- debug_token -------------------------------------------------------------------------------


async def test_debug_token_of_a_page_token_from_a_long_lived_user_token(
    graph: httpx.AsyncClient,
) -> None:
    page = (await page_tokens(graph, await user_token(graph)))[PAGE]

    response = await debug(graph, page)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == DEBUG_KEYS | {"profile_id"}
    assert data["type"] == "PAGE"
    assert data["app_id"] == APP_ID
    assert data["application"] == "Frontdesk Demo"
    assert data["profile_id"] == PAGE
    assert data["user_id"] == ADMIN
    assert data["is_valid"] is True
    assert data["expires_at"] == 0
    assert data["issued_at"] == int(await now(graph))
    assert data["data_access_expires_at"] > data["issued_at"]
    assert set(data["scopes"]) == {"public_profile", *SCOPE.split(",")}
    granular = {g["scope"]: g["target_ids"] for g in data["granular_scopes"]}
    assert set(granular) <= set(data["scopes"])
    assert PAGE in granular["pages_messaging"]


async def test_debug_token_of_a_short_lived_user_token(graph: httpx.AsyncClient) -> None:
    short, expires_in = await short_user_token(graph)

    data = (await debug(graph, short)).json()["data"]

    assert set(data) == DEBUG_KEYS
    assert data["type"] == "USER"
    assert data["user_id"] == ADMIN
    assert data["is_valid"] is True
    assert data["expires_at"] == data["issued_at"] + expires_in


async def test_debug_token_of_a_page_token_from_a_short_lived_user_token_expires(
    graph: httpx.AsyncClient,
) -> None:
    short, _ = await short_user_token(graph)
    page = (await page_tokens(graph, short))[PAGE]
    start = int(await now(graph))

    data = (await debug(graph, page)).json()["data"]
    assert data["type"] == "PAGE"
    assert start < data["expires_at"] <= start + 2 * 3600

    await advance(graph, data["expires_at"] - start)
    expired = await debug(graph, page)

    assert expired.status_code == 200
    data = expired.json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["code"] == 190
    assert data["error"]["subcode"] == 463
    assert isinstance(data["error"]["message"], str)


async def test_debug_token_reports_an_invalidated_token_inside_data(
    graph: httpx.AsyncClient,
) -> None:
    page = (await page_tokens(graph, await user_token(graph)))[PAGE]
    await fault(graph, "password-change", person_id=ADMIN)

    response = await debug(graph, page)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["is_valid"] is False
    assert data["type"] == "PAGE"
    assert data["profile_id"] == PAGE
    assert {k: data["error"][k] for k in ("code", "subcode")} == {"code": 190, "subcode": 460}


async def test_debug_token_of_an_app_token(graph: httpx.AsyncClient) -> None:
    data = (await debug(graph, APP_TOKEN)).json()["data"]

    assert data["type"] == "APP"
    assert data["app_id"] == APP_ID
    assert data["is_valid"] is True


async def test_debug_token_accepts_a_user_token_of_the_same_app_as_caller(
    graph: httpx.AsyncClient,
) -> None:
    user = await user_token(graph)
    page = (await page_tokens(graph, user))[PAGE]

    data = (await debug(graph, page, caller=user)).json()["data"]

    assert data["profile_id"] == PAGE


@pytest.mark.parametrize(
    "input_token", ["EAAnot-a-token", "", "x" * 10_000, f"{APP_ID}|wrong", "ü|ö"]
)
async def test_debug_token_of_garbage_is_a_top_level_error(
    graph: httpx.AsyncClient, input_token: str
) -> None:
    response = await debug(graph, input_token)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in (100, 190)
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)


async def test_debug_token_refuses_other_callers(graph: httpx.AsyncClient) -> None:
    await add_other_app(graph)
    user = await user_token(graph)
    page = (await page_tokens(graph, user))[PAGE]

    graph_error(await debug(graph, user, caller="EAAgarbage"), 190)
    graph_error(await debug(graph, user, caller=f"{OTHER_APP}|{OTHER_SECRET}"), 100)
    assert (await debug(graph, user, caller=page)).status_code == 400
    graph_error(await graph.get("/v25.0/debug_token", params={"access_token": APP_TOKEN}), 100)
