"""The Graph API side of onboarding against the digest (§5.7, §8.4-§8.10, §9, §10, §11).

People, Pages, permissions, subscriptions, the Messenger Profile, personas, batch requests,
version prefixes, and hostile input: every answer is Meta's documented shape, every failure
Meta's error envelope, and nothing ever answers 500.
"""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.emulator import Clock, Emulator, psid_for

from .conftest import (
    ADMIN,
    ALL_FIELDS,
    ANA,
    APP_ID,
    APP_SECRET,
    CALLBACK,
    CHLOE,
    JOAO,
    PAGE,
    PAGE2,
    START,
    VERIFY_TOKEN,
    Receiver,
    graph_error,
    page_token,
    say,
    user_token,
)

APP_TOKEN = f"{APP_ID}|{APP_SECRET}"
OTHER_APP = "555666777888999"
OTHER_SECRET = "other-app-secret-9876543210fedcba"
ACCOUNT_KEYS = {"access_token", "category", "category_list", "name", "id", "tasks"}
SUBSCRIBED_APP_KEYS = {"category", "link", "name", "id", "subscribed_fields"}


def is_envelope(response: httpx.Response) -> bool:
    """A Graph error: JSON `{"error": {message, type, code, fbtrace_id}}` with a 4xx/5xx."""
    if response.status_code < 400 or response.status_code >= 500:
        return False
    if not response.headers.get("content-type", "").startswith("application/json"):
        return False
    body = response.json()
    if not isinstance(body, dict) or set(body) != {"error"}:
        return False
    error = body["error"]
    return (
        isinstance(error.get("message"), str)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("fbtrace_id"), str)
    )


@pytest.fixture
async def token(graph: httpx.AsyncClient) -> str:
    """The admin's Page token for PAGE, from a long-lived user token."""
    return await page_token(graph)


@pytest.fixture
async def user(graph: httpx.AsyncClient) -> str:
    return await user_token(graph)


async def page_token_of(graph: httpx.AsyncClient, user_token_value: str, page: str = PAGE) -> str:
    accounts = await graph.get("/v25.0/me/accounts", params={"access_token": user_token_value})
    assert accounts.status_code == 200, accounts.text
    return next(str(p["access_token"]) for p in accounts.json()["data"] if p["id"] == page)


async def give_role(graph: httpx.AsyncClient, page: str, person: str, tasks: list[str]) -> None:
    response = await graph.put(f"/_emulator/pages/{page}/roles/{person}", json={"tasks": tasks})
    assert response.status_code == 200, response.text


async def advance(graph: httpx.AsyncClient, seconds: float) -> None:
    response = await graph.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def subscribe_app(graph: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    data = {
        "object": "page",
        "callback_url": CALLBACK,
        "verify_token": VERIFY_TOKEN,
        "fields": "messages,messaging_postbacks",
        "access_token": APP_TOKEN,
    }
    data.update(overrides)
    return await graph.post(f"/v25.0/{APP_ID}/subscriptions", data=data)


# --- me ---------------------------------------------------------------------------------------


async def test_me_with_a_user_token(graph: httpx.AsyncClient, user: str) -> None:
    default = await graph.get("/v25.0/me", params={"access_token": user})
    assert default.json() == {"id": ADMIN, "name": "Morgan Reyes"}

    # Graph always answers the node's id beside the fields asked for.
    named = await graph.get(
        "/v25.0/me", params={"access_token": user, "fields": "first_name,last_name"}
    )
    assert named.json() == {"first_name": "Morgan", "last_name": "Reyes", "id": ADMIN}

    graph_error(await graph.get("/v25.0/me", params={"access_token": user, "fields": "nope"}), 100)


async def test_me_with_a_page_token_is_the_page(graph: httpx.AsyncClient, token: str) -> None:
    default = await graph.get("/v25.0/me", params={"access_token": token})
    assert default.json() == {"id": PAGE, "name": "Lisbon Tees"}

    status = await graph.get(
        "/v25.0/me", params={"access_token": token, "fields": "messaging_feature_status"}
    )
    body = status.json()
    assert set(body) == {"messaging_feature_status", "id"}
    assert body["id"] == PAGE
    feature = body["messaging_feature_status"]
    assert set(feature) == {"hop_v2", "msgr_multi_app", "ig_multi_app"}
    assert all(isinstance(v, bool) for v in feature.values())


# --- me/accounts --------------------------------------------------------------------------------


async def test_accounts_lists_granted_pages_with_tokens_and_tasks(
    graph: httpx.AsyncClient, user: str
) -> None:
    response = await graph.get("/v25.0/me/accounts", params={"access_token": user})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "paging"}
    assert [p["id"] for p in body["data"]] == [PAGE, PAGE2]
    first = body["data"][0]
    assert set(first) == ACCOUNT_KEYS
    assert first["name"] == "Lisbon Tees"
    assert first["category"] == "Clothing Store"
    assert first["category_list"] == [
        {"id": first["category_list"][0]["id"], "name": "Clothing Store"}
    ]
    assert set(first["tasks"]) == {
        "ADVERTISE",
        "ANALYZE",
        "CREATE_CONTENT",
        "MESSAGING",
        "MODERATE",
        "MANAGE",
    }
    assert isinstance(first["access_token"], str)
    assert first["access_token"] != body["data"][1]["access_token"]
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    assert "next" not in body["paging"]


async def test_accounts_lists_only_the_pages_picked_in_the_dialog(
    graph: httpx.AsyncClient,
) -> None:
    picked = await user_token(graph, pages=[PAGE2])
    none = await user_token(graph, CHLOE)

    response = await graph.get("/v25.0/me/accounts", params={"access_token": picked})
    assert [p["id"] for p in response.json()["data"]] == [PAGE2]
    empty = await graph.get("/v25.0/me/accounts", params={"access_token": none})
    assert empty.status_code == 200
    assert empty.json()["data"] == []


