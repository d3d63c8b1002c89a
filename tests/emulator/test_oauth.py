"""Facebook Login against the digest (§8.1-§8.3, §8.7): the dialog, the redirect, the code exchange.

Every expectation comes from the digest's documented shapes, never from what the emulator
happens to print: the redirect triple on Cancel, `{access_token, token_type, expires_in}`,
the error envelope with `message`/`type`/`code`/`fbtrace_id`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    graph_error,
    login,
)

BUSINESS = "2200000000000001"  # Lisbon Tees Lda, owner of PAGE in the default scenario
LOGIN_CONFIG = "1700000000000001"  # the default app's Login for Business configuration
CONFIG_PERMISSIONS = {
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "business_management",
}
SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata"


def dialog_query(**overrides: str) -> dict[str, str]:
    query = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "st4te", "scope": SCOPE}
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


def redirected(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    """The URI (without query and fragment) the dialog sent the browser to, and its query."""
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    base = f"{location.scheme}://{location.netloc}{location.path}"
    return base, parse_qs(location.query, keep_blank_values=True)


async def exchange(graph: httpx.AsyncClient, code: str, **overrides: str) -> httpx.Response:
    params = {
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "redirect_uri": REDIRECT,
        "code": code,
    }
    params.update(overrides)
    return await graph.get("/v25.0/oauth/access_token", params=params)


async def short_token(graph: httpx.AsyncClient, person: str = ADMIN, **kwargs: Any) -> str:
    response = await exchange(graph, await login(graph, person, **kwargs))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def permissions(graph: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await graph.get("/v25.0/me/permissions", params={"access_token": token})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert all(set(item) == {"permission", "status"} for item in data), data
    return {item["permission"]: item["status"] for item in data}


async def advance(graph: httpx.AsyncClient, seconds: float) -> None:
    response = await graph.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def checkbox_values(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]*)"', html)


# --- the dialog page ---------------------------------------------------------------------------


async def test_dialog_without_a_signed_in_person_offers_the_person_picker(
    graph: httpx.AsyncClient,
) -> None:
    page = await graph.get("/v25.0/dialog/oauth", params=dialog_query())

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Frontdesk Demo" in html
    assert 'name="as"' in html
    for name in ("Morgan Reyes", "João Pereira", "Chloé Martin", "Ana Silva"):
        assert name in html
    assert checkbox_values(html, "permission") == []  # nothing to grant until someone signs in
    assert 'name="state" value="st4te"' in html  # the picker keeps the dialog's parameters


async def test_dialog_for_a_signed_in_person_lists_their_pages_businesses_and_permissions(
    graph: httpx.AsyncClient,
) -> None:
    page = await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": ADMIN}))

    assert page.status_code == 200
    html = page.text
    assert "Morgan Reyes" in html
    assert 'name="as"' not in html
    assert checkbox_values(html, "page") == [PAGE, PAGE2]
    assert "Lisbon Tees" in html
    assert "Porto Books" in html
    assert checkbox_values(html, "business") == [BUSINESS]
    assert checkbox_values(html, "permission") == ["public_profile", *SCOPE.split(",")]
    assert 'value="allow"' in html
    assert 'value="cancel"' in html

    # The browser remembers who is signed in: the next dialog skips the picker.
    again = await graph.get("/v25.0/dialog/oauth", params=dialog_query())
    assert checkbox_values(again.text, "page") == [PAGE, PAGE2]


async def test_not_you_signs_the_person_out_of_the_dialog(graph: httpx.AsyncClient) -> None:
    signed_in = await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": ADMIN}))
    assert checkbox_values(signed_in.text, "page") == [PAGE, PAGE2]

    # "Not you?" reloads the dialog with an empty `as`: the picker must come back even though
    # the browser still carries the signed-in person's cookie.
    switched = await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": ""}))

    assert switched.status_code == 200
    assert 'name="as"' in switched.text
    assert checkbox_values(switched.text, "permission") == []


async def test_a_person_without_a_page_role_is_offered_no_pages(graph: httpx.AsyncClient) -> None:
    page = await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": JOAO}))

    assert page.status_code == 200
    assert "João Pereira" in page.text
    assert checkbox_values(page.text, "page") == []
    assert checkbox_values(page.text, "business") == []


async def test_unversioned_and_versioned_dialogs_render_the_same_form(
    graph: httpx.AsyncClient,
) -> None:
    query = dialog_query(**{"as": ADMIN})
    versioned = await graph.get("/v25.0/dialog/oauth", params=query)
    bare = await graph.get("/dialog/oauth", params=query)
    older = await graph.get("/v19.0/dialog/oauth", params=query)

    assert versioned.status_code == bare.status_code == older.status_code == 200
    assert versioned.text == bare.text == older.text


# --- redirect_uri, client_id, config_id ------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "123456789"},
        {"client_id": None},
        {"client_id": "900100200300400 "},
    ],
    ids=["unknown-app", "no-app", "app-id-with-space"],
)
async def test_an_unknown_app_gets_the_error_page(
    graph: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    page = await graph.get("/v25.0/dialog/oauth", params=dialog_query(**overrides, **{"as": ADMIN}))

    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert 'name="permission"' not in page.text
    assert "location" not in page.headers


async def test_registered_redirect_uris_are_matched_exactly(graph: httpx.AsyncClient) -> None:
    registered = "https://connector.example.com/fb/callback"
    patched = await graph.patch(f"/_emulator/apps/{APP_ID}", json={"redirect_uris": [registered]})
    assert patched.status_code == 200, patched.text

    ok = await graph.get(
        "/v25.0/dialog/oauth", params=dialog_query(redirect_uri=registered, **{"as": ADMIN})
    )
    assert ok.status_code == 200
    assert checkbox_values(ok.text, "page") == [PAGE, PAGE2]

    for blocked in (
        REDIRECT,  # loopback is fine only while an app has registered nothing
        registered + "/",
        registered + "x",
        "https://connector.example.com/fb/CALLBACK",
        "https://evil.example.com/fb/callback",
    ):
        page = await graph.get(
            "/v25.0/dialog/oauth", params=dialog_query(redirect_uri=blocked, **{"as": ADMIN})
        )
        assert page.status_code == 400, blocked
        assert "URL Blocked" in page.text

    # Submitting the form straight to the dialog must not redirect to a blocked URI either.
    forged = await graph.post(
        "/v25.0/dialog/oauth",
        data={**dialog_query(redirect_uri="https://evil.example.com/cb"), "person_id": ADMIN}
        | {"action": "allow", "page": PAGE, "permission": "pages_show_list"},
    )
    assert forged.status_code == 400
    assert "location" not in forged.headers


async def test_without_registered_uris_only_loopback_redirects_are_allowed(
    graph: httpx.AsyncClient,
) -> None:
    for uri in ("http://localhost:3000/cb", "http://127.0.0.1/cb", REDIRECT):
        page = await graph.get("/v25.0/dialog/oauth", params=dialog_query(redirect_uri=uri))
        assert page.status_code == 200, uri
    for uri in ("https://evil.example.com/cb", "javascript:alert(1)", "", "http://[::1"):
        page = await graph.get("/v25.0/dialog/oauth", params=dialog_query(redirect_uri=uri))
        assert page.status_code == 400, uri


async def test_an_unknown_config_id_gets_the_error_page(graph: httpx.AsyncClient) -> None:
    page = await graph.get(
        "/v25.0/dialog/oauth", params=dialog_query(scope=None, config_id="999", **{"as": ADMIN})
    )
    assert page.status_code == 400


# --- granting, declining, cancelling -----------------------------------------------------------


async def test_state_round_trips_unchanged_and_the_redirect_keeps_its_own_query(
    graph: httpx.AsyncClient,
) -> None:
    state = "a b&c=d/é✓?#%"
    uri = REDIRECT + "?tenant=7"
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={
            **dialog_query(state=state, redirect_uri=uri),
            "person_id": ADMIN,
            "action": "allow",
            "page": [PAGE],
            "permission": ["pages_show_list"],
        },
    )

    base, query = redirected(response)
    assert base == REDIRECT
    assert query["state"] == [state]
    assert query["tenant"] == ["7"]
    assert len(query["code"]) == 1
    assert query["code"][0]
    assert "error" not in query


async def test_cancel_redirects_with_the_access_denied_triple(graph: httpx.AsyncClient) -> None:
    await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": ADMIN}))
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={**dialog_query(state="csrf-123"), "person_id": ADMIN, "action": "cancel"},
    )

    base, query = redirected(response)
    assert base == REDIRECT
    assert query["error"] == ["access_denied"]
    assert query["error_reason"] == ["user_denied"]
    assert query["error_description"][0]
    assert query["state"] == ["csrf-123"]
    assert "code" not in query


async def test_declined_permissions_show_as_declined(graph: httpx.AsyncClient) -> None:
    token = await short_token(graph, decline=("pages_manage_metadata",))

    assert await permissions(graph, token) == {
        "public_profile": "granted",
        "pages_show_list": "granted",
        "pages_messaging": "granted",
        "pages_manage_metadata": "declined",
    }


async def test_scope_accepts_spaces_as_well_as_commas(graph: httpx.AsyncClient) -> None:
    await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": ADMIN}))
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={
            **dialog_query(scope="pages_show_list pages_messaging"),
            "person_id": ADMIN,
            "action": "allow",
            "permission": ["pages_show_list", "pages_messaging"],
        },
    )
    _, query = redirected(response)
    token = (await exchange(graph, query["code"][0])).json()["access_token"]

    assert await permissions(graph, token) == {
        "public_profile": "granted",
        "pages_show_list": "granted",
        "pages_messaging": "granted",
    }


async def test_login_for_business_grants_all_configured_permissions_or_none(
    graph: httpx.AsyncClient,
) -> None:
    query = dialog_query(scope="pages_show_list", config_id=LOGIN_CONFIG)
    page = await graph.get("/v25.0/dialog/oauth", params={**query, "as": ADMIN})
    assert page.status_code == 200
    assert set(checkbox_values(page.text, "permission")) == CONFIG_PERMISSIONS

    # The form tries to grant only one permission: Login for Business ignores partial grants.
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={**query, "person_id": ADMIN, "action": "allow", "permission": ["pages_show_list"]},
    )
    _, back = redirected(response)
    token = (await exchange(graph, back["code"][0])).json()["access_token"]

    granted = await permissions(graph, token)
    assert set(granted) >= CONFIG_PERMISSIONS
    assert set(granted.values()) == {"granted"}

    cancelled = await graph.post(
        "/v25.0/dialog/oauth", data={**query, "person_id": ADMIN, "action": "cancel"}
    )
    _, denied = redirected(cancelled)
    assert denied["error"] == ["access_denied"]


async def test_the_form_cannot_grant_what_was_not_asked_or_pages_without_a_role(
    graph: httpx.AsyncClient,
) -> None:
    await graph.get("/v25.0/dialog/oauth", params=dialog_query(**{"as": JOAO}))
    response = await graph.post(
        "/v25.0/dialog/oauth",
        data={
            **dialog_query(scope="pages_show_list"),
            "person_id": JOAO,
            "action": "allow",
            "page": [PAGE, PAGE2],  # João has no role on either
            "business": [BUSINESS],  # nor is he in the business
            "permission": ["pages_show_list", "pages_messaging", "business_management"],
        },
    )
    _, query = redirected(response)
    token = (await exchange(graph, query["code"][0])).json()["access_token"]

    assert await permissions(graph, token) == {
        "public_profile": "granted",
        "pages_show_list": "granted",
    }
    accounts = await graph.get("/v25.0/me/accounts", params={"access_token": token})
    assert accounts.json()["data"] == []


async def test_allow_without_a_person_is_an_error_page(graph: httpx.AsyncClient) -> None:
    response = await graph.post(
        "/v25.0/dialog/oauth", data={**dialog_query(), "action": "allow", "person_id": "404"}
    )
    assert response.status_code == 400
    assert "location" not in response.headers


# --- oauth/access_token: code ------------------------------------------------------------------


async def test_code_exchange_answers_a_short_lived_bearer_token(graph: httpx.AsyncClient) -> None:
    response = await exchange(graph, await login(graph))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"]
    assert isinstance(body["expires_in"], int)
    assert 0 < body["expires_in"] <= 24 * 3600  # short-lived: hours, not days
    me = await graph.get("/v25.0/me", params={"access_token": body["access_token"]})
    assert me.json() == {"id": ADMIN, "name": "Morgan Reyes"}


async def test_code_exchange_works_as_post_with_a_form_body(graph: httpx.AsyncClient) -> None:
    code = await login(graph)
    response = await graph.post(
        "/v25.0/oauth/access_token",
        data={
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


async def test_a_code_is_single_use(graph: httpx.AsyncClient) -> None:
    code = await login(graph)
    first = await exchange(graph, code)
    assert first.status_code == 200

    second = await exchange(graph, code)
    graph_error(second, 100)


async def test_the_redirect_uri_must_repeat_the_dialogs_verbatim(graph: httpx.AsyncClient) -> None:
    code = await login(graph)

    for wrong in (REDIRECT + "/", "http://127.0.0.1:8000/other", ""):
        graph_error(await exchange(graph, code, redirect_uri=wrong), 100)

    assert (await exchange(graph, code)).status_code == 200


async def test_a_wrong_secret_or_app_is_refused(graph: httpx.AsyncClient) -> None:
    code = await login(graph)

    error = graph_error(await exchange(graph, code, client_secret="not-the-secret"), 1)
    assert "secret" in error["message"].lower()
    graph_error(await exchange(graph, code, client_id="123"), 101)
    graph_error(await exchange(graph, "AQ" + "x" * 40), 100)

    assert (await exchange(graph, code)).status_code == 200  # refusals did not burn the code


async def test_a_code_expires_after_about_ten_minutes(graph: httpx.AsyncClient) -> None:
    code = await login(graph)
    await advance(graph, 11 * 60)

    graph_error(await exchange(graph, code), 100)


async def test_a_code_is_bound_to_its_app(graph: httpx.AsyncClient) -> None:
    other = await graph.post(
        "/_emulator/apps", json={"id": "555666777888999", "secret": "other-secret-000"}
    )
    assert other.status_code == 201, other.text
    code = await login(graph)

    response = await exchange(
        graph, code, client_id="555666777888999", client_secret="other-secret-000"
    )
    graph_error(response, 100)


# --- oauth/access_token: long-lived and app tokens ---------------------------------------------


async def test_fb_exchange_token_answers_a_sixty_day_token(graph: httpx.AsyncClient) -> None:
    short = await short_token(graph)
    response = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "fb_exchange_token": short,
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert 59 * 86400 <= body["expires_in"] <= 61 * 86400
    assert body["access_token"] != short
    me = await graph.get("/v25.0/me", params={"access_token": body["access_token"]})
    assert me.json()["id"] == ADMIN


async def test_an_expired_short_token_cannot_be_exchanged(graph: httpx.AsyncClient) -> None:
    short = await short_token(graph)
    await advance(graph, 3 * 86400)

    response = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "fb_exchange_token": short,
        },
    )
    graph_error(response, 190, 463)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"client_secret": "wrong"}, 1),
        ({"fb_exchange_token": "EAAnot-a-token"}, 190),
    ],
    ids=["wrong-secret", "unknown-token"],
)
async def test_fb_exchange_token_refusals(
    graph: httpx.AsyncClient, params: dict[str, str], code: int
) -> None:
    short = await short_token(graph)
    query = {
        "grant_type": "fb_exchange_token",
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "fb_exchange_token": short,
        **params,
    }
    response = await graph.get("/v25.0/oauth/access_token", params=query)
    error = graph_error(response, code)
    assert error["message"]


async def test_client_credentials_answers_an_app_token(graph: httpx.AsyncClient) -> None:
    response = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type"}  # app tokens do not expire
    assert body["token_type"] == "bearer"
    subscriptions = await graph.get(
        f"/v25.0/{APP_ID}/subscriptions", params={"access_token": body["access_token"]}
    )
    assert subscriptions.json() == {"data": []}

    refused = await graph.get(
        "/v25.0/oauth/access_token",
        params={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": "x"},
    )
    graph_error(refused, 1)


async def test_oauth_without_a_grant_is_a_parameter_error(graph: httpx.AsyncClient) -> None:
    graph_error(await graph.get("/v25.0/oauth/access_token"), 100)
    graph_error(
        await graph.get(
            "/v25.0/oauth/access_token", params={"grant_type": "password", "client_id": APP_ID}
        ),
        100,
    )


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": APP_ID, "client_secret": "sécret-ü", "code": "x", "redirect_uri": REDIRECT},
        {"client_id": APP_ID, "client_secret": APP_SECRET, "code": "é" * 5000},
        {"client_id": '{"a": [1, 2]}', "client_secret": "[1]", "code": "{}"},
        {"client_id": "[" * 3000, "client_secret": "x", "code": "y"},
        {"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET}
        | {"fb_exchange_token": f"{APP_ID}|ñ"},
        {"grant_type": ["client_credentials"], "client_id": APP_ID},  # type: ignore[dict-item]
        {"client_id": "\x00", "client_secret": "\x00", "code": "\x00"},
    ],
    ids=[
        "unicode-secret",
        "long-code",
        "json-values",
        "deep-json",
        "unicode-app-token",
        "list-grant",
        "nul",
    ],
)
async def test_hostile_oauth_parameters_get_an_error_envelope(
    graph: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    for method in ("GET", "POST"):
        response = await graph.request(method, "/v25.0/oauth/access_token", params=params)
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) >= {"message", "type", "code", "fbtrace_id"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'["client_id"]',
        b"42",
        b'"x"',
        b"\xff\xfe{}",
        b"[" * 50_000,
        b"null",
        b'{"client_id": "900100200300400", "client_secret": "\\ud800", "code": "x"}',
        b'{"client_id": "900100200300400", "client_secret": NaN, "code": "x"}',
    ],
    ids=[
        "truncated",
        "array",
        "array-of-str",
        "number",
        "string",
        "not-utf8",
        "deep",
        "null",
        "lone-surrogate",
        "nan",
    ],
)
async def test_malformed_json_to_oauth_gets_an_error_envelope(
    graph: httpx.AsyncClient, body: bytes
) -> None:
    response = await graph.post(
        "/v25.0/oauth/access_token", content=body, headers={"content-type": "application/json"}
    )
    graph_error(response, 100)


async def test_hostile_dialog_forms_never_crash(graph: httpx.AsyncClient) -> None:
    forms: list[dict[str, Any]] = [
        {"client_id": "[" * 5000},
        {**dialog_query(), "action": "allow", "person_id": ADMIN, "page": "x" * 100_000},
        {**dialog_query(redirect_uri="http://[::1"), "action": "allow", "person_id": ADMIN},
        {**dialog_query(config_id="<script>alert(1)</script>"), "action": "allow"},
        {**dialog_query(state="\x00" * 10), "action": "cancel"},
    ]
    for form in forms:
        response = await graph.post("/v25.0/dialog/oauth", data=form)
        assert response.status_code in (302, 400), response.text
        assert "<script>alert(1)</script>" not in response.text
    page = await graph.get(
        "/v25.0/dialog/oauth", params=dialog_query(config_id="<script>alert(1)</script>")
    )
    assert page.status_code == 400
    assert "<script>alert(1)</script>" not in page.text


async def test_too_many_dialog_form_fields_is_not_a_server_error(
    graph: httpx.AsyncClient,
) -> None:
    form = [(f"f{i}", "x") for i in range(2000)]
    response = await graph.post("/v25.0/dialog/oauth", data=dict(form))
    assert 400 <= response.status_code < 500


# --- properties --------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
DIALOG_KEYS = (
    st.sampled_from(
        [
            "client_id",
            "redirect_uri",
            "state",
            "scope",
            "config_id",
            "response_type",
            "as",
            "auth_type",
            "person_id",
            "action",
            "page",
            "business",
            "permission",
        ]
    )
    | TEXT
)
DIALOG_VALUES = (
    st.sampled_from(
        [
            APP_ID,
            REDIRECT,
            ADMIN,
            CHLOE,
            PAGE,
            LOGIN_CONFIG,
            "allow",
            "cancel",
            "code",
            "",
            "http://[::1",
            "https://evil.example.com/",
            "pages_show_list",
        ]
    )
    | TEXT
)
ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    query=st.dictionaries(DIALOG_KEYS, DIALOG_VALUES, max_size=8),
    form=st.dictionaries(DIALOG_KEYS, DIALOG_VALUES, max_size=10),
)
async def test_the_dialog_never_fails_and_only_redirects_to_allowed_uris(
    emulator: Emulator, query: dict[str, str], form: dict[str, str]
) -> None:
    async with emulator.client() as browser:
        page = await browser.get("/v25.0/dialog/oauth", params=query)
        assert page.status_code in (200, 400), page.text
        assert page.headers["content-type"].startswith("text/html")

        response = await browser.post("/dialog/oauth", params=query, data=form)
        assert response.status_code in (302, 400), response.text
        if response.status_code == 302:
            target = urlparse(response.headers["location"])
            assert target.hostname in ALLOWED_HOSTS  # the app registered no URIs: loopback only
            back = parse_qs(target.query)
            assert ("code" in back) != ("error" in back)