async def test_accounts_shows_the_tasks_a_person_really_has(graph: httpx.AsyncClient) -> None:
    await give_role(graph, PAGE, JOAO, ["MESSAGING", "ANALYZE"])
    joao = await user_token(graph, JOAO)

    data = (await graph.get("/v25.0/me/accounts", params={"access_token": joao})).json()["data"]

    assert [(p["id"], p["tasks"]) for p in data] == [(PAGE, ["MESSAGING", "ANALYZE"])]


async def test_accounts_pages_with_limit_and_after(graph: httpx.AsyncClient, user: str) -> None:
    first = await graph.get("/v25.0/me/accounts", params={"access_token": user, "limit": 1})
    body = first.json()
    assert [p["id"] for p in body["data"]] == [PAGE]
    assert "next" in body["paging"]
    after = body["paging"]["cursors"]["after"]

    second = await graph.get(
        "/v25.0/me/accounts", params={"access_token": user, "limit": 1, "after": after}
    )
    assert [p["id"] for p in second.json()["data"]] == [PAGE2]
    assert "next" not in second.json()["paging"]

    following_url = httpx.URL(body["paging"]["next"]).copy_merge_params({"access_token": user})
    following = await graph.get(following_url)
    assert [p["id"] for p in following.json()["data"]] == [PAGE2]

    past_the_end = await graph.get(
        "/v25.0/me/accounts",
        params={"access_token": user, "after": second.json()["paging"]["cursors"]["after"]},
    )
    assert past_the_end.json()["data"] == []


@pytest.mark.parametrize("limit", ["-1", "abc", "²", "1.5", "[1]", "", "٣"])
async def test_accounts_refuses_a_nonsense_limit(
    graph: httpx.AsyncClient, user: str, limit: str
) -> None:
    response = await graph.get("/v25.0/me/accounts", params={"access_token": user, "limit": limit})
    graph_error(response, 100)


@pytest.mark.parametrize("after", ["garbage", "aWR4Oi0x", "====", "ü", "x" * 5000])
async def test_accounts_refuses_a_forged_cursor_or_clamps_it(
    graph: httpx.AsyncClient, user: str, after: str
) -> None:
    response = await graph.get("/v25.0/me/accounts", params={"access_token": user, "after": after})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        graph_error(response, 100)


async def test_accounts_needs_pages_show_list(graph: httpx.AsyncClient) -> None:
    without = await user_token(graph, scope="pages_messaging")

    error = graph_error(
        await graph.get("/v25.0/me/accounts", params={"access_token": without}), 200
    )
    assert "pages_show_list" in error["message"]


async def test_accounts_needs_a_user_token(graph: httpx.AsyncClient, token: str) -> None:
    for credential in (token, APP_TOKEN):
        response = await graph.get("/v25.0/me/accounts", params={"access_token": credential})
        assert is_envelope(response), response.text


# --- me/permissions ------------------------------------------------------------------------------


async def test_revoking_one_permission_marks_it_and_takes_effect(
    graph: httpx.AsyncClient, user: str
) -> None:
    page = await page_token_of(graph, user)

    revoked = await graph.delete(
        "/v25.0/me/permissions/pages_manage_metadata", params={"access_token": user}
    )

    assert revoked.json() == {"success": True}
    listed = await graph.get("/v25.0/me/permissions", params={"access_token": user})
    statuses = {p["permission"]: p["status"] for p in listed.json()["data"]}
    assert statuses.get("pages_manage_metadata") in (None, "declined")
    assert statuses["pages_messaging"] == "granted"
    subscribe = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages", "access_token": page},
    )
    error = graph_error(subscribe, 200)
    assert "pages_manage_metadata" in error["message"]


async def test_permissions_need_a_user_token(graph: httpx.AsyncClient, token: str) -> None:
    response = await graph.get("/v25.0/me/permissions", params={"access_token": token})
    assert is_envelope(response)


# --- {page-id} ---------------------------------------------------------------------------------


async def test_page_fields(graph: httpx.AsyncClient, token: str) -> None:
    default = await graph.get(f"/v25.0/{PAGE}", params={"access_token": token})
    assert default.json() == {"id": PAGE, "name": "Lisbon Tees"}

    rich = await graph.get(
        f"/v25.0/{PAGE}",
        params={"access_token": token, "fields": "id,name,category,picture{url},link,username"},
    )
    body = rich.json()
    assert set(body) == {"id", "name", "category", "picture", "link", "username"}
    assert body["category"] == "Clothing Store"
    assert body["username"] == "lisbontees"
    assert body["link"].startswith("https://www.facebook.com/")
    picture = body["picture"]["data"]
    assert set(picture) == {"url", "height", "width", "is_silhouette"}
    assert (picture["height"], picture["width"], picture["is_silhouette"]) == (50, 50, False)


async def test_an_unknown_page_field_is_error_100(graph: httpx.AsyncClient, token: str) -> None:
    for fields in ("id,name,secret_sauce", "picture{url},,nope", "{}", "name.limit(2),x"):
        response = await graph.get(
            f"/v25.0/{PAGE}", params={"access_token": token, "fields": fields}
        )
        graph_error(response, 100)


async def test_an_unknown_object_is_error_100_33(graph: httpx.AsyncClient, token: str) -> None:
    for node in ("does_not_exist", "999999999999"):
        response = await graph.get(f"/v25.0/{node}", params={"access_token": token})
        error = graph_error(response, 100, 33)
        assert error["type"] == "GraphMethodException"
        assert node in error["message"]


# --- {psid} profile ----------------------------------------------------------------------------


async def test_the_profile_appears_once_the_person_wrote(
    graph: httpx.AsyncClient, token: str
) -> None:
    psid = psid_for(PAGE, JOAO)
    before = await graph.get(f"/v25.0/{psid}", params={"access_token": token})
    assert before.status_code == 200
    assert not {"first_name", "last_name", "name", "profile_pic"} & set(before.json())

    await say(graph, "olá")
    after = await graph.get(
        f"/v25.0/{psid}",
        params={"access_token": token, "fields": "first_name,last_name,profile_pic"},
    )

    body = after.json()
    assert set(body) == {"first_name", "last_name", "profile_pic", "id"}
    assert (body["first_name"], body["last_name"], body["id"]) == ("João", "Pereira", psid)
    assert body["profile_pic"].startswith(("http://", "https://"))
    named = await graph.get(f"/v25.0/{psid}", params={"access_token": token, "fields": "name"})
    assert named.json() == {"name": "João Pereira", "id": psid}
    graph_error(
        await graph.get(f"/v25.0/{psid}", params={"access_token": token, "fields": "email,x"}),
        100,
    )


async def test_a_psid_is_only_valid_on_its_own_page(graph: httpx.AsyncClient, token: str) -> None:
    await say(graph, "hi", page=PAGE2)
    other_page_psid = psid_for(PAGE2, JOAO)

    response = await graph.get(f"/v25.0/{other_page_psid}", params={"access_token": token})

    graph_error(response, 100, 33)


async def test_profile_access_needs_the_feature_for_people_without_a_role(
    graph: httpx.AsyncClient, token: str
) -> None:
    world = (await graph.get("/_emulator/world")).json()
    permissions = next(a for a in world["apps"] if a["id"] == APP_ID)["permissions"]
    del permissions["business_asset_user_profile_access"]
    patched = await graph.patch(f"/_emulator/apps/{APP_ID}", json={"permissions": permissions})
    assert patched.status_code == 200, patched.text
    await say(graph, "hi", person=JOAO)
    await say(graph, "hi", person=ANA)  # a tester of the app

    refused = await graph.get(f"/v25.0/{psid_for(PAGE, JOAO)}", params={"access_token": token})
    allowed = await graph.get(f"/v25.0/{psid_for(PAGE, ANA)}", params={"access_token": token})

    assert is_envelope(refused)
    error = refused.json()["error"]
    assert 2018247 in (error["code"], error.get("error_subcode"))  # digest §8.10
    assert allowed.json()["first_name"] == "Ana"


async def test_a_phone_created_account_has_no_profile(graph: httpx.AsyncClient, token: str) -> None:
    created = await graph.post(
        "/_emulator/people",
        json={"id": "7100000000000099", "name": "Pat", "created_by_phone": True},
    )
    assert created.status_code == 201, created.text
    await say(graph, "hello", person="7100000000000099")

    response = await graph.get(
        f"/v25.0/{psid_for(PAGE, '7100000000000099')}", params={"access_token": token}
    )

    assert is_envelope(response)
    error = response.json()["error"]
    assert 2018218 in (error["code"], error.get("error_subcode"))


# --- {page-id}/subscribed_apps ----------------------------------------------------------------


async def test_subscribed_apps_post_get_replace_delete(
    graph: httpx.AsyncClient, token: str
) -> None:
    url = f"/v25.0/{PAGE}/subscribed_apps"
    assert (await graph.get(url, params={"access_token": token})).json() == {"data": []}

    posted = await graph.post(
        url, params={"subscribed_fields": ",".join(ALL_FIELDS), "access_token": token}
    )
    assert posted.json() == {"success": True}
    listed = (await graph.get(url, params={"access_token": token})).json()["data"]
    assert len(listed) == 1
    assert set(listed[0]) == SUBSCRIBED_APP_KEYS
    assert listed[0]["id"] == APP_ID
    assert listed[0]["name"] == "Frontdesk Demo"
    assert listed[0]["subscribed_fields"] == ALL_FIELDS

    # A POST replaces the field list; it does not merge (digest §8.9).
    replaced = await graph.post(
        url, params={"subscribed_fields": "messages,feed", "access_token": token}
    )
    assert replaced.json() == {"success": True}
    listed = (await graph.get(url, params={"access_token": token})).json()["data"]
    assert listed[0]["subscribed_fields"] == ["messages", "feed"]

    deleted = await graph.delete(url, params={"access_token": token})
    assert deleted.json() == {"success": True}
    assert (await graph.get(url, params={"access_token": token})).json() == {"data": []}


async def test_subscribed_fields_may_be_a_json_array(graph: httpx.AsyncClient, token: str) -> None:
    url = f"/v25.0/{PAGE}/subscribed_apps"
    by_json = await graph.post(
        url, params={"access_token": token}, json={"subscribed_fields": ["messages", "standby"]}
    )
    assert by_json.json() == {"success": True}
    by_param = await graph.post(
        url, params={"access_token": token, "subscribed_fields": '["message_reads"]'}
    )
    assert by_param.json() == {"success": True}
    listed = (await graph.get(url, params={"access_token": token})).json()["data"]
    assert listed[0]["subscribed_fields"] == ["message_reads"]


@pytest.mark.parametrize(
    "fields",
    ["messages,not_a_field", "messaging_referral", "messaging_handover", "MESSAGES", "", " , "],
)
async def test_subscribed_fields_outside_the_enum_are_error_100(
    graph: httpx.AsyncClient, token: str, fields: str
) -> None:
    url = f"/v25.0/{PAGE}/subscribed_apps"
    ok = await graph.post(url, params={"subscribed_fields": "messages", "access_token": token})
    assert ok.json() == {"success": True}

    response = await graph.post(url, params={"subscribed_fields": fields, "access_token": token})

    graph_error(response, 100)
    listed = (await graph.get(url, params={"access_token": token})).json()["data"]
    assert listed[0]["subscribed_fields"] == ["messages"]  # the refused call changed nothing


async def test_subscribed_apps_without_subscribed_fields_is_error_100(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await graph.post(f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": token})
    graph_error(response, 100)


async def test_subscribed_apps_needs_a_page_token_for_that_page(
    graph: httpx.AsyncClient, user: str
) -> None:
    page2 = await page_token_of(graph, user, PAGE2)
    for credential in (user, page2, APP_TOKEN):
        response = await graph.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"subscribed_fields": "messages", "access_token": credential},
        )
        assert is_envelope(response), response.text
    world = (await graph.get("/_emulator/world")).json()
    assert next(p for p in world["pages"] if p["id"] == PAGE)["subscribed_apps"] == {}


async def test_subscribing_needs_the_moderate_or_manage_task(graph: httpx.AsyncClient) -> None:
    await give_role(graph, PAGE, CHLOE, ["MESSAGING", "ANALYZE", "CREATE_CONTENT"])
    chloe_page = await page_token_of(graph, await user_token(graph, CHLOE))

    response = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages", "access_token": chloe_page},
    )
    graph_error(response, 10)

    await give_role(graph, PAGE, CHLOE, ["MESSAGING", "MODERATE"])
    allowed = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages", "access_token": chloe_page},
    )
    assert allowed.json() == {"success": True}


async def test_messaging_fields_need_pages_messaging(graph: httpx.AsyncClient) -> None:
    user_value = await user_token(graph, decline=("pages_messaging",))
    page = await page_token_of(graph, user_value)
    url = f"/v25.0/{PAGE}/subscribed_apps"

    refused = await graph.post(url, params={"subscribed_fields": "messages", "access_token": page})
    error = graph_error(refused, 200)
    assert "pages_messaging" in error["message"]
    feed_only = await graph.post(url, params={"subscribed_fields": "feed", "access_token": page})
    assert feed_only.json() == {"success": True}


# --- {app-id}/subscriptions ---------------------------------------------------------------------


async def test_app_subscription_verifies_the_callback_then_lists(
    graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    response = await subscribe_app(graph)

    assert response.json() == {"success": True}
    [handshake] = receiver.verifications
    assert handshake["hub.mode"] == "subscribe"
    assert handshake["hub.verify_token"] == VERIFY_TOKEN
    assert handshake["hub.challenge"].isdigit()
    listed = await graph.get(f"/v25.0/{APP_ID}/subscriptions", params={"access_token": APP_TOKEN})
    assert listed.json() == {
        "data": [
            {
                "object": "page",
                "callback_url": CALLBACK,
                "active": True,
                "fields": [
                    {"name": "messages", "version": "v25.0"},
                    {"name": "messaging_postbacks", "version": "v25.0"},
                ],
            }
        ]
    }


async def test_the_subscription_keeps_the_version_it_was_made_with(
    graph: httpx.AsyncClient,
) -> None:
    response = await graph.post(
        f"/v19.0/{APP_ID}/subscriptions",
        data={
            "object": "page",
            "callback_url": CALLBACK,
            "verify_token": VERIFY_TOKEN,
            "fields": "messages",
            "access_token": APP_TOKEN,
        },
    )
    assert response.json() == {"success": True}
    listed = await graph.get(f"/{APP_ID}/subscriptions", params={"access_token": APP_TOKEN})
    assert listed.json()["data"][0]["fields"] == [{"name": "messages", "version": "v19.0"}]


async def test_a_failed_verification_is_an_error_and_stores_nothing(
    graph: httpx.AsyncClient, receiver: Receiver
) -> None:
    refused = await subscribe_app(graph, verify_token="not-what-the-receiver-expects")

    assert is_envelope(refused)
    assert receiver.verifications[0]["hub.verify_token"] == "not-what-the-receiver-expects"
    listed = await graph.get(f"/v25.0/{APP_ID}/subscriptions", params={"access_token": APP_TOKEN})
    assert listed.json() == {"data": []}

    # A failed re-subscription leaves the working one in place.
    assert (await subscribe_app(graph)).json() == {"success": True}
    again = await subscribe_app(
        graph, verify_token="wrong", callback_url="http://receiver.test/elsewhere"
    )
    assert is_envelope(again)
    listed = await graph.get(f"/v25.0/{APP_ID}/subscriptions", params={"access_token": APP_TOKEN})
    assert listed.json()["data"][0]["callback_url"] == CALLBACK


async def test_a_callback_that_does_not_echo_the_challenge_fails_verification() -> None:
    seen: list[httpx.Request] = []

    def callback(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="OK")  # 200, but not the challenge

    async with (
        Emulator(clock=Clock(START, frozen=True), transport=httpx.MockTransport(callback)) as emu,
        emu.client() as graph,
    ):
        response = await subscribe_app(graph)
        assert is_envelope(response)
        assert len(seen) == 1
        assert seen[0].method == "GET"
        assert seen[0].url.params["hub.mode"] == "subscribe"
        listed = await graph.get(
            f"/v25.0/{APP_ID}/subscriptions", params={"access_token": APP_TOKEN}
        )
        assert listed.json() == {"data": []}


async def test_app_subscription_delete_all_or_some_fields(graph: httpx.AsyncClient) -> None:
    url = f"/v25.0/{APP_ID}/subscriptions"
    await subscribe_app(graph, fields="messages,messaging_postbacks,message_reads")

    some = await graph.delete(
        url, params={"object": "page", "fields": "message_reads", "access_token": APP_TOKEN}
    )
    assert some.json() == {"success": True}
    listed = await graph.get(url, params={"access_token": APP_TOKEN})
    assert [f["name"] for f in listed.json()["data"][0]["fields"]] == [
        "messages",
        "messaging_postbacks",
    ]

    everything = await graph.delete(url, params={"object": "page", "access_token": APP_TOKEN})
    assert everything.json() == {"success": True}
    assert (await graph.get(url, params={"access_token": APP_TOKEN})).json() == {"data": []}


@pytest.mark.parametrize(
    "overrides",
    [
        {"callback_url": "not a url"},
        {"callback_url": ""},
        {"verify_token": ""},
        {"fields": ""},
        {"fields": "messages,bogus"},
        {"object": "instagram_business_account_of_doom"},
    ],
    ids=["bad-url", "no-url", "no-verify-token", "no-fields", "bogus-field", "bad-object"],
)
async def test_app_subscription_parameter_errors(
    graph: httpx.AsyncClient, receiver: Receiver, overrides: dict[str, str]
) -> None:
    graph_error(await subscribe_app(graph, **overrides), 100)
    assert receiver.verifications == []  # refused before any handshake


async def test_app_subscriptions_need_that_apps_token(
    graph: httpx.AsyncClient, user: str, token: str
) -> None:
    created = await graph.post(
        "/_emulator/apps", json={"id": OTHER_APP, "secret": OTHER_SECRET, "name": "Other"}
    )
    assert created.status_code == 201
    for credential in (user, token, f"{OTHER_APP}|{OTHER_SECRET}"):
        response = await subscribe_app(graph, access_token=credential)
        assert is_envelope(response), response.text
        listed = await graph.get(
            f"/v25.0/{APP_ID}/subscriptions", params={"access_token": credential}
        )
        assert is_envelope(listed), listed.text


# --- me/messenger_profile -----------------------------------------------------------------------


async def test_messenger_profile_get_started_and_greeting(
    graph: httpx.AsyncClient, token: str
) -> None:
    url = "/v25.0/me/messenger_profile"
    greeting = [{"locale": "default", "text": "Olá {{user_first_name}}! 👋"}]

    posted = await graph.post(
        url,
        params={"access_token": token},
        json={"get_started": {"payload": "GET_STARTED"}, "greeting": greeting},
    )

    assert posted.json() == {"result": "success"}
    got = await graph.get(url, params={"access_token": token, "fields": "get_started,greeting"})
    assert got.json() == {
        "data": [{"get_started": {"payload": "GET_STARTED"}, "greeting": greeting}]
    }
    by_id = await graph.get(
        f"/v25.0/{PAGE}/messenger_profile", params={"access_token": token, "fields": "greeting"}
    )
    assert by_id.json() == {"data": [{"greeting": greeting}]}

    deleted = await graph.request(
        "DELETE", url, params={"access_token": token}, json={"fields": ["greeting"]}
    )
    assert deleted.json() == {"result": "success"}
    got = await graph.get(url, params={"access_token": token, "fields": "get_started,greeting"})
    assert got.json() == {"data": [{"get_started": {"payload": "GET_STARTED"}}]}


async def test_a_persistent_menu_needs_get_started(graph: httpx.AsyncClient, token: str) -> None:
    url = "/v25.0/me/messenger_profile"
    menu = [
        {
            "locale": "default",
            "composer_input_disabled": False,
            "call_to_actions": [{"type": "postback", "title": "Talk to us", "payload": "TALK"}],
        }
    ]

    refused = await graph.post(url, params={"access_token": token}, json={"persistent_menu": menu})
    graph_error(refused, 100)

    together = await graph.post(
        url,
        params={"access_token": token},
        json={"get_started": {"payload": "GO"}, "persistent_menu": menu},
    )
    assert together.json() == {"result": "success"}
    got = await graph.get(url, params={"access_token": token, "fields": "persistent_menu"})
    assert got.json() == {"data": [{"persistent_menu": menu}]}


async def test_a_persistent_menu_needs_a_published_page(
    graph: httpx.AsyncClient, token: str
) -> None:
    unpublished = await graph.patch(f"/_emulator/pages/{PAGE}", json={"published": False})
    assert unpublished.status_code == 200, unpublished.text
    menu = [{"locale": "default", "call_to_actions": []}]

    response = await graph.post(
        "/v25.0/me/messenger_profile",
        params={"access_token": token},
        json={"get_started": {"payload": "GO"}, "persistent_menu": menu},
    )

    graph_error(response, 100)


@pytest.mark.parametrize(
    "body",
    [
        {"get_started": {"payload": ""}},
        {"get_started": "GO"},
        {"greeting": [{"locale": "default", "text": "x" * 161}]},
        {"greeting": "hello"},
        {"nothing_we_know": 1},
        {},
    ],
    ids=[
        "empty-payload",
        "payload-not-object",
        "long-greeting",
        "greeting-string",
        "unknown",
        "empty",
    ],
)
async def test_messenger_profile_parameter_errors(
    graph: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> None:
    response = await graph.post(
        "/v25.0/me/messenger_profile", params={"access_token": token}, json=body
    )
    graph_error(response, 100)


async def test_messenger_profile_allows_ten_calls_per_ten_minutes_per_page(
    graph: httpx.AsyncClient, user: str
) -> None:
    token = await page_token_of(graph, user, PAGE)
    other = await page_token_of(graph, user, PAGE2)
    url = "/v25.0/me/messenger_profile"
    body = {"get_started": {"payload": "GO"}}

    for _ in range(10):
        ok = await graph.post(url, params={"access_token": token}, json=body)
        assert ok.json() == {"result": "success"}
    throttled = await graph.post(url, params={"access_token": token}, json=body)
    graph_error(throttled, 613)
    assert throttled.status_code != 429

    assert (await graph.post(url, params={"access_token": other}, json=body)).status_code == 200

    await advance(graph, 600)
    assert (await graph.post(url, params={"access_token": token}, json=body)).status_code == 200


# --- personas ----------------------------------------------------------------------------------


async def test_personas_create_list_read_delete(graph: httpx.AsyncClient, token: str) -> None:
    picture = "https://cdn.example.invalid/agent.png"
    created = await graph.post(
        f"/v25.0/{PAGE}/personas",
        params={"access_token": token},
        json={"name": "Rita (support)", "profile_picture_url": picture},
    )

    assert set(created.json()) == {"id"}
    persona = created.json()["id"]
    assert isinstance(persona, str)
    assert persona.isdigit()
    listed = await graph.get("/v25.0/me/personas", params={"access_token": token})
    assert {
        "id": persona,
        "name": "Rita (support)",
        "profile_picture_url": picture,
    } in listed.json()["data"]
    read = await graph.get(f"/v25.0/{persona}", params={"access_token": token})
    assert read.json() == {"id": persona, "name": "Rita (support)", "profile_picture_url": picture}

    deleted = await graph.delete(f"/v25.0/{persona}", params={"access_token": token})
    assert deleted.json() == {"success": True}
    graph_error(await graph.get(f"/v25.0/{persona}", params={"access_token": token}), 100, 33)


@pytest.mark.parametrize(
    "body",
    [
        {"profile_picture_url": "https://cdn.example.invalid/a.png"},
        {"name": "x" * 51, "profile_picture_url": "https://cdn.example.invalid/a.png"},
        {"name": "Rita"},
        {"name": "Rita", "profile_picture_url": "ftp://example.invalid/a.png"},
        {"name": ["Rita"], "profile_picture_url": "https://cdn.example.invalid/a.png"},
    ],
    ids=["no-name", "long-name", "no-picture", "bad-picture", "name-list"],
)
async def test_persona_parameter_errors(
    graph: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> None:
    response = await graph.post(
        f"/v25.0/{PAGE}/personas", params={"access_token": token}, json=body
    )
    graph_error(response, 100)


# --- batch -------------------------------------------------------------------------------------


async def test_batch_answers_each_item_with_code_headers_and_a_json_string_body(
    graph: httpx.AsyncClient, token: str
) -> None:
    batch = [
        {"method": "GET", "relative_url": "me"},
        {"method": "GET", "relative_url": f"v25.0/{PAGE}?fields=id,username"},
        {"method": "GET", "relative_url": "me?fields=nope"},
        {
            "method": "POST",
            "relative_url": f"{PAGE}/subscribed_apps",
            "body": "subscribed_fields=messages",
        },
        {"method": "GET", "relative_url": "me", "body": "access_token=EAAgarbage"},
    ]

    response = await graph.post("/v25.0/", data={"access_token": token, "batch": json.dumps(batch)})

    assert response.status_code == 200, response.text
    items = response.json()
    assert isinstance(items, list)
    assert len(items) == len(batch)
    for item in items:
        assert set(item) >= {"code", "body"}
        assert isinstance(item["body"], str)
        assert all(set(h) == {"name", "value"} for h in item.get("headers", []))
    bodies = [json.loads(item["body"]) for item in items]
    assert [item["code"] for item in items] == [200, 200, 400, 200, 400]
    assert bodies[0] == {"id": PAGE, "name": "Lisbon Tees"}
    assert bodies[1] == {"id": PAGE, "username": "lisbontees"}
    assert bodies[2]["error"]["code"] == 100
    assert set(bodies[2]["error"]) >= {"message", "type", "code", "fbtrace_id"}
    assert bodies[3] == {"success": True}
    assert bodies[4]["error"]["code"] == 190  # the item's own access_token wins


async def test_batch_as_a_json_body_and_without_a_version(
    graph: httpx.AsyncClient, token: str
) -> None:
    response = await graph.post(
        "/",
        json={"access_token": token, "batch": [{"method": "GET", "relative_url": "me"}]},
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.json()[0]["body"]) == {"id": PAGE, "name": "Lisbon Tees"}


async def test_batch_allows_fifty_operations_and_no_more(
    graph: httpx.AsyncClient, token: str
) -> None:
    item = {"method": "GET", "relative_url": "me"}

    fifty = await graph.post(
        "/v25.0/", data={"access_token": token, "batch": json.dumps([item] * 50)}
    )
    assert fifty.status_code == 200
    assert len(fifty.json()) == 50

    too_many = await graph.post(
        "/v25.0/", data={"access_token": token, "batch": json.dumps([item] * 51)}
    )
    graph_error(too_many, 100)


@pytest.mark.parametrize(
    "batch",
    ["[]", "{}", "not json", '"me"', "[1, 2]", '[{"method": "GET"}]', "[" * 3000, "null"],
    ids=["empty", "object", "garbage", "string", "numbers", "no-url", "deep", "null"],
)
async def test_malformed_batches_are_error_100(
    graph: httpx.AsyncClient, token: str, batch: str
) -> None:
    response = await graph.post("/v25.0/", data={"access_token": token, "batch": batch})
    graph_error(response, 100)


@pytest.mark.parametrize(
    "own",
    [None, "EAAgarbage", f"{APP_ID}|not-the-secret"],
    ids=["missing", "unknown", "wrong-app-secret"],
)
async def test_a_batch_needs_a_working_token_of_its_own(
    graph: httpx.AsyncClient, token: str, own: str | None
) -> None:
    item = {"method": "GET", "relative_url": "me", "body": f"access_token={token}"}
    form = {"batch": json.dumps([item])} | ({"access_token": own} if own else {})

    response = await graph.post("/v25.0/", data=form)

    assert graph_error(response, 190 if own else 104)


async def test_a_batch_under_the_apps_token_makes_each_item_with_its_own(
    graph: httpx.AsyncClient, token: str
) -> None:
    batch = [
        {"method": "GET", "relative_url": "me", "body": f"access_token={token}"},
        {"method": "GET", "relative_url": "me"},  # none of its own: the app's
    ]

    response = await graph.post(
        "/v25.0/", data={"access_token": APP_TOKEN, "batch": json.dumps(batch)}
    )

    assert response.status_code == 200, response.text
    first, second = (json.loads(item["body"]) for item in response.json())
    assert first == {"id": PAGE, "name": "Lisbon Tees"}
    assert second["error"]["code"] == 190  # `me` is nobody under an app token


# --- versions and unknown paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("me", 200),
        ("me?fields=id,name,category", 200),
        (f"{PAGE}/subscribed_apps", 200),
        ("me/messenger_profile?fields=greeting", 200),
        ("does_not_exist", 400),
        (f"{PAGE}/no_such_edge", 400),
    ],
)
async def test_any_version_prefix_or_none_gives_the_same_answer(
    graph: httpx.AsyncClient, token: str, path: str, status: int
) -> None:
    await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": "messages", "access_token": token},
    )
    await graph.post(
        "/v25.0/me/messenger_profile",
        params={"access_token": token},
        json={"greeting": [{"locale": "default", "text": "Hi"}]},
    )
    answers = []
    for prefix in ("/v25.0/", "/v2.6/", "/v19.0/", "/v99.9/", "/"):
        url = httpx.URL(prefix + path).copy_merge_params({"access_token": token})
        response = await graph.get(url)
        body = response.json()
        if "error" in body:
            body["error"].pop("fbtrace_id")  # unique per response by design
        answers.append((response.status_code, body))
    assert answers[0][0] == status, answers[0]
    assert all(answer == answers[0] for answer in answers), answers
    if path == "me?fields=id,name,category":
        assert answers[0][1] == {"id": PAGE, "name": "Lisbon Tees", "category": "Clothing Store"}


async def test_unknown_paths_and_methods_answer_the_100_envelope(
    graph: httpx.AsyncClient, token: str
) -> None:
    cases = [
        ("GET", f"/v25.0/{PAGE}/no_such_edge"),
        ("GET", f"/v25.0/{PAGE}/a/b/c/d"),
        ("DELETE", "/v25.0/me"),
        ("POST", "/v25.0/me"),
        ("GET", "/v25.0/"),
        ("GET", "/v25/me/accounts"),
        ("PUT", f"/v25.0/{PAGE}"),
        ("PATCH", "/v25.0/me"),
    ]
    for method, path in cases:
        response = await graph.request(method, path, params={"access_token": token})
        graph_error(response, 100)


async def test_every_graph_response_carries_json_and_trace_headers(
    graph: httpx.AsyncClient, token: str
) -> None:
    for path in ("/v25.0/me", "/v25.0/nowhere"):
        response = await graph.get(path, params={"access_token": token})
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers.get("x-fb-trace-id")


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"subscribed_fields": ',
        b"[]",
        b'[{"subscribed_fields": "messages"}]',
        b"42",
        b"true",
        b'"messages"',
        b"\xff\xfe\x00{",
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"NaN",
        b"{'single': 'quotes'}",
        b'{"subscribed_fields": ["\\ud800"], "recipient": {"id": "\\udfff"}}',
    ],
    ids=[
        "truncated",
        "unterminated",
        "array",
        "array-of-object",
        "number",
        "bool",
        "string",
        "not-utf8",
        "deep-array",
        "deep-object",
        "nan",
        "single-quotes",
        "lone-surrogates",
    ],
)
async def test_malformed_json_bodies_are_error_100(
    graph: httpx.AsyncClient, token: str, body: bytes
) -> None:
    for path in (f"/v25.0/{PAGE}/subscribed_apps", "/v25.0/me/messages", "/v25.0/"):
        response = await graph.post(
            path,
            params={"access_token": token},
            content=body,
            headers={"content-type": "application/json"},
        )
        graph_error(response, 100)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"get_started": {"payload": "GO"}, "persistent_menu": [{"locale": NaN}]}',
        b'{"ice_breakers": [Infinity]}',
        b'{"greeting": [{"locale": "default", "text": "hi", "x": -Infinity}]}',
    ],
)
async def test_nan_and_infinity_are_not_json_and_are_never_stored(
    graph: httpx.AsyncClient, token: str, raw: bytes
) -> None:
    url = "/v25.0/me/messenger_profile"
    by_body = await graph.post(
        url,
        params={"access_token": token},
        content=raw,
        headers={"content-type": "application/json"},
    )
    graph_error(by_body, 100)
    # The same values as JSON-encoded parameters (Graph parses those too).
    for name, value in (("ice_breakers", "[NaN]"), ("greeting", '[{"text": Infinity}]')):
        by_param = await graph.post(url, params={"access_token": token, name: value})
        graph_error(by_param, 100)

    got = await graph.get(
        url, params={"access_token": token, "fields": "persistent_menu,ice_breakers,greeting"}
    )
    assert got.status_code == 200, got.text
    assert got.json() == {"data": []}


async def test_lone_surrogates_are_refused_and_never_stored(
    graph: httpx.AsyncClient, token: str
) -> None:
    # "\ud800" parses as JSON but can never be encoded again: storing it would break every
    # later answer that includes it.
    url = f"/v25.0/{PAGE}/personas"
    picture = "https://cdn.example.invalid/a.png"
    by_body = await graph.post(
        url,
        params={"access_token": token},
        content=b'{"name": "Rita \\ud83d", "profile_picture_url": "' + picture.encode() + b'"}',
        headers={"content-type": "application/json"},
    )
    graph_error(by_body, 100)
    by_param = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"access_token": token, "subscribed_fields": '["\\udfff"]'},
    )
    graph_error(by_param, 100)

    listed = await graph.get(url, params={"access_token": token})
    assert listed.json() == {"data": []}
    subscribed = await graph.get(f"/v25.0/{PAGE}/subscribed_apps", params={"access_token": token})
    assert subscribed.json() == {"data": []}


async def test_an_oversized_content_length_is_refused_with_413(
    graph: httpx.AsyncClient, token: str
) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
        response = await graph.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"access_token": token},
            content=b"{}",
            headers={"content-type": content_type, "content-length": str(30 * 1024 * 1024 + 1)},
        )
        error = graph_error(response, 100, status=413)
        assert "large" in error["message"]


async def test_an_oversized_streamed_body_is_refused_with_413(
    graph: httpx.AsyncClient, token: str
) -> None:
    chunk = b"a" * (1024 * 1024)

    async def stream(opening: bytes) -> AsyncIterator[bytes]:
        yield opening
        for _ in range(31):
            yield chunk

    for content_type, opening in (
        ("application/json", b'{"x": "'),
        ("application/x-www-form-urlencoded", b"x="),
    ):
        response = await graph.post(
            f"/v25.0/{PAGE}/subscribed_apps",
            params={"access_token": token},
            content=stream(opening),
            headers={"content-type": content_type},
        )
        assert "content-length" not in response.request.headers
        graph_error(response, 100, status=413)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"a=1", "multipart/form-data"),
        (b"--xyz\r\nnonsense", "multipart/form-data; boundary=xyz"),
        (b"&".join(b"f%d=1" % i for i in range(1000)), "application/x-www-form-urlencoded"),
        (b"x=" + b"a" * (2 * 1024 * 1024), "application/x-www-form-urlencoded"),
        (b"a=%ff%fe%00&b=%", "application/x-www-form-urlencoded"),
    ],
    ids=["no-boundary", "broken-multipart", "too-many-fields", "huge-field", "bad-percent"],
)
async def test_malformed_forms_get_the_graph_envelope(
    graph: httpx.AsyncClient, token: str, content: bytes, content_type: str
) -> None:
    response = await graph.post(
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"access_token": token},
        content=content,
        headers={"content-type": content_type},
    )
    assert is_envelope(response), (response.status_code, response.text[:200])


@pytest.mark.parametrize(
    "params",
    [
        {"access_token": "x" * 30_000},
        {"access_token": '{"token": "x"}'},
        {"access_token": f"{APP_ID}|ü"},
        {"access_token": "\x00\x01\x02"},
        {"fields": "[" * 5000},
        {"fields": "{" * 5000},
        {"fields": "é" * 5_000},
        {"limit": "9" * 5000},
        {"fields": "id,name", "unexpected": "😀" * 1000},
    ],
    ids=[
        "long-token",
        "json-token",
        "unicode-app-token",
        "control-chars",
        "deep-fields",
        "deep-braces",
        "long-unicode-fields",
        "huge-limit",
        "emoji-param",
    ],
)
async def test_absurd_parameters_never_crash(
    graph: httpx.AsyncClient, token: str, params: dict[str, str]
) -> None:
    for path in ("/v25.0/me", "/v25.0/me/accounts", f"/v25.0/{PAGE}/subscribed_apps"):
        response = await graph.get(path, params={"access_token": token, **params})
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            assert is_envelope(response), response.text


async def test_a_very_long_path_segment_is_an_envelope(
    graph: httpx.AsyncClient, token: str
) -> None:
    for node in ("9" * 5000, "é" * 2000, "%00", "me%2Faccounts", "%2e%2e"):
        response = await graph.get(f"/v25.0/{node}", params={"access_token": token})
        assert is_envelope(response), response.text


# --- properties ----------------------------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | SAFE_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(SAFE_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
PARAM_NAMES = (
    st.sampled_from(
        [
            "fields",
            "limit",
            "after",
            "subscribed_fields",
            "callback_url",
            "verify_token",
            "object",
            "input_token",
            "access_token",
            "fb_exchange_token",
            "batch",
            "recipient",
            "message",
            "get_started",
            "persistent_menu",
            "name",
            "profile_picture_url",
            "grant_type",
            "client_id",
            "client_secret",
            "code",
            "metadata",
        ]
    )
    | SAFE_TEXT
)
TRICKY = st.sampled_from(
    [
        f"{APP_ID}|ü",
        "[" * 3000,
        "{" * 3000,
        "²",
        "٣",
        "[NaN]",
        '{"a": Infinity}',
        "",
        "\x00",
        "-1",
        "9" * 5000,
        "EAA" + "x" * 5000,
        "{'single': 'quoted'}",
        "aWR4Oi0x",
        "null",
    ]
)
PATHS = st.sampled_from(
    [
        "me",
        "me/accounts",
        "me/permissions",
        "me/permissions/pages_messaging",
        "debug_token",
        "oauth/access_token",
        f"{PAGE}",
        f"{PAGE}/subscribed_apps",
        f"{APP_ID}/subscriptions",
        f"{APP_ID}",
        "me/messenger_profile",
        f"{PAGE}/personas",
        "me/messages",
        f"{PAGE}/message_attachments",
        f"{PAGE}/pass_thread_control",
        f"{PAGE}/thread_owner",
        f"{PAGE}/secondary_receivers",
        psid_for(PAGE, JOAO),
        "",
    ]
) | st.lists(
    st.text(string.ascii_letters + string.digits + "_.-éø", min_size=1, max_size=12),
    min_size=1,
    max_size=4,
).map("/".join)
PREFIXES = st.sampled_from(["/v25.0/", "/v2.6/", "/"])
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def checked(response: httpx.Response) -> None:
    assert response.status_code != 500, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    if response.status_code >= 400:
        assert is_envelope(response), (response.status_code, response.text)


@SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    prefix=PREFIXES,
    path=PATHS,
    query=st.dictionaries(
        PARAM_NAMES, SAFE_TEXT | JSON_VALUES.map(json.dumps) | TRICKY, max_size=6
    ),
    credential=st.sampled_from(["page", "user", "app", "garbage", "none"]),
)
async def test_arbitrary_query_parameters_never_break_the_graph(
    graph: httpx.AsyncClient,
    token: str,
    user: str,
    method: str,
    prefix: str,
    path: str,
    query: dict[str, str],
    credential: str,
) -> None:
    if path.split("/", 1)[0] in ("_emulator", "static", "messenger", "console", "cdn", "dialog"):
        return  # not the Graph API
    if method == "GET" and path == "" and prefix == "/":
        return  # the emulator's home page
    tokens = {"page": token, "user": user, "app": APP_TOKEN, "garbage": "EAAx", "none": None}
    chosen = tokens[credential]
    params = {"access_token": chosen, **query} if chosen else dict(query)
    checked(await graph.request(method, prefix + path, params=params))


@SETTINGS
@given(
    path=PATHS,
    body=JSON_VALUES,
    as_form=st.booleans(),
)
async def test_arbitrary_json_bodies_never_break_the_graph(
    graph: httpx.AsyncClient, token: str, path: str, body: Any, as_form: bool
) -> None:
    if path.split("/", 1)[0] in ("_emulator", "static", "messenger", "console", "cdn", "dialog"):
        return
    url = "/v25.0/" + path
    if as_form and isinstance(body, dict):
        form = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in body.items()}
        response = await graph.post(url, params={"access_token": token}, data=form)
    else:
        response = await graph.post(url, params={"access_token": token}, json=body)
    checked(response)
