"""GraphClient against the emulator: the whole onboarding of a Page, as an admin does it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from frontdesk.emulator import psid_for
from frontdesk.messenger import (
    AccessToken,
    AppSubscription,
    BadRequest,
    GraphClient,
    PermissionProblem,
    Profile,
    SubscribedApp,
    TokenBroken,
    TransportError,
    app_token,
    oauth_url,
)

from .conftest import (
    ADMIN,
    ALL_FIELDS,
    APP_ID,
    APP_SECRET,
    CALLBACK,
    GRAPH,
    JOAO,
    JOAO_PSID,
    PAGE,
    PAGE2,
    REDIRECT,
    SCOPE,
    VERIFY_TOKEN,
    Receiver,
    Wire,
    act,
    login_code,
    ok,
)

APP_TOKEN = app_token(APP_ID, APP_SECRET)


def test_oauth_url_with_scope_or_config_id() -> None:
    url = oauth_url(APP_ID, REDIRECT, "st4te", scope=SCOPE)
    parts = urlparse(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "www.facebook.com",
        "/v25.0/dialog/oauth",
    )
    assert parse_qs(parts.query) == {
        "client_id": [APP_ID],
        "redirect_uri": [REDIRECT],
        "state": ["st4te"],
        "response_type": ["code"],
        "scope": [",".join(SCOPE)],
    }
    business = oauth_url(APP_ID, REDIRECT, "s", config_id="1700000000000001", auth_type="rerequest")
    assert parse_qs(urlparse(business).query)["config_id"] == ["1700000000000001"]
    assert "scope" not in parse_qs(urlparse(business).query)
    with pytest.raises(ValueError, match="scope or config_id"):
        oauth_url(APP_ID, REDIRECT, "s")
    with pytest.raises(ValueError, match="scope or config_id"):
        oauth_url(APP_ID, REDIRECT, "s", scope=SCOPE, config_id="1")


async def login(graph: GraphClient, control: httpx.AsyncClient, **kwargs: object) -> AccessToken:
    """The dialog URL from oauth_url, walked in the emulator; the code exchanged twice."""
    url = oauth_url(APP_ID, REDIRECT, "st4te", scope=SCOPE, base=GRAPH, **kwargs)  # type: ignore[arg-type]
    code = await login_code(control, url)
    short = await graph.exchange_code(APP_ID, APP_SECRET, REDIRECT, code)
    assert short.token_type == "bearer"
    assert short.expires_in is not None
    assert 0 < short.expires_in <= 24 * 3600
    return await graph.exchange_long_lived(APP_ID, APP_SECRET, short.access_token)


async def test_onboarding_end_to_end(
    graph: GraphClient, control: httpx.AsyncClient, receiver: Receiver, wire: Wire
) -> None:
    user = await login(graph, control)
    assert user.expires_in is not None
    assert user.expires_in > 50 * 86400
    assert user.access_token not in repr(user)

    pages = await graph.accounts(user.access_token)
    assert [(p.id, p.name, p.category) for p in pages] == [
        (PAGE, "Lisbon Tees", "Clothing Store"),
        (PAGE2, "Porto Books", "Book Store"),
    ]
    assert "MESSAGING" in pages[0].tasks
    assert pages[0].access_token not in repr(pages[0])
    page_token = pages[0].access_token

    info = await graph.debug_token(page_token, APP_TOKEN)
    assert (info.is_valid, info.type, info.app_id, info.profile_id) == (True, "PAGE", APP_ID, PAGE)
    assert info.expires_at == 0
    assert info.user_id == ADMIN
    assert "pages_messaging" in info.scopes
    assert PAGE in info.granular_scopes["pages_messaging"]
    assert (info.error_code, info.error_subcode) == (None, None)

    await graph.subscribe_app(APP_ID, APP_TOKEN, CALLBACK, VERIFY_TOKEN, ALL_FIELDS)
    assert await graph.app_subscriptions(APP_ID, APP_TOKEN) == [
        AppSubscription(object="page", callback_url=CALLBACK, active=True, fields=ALL_FIELDS)
    ]
    assert await graph.subscribed_apps(PAGE, page_token) == []
    await graph.subscribe_page(PAGE, page_token, ALL_FIELDS)
    [app] = await graph.subscribed_apps(PAGE, page_token)
    assert app == SubscribedApp(id=APP_ID, name="Frontdesk Demo", subscribed_fields=ALL_FIELDS)

    page = await graph.page(PAGE, page_token)
    assert (page["id"], page["name"], page["username"]) == (PAGE, "Lisbon Tees", "lisbontees")
    assert page["picture"]["data"]["url"]

    await graph.unsubscribe_page(PAGE, page_token)
    assert await graph.subscribed_apps(PAGE, page_token) == []
    await graph.unsubscribe_app(APP_ID, APP_TOKEN)
    assert await graph.app_subscriptions(APP_ID, APP_TOKEN) == []

    # Tokens travel in the Authorization header, not in URLs; only the code exchanges and
    # debug_token's input_token take them as parameters, as Graph defines those calls.
    for request in wire.requests:
        if request.url.path.endswith(("/oauth/access_token", "/debug_token")):
            continue
        assert request.headers["authorization"].startswith("Bearer ")
        assert page_token not in str(request.url)
        assert user.access_token not in str(request.url)
        assert APP_SECRET not in str(request.url)


async def test_accounts_follows_the_paging_cursors(
    graph: GraphClient, control: httpx.AsyncClient, wire: Wire
) -> None:
    user = await login(graph, control)
    pages = await graph.accounts(user.access_token, page_size=1)
    assert [p.id for p in pages] == [PAGE, PAGE2]
    calls = wire.to("/me/accounts")
    assert len(calls) == 2
    assert "after" in calls[1].url.params
    assert calls[1].url.host == "emulator.test"


async def test_a_failed_handshake_is_refused(graph: GraphClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await graph.subscribe_app(APP_ID, APP_TOKEN, CALLBACK, "not-the-verify-token", ALL_FIELDS)
    assert caught.value.code == 2200


async def test_a_used_code_cannot_be_exchanged_again(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    code = await login_code(control, oauth_url(APP_ID, REDIRECT, "s", scope=SCOPE, base=GRAPH))
    await graph.exchange_code(APP_ID, APP_SECRET, REDIRECT, code)
    with pytest.raises(BadRequest) as caught:
        await graph.exchange_code(APP_ID, APP_SECRET, REDIRECT, code)
    assert caught.value.code == 100


async def test_a_password_change_shows_in_debug_token_and_breaks_calls(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    user = await login(graph, control)
    [page, _] = await graph.accounts(user.access_token)
    await ok(control.post("/_emulator/faults/password-change", json={"person_id": ADMIN}))

    info = await graph.debug_token(page.access_token, APP_TOKEN)
    assert info.is_valid is False
    assert (info.error_code, info.error_subcode) == (190, 460)
    with pytest.raises(TokenBroken) as caught:
        await graph.subscribed_apps(PAGE, page.access_token)
    assert caught.value.reason == "password_changed"
    with pytest.raises(TokenBroken):
        await graph.profile(JOAO_PSID, page.access_token)
    with pytest.raises(TokenBroken):
        await graph.debug_token("not-a-token", APP_TOKEN)


async def test_profile_is_best_effort(graph: GraphClient, control: httpx.AsyncClient) -> None:
    user = await login(graph, control)
    [page, _] = await graph.accounts(user.access_token)
    token = page.access_token

    assert await graph.profile(JOAO_PSID, token) is None  # João never wrote: an empty object
    await act(control, "message", text="hi")
    profile = await graph.profile(JOAO_PSID, token)
    assert isinstance(profile, Profile)
    assert (profile.id, profile.first_name, profile.last_name, profile.name) == (
        JOAO_PSID,
        "João",
        "Pereira",
        None,  # not asked for
    )
    assert profile.profile_pic is not None
    assert profile.profile_pic.startswith("http")

    phone = await ok(
        control.post("/_emulator/people", json={"name": "Rui", "created_by_phone": True})
    )
    await act(control, "message", text="hi", person_id=phone["id"])
    assert await graph.profile(psid_for(PAGE, phone["id"]), token) is None  # 2018218

    permissions = {"pages_show_list": "advanced", "pages_messaging": "advanced"}
    await ok(
        control.patch(
            f"/_emulator/apps/{APP_ID}",
            json={"permissions": {**permissions, "pages_manage_metadata": "advanced"}},
        )
    )
    assert await graph.profile(JOAO_PSID, token) is None  # 2018247: no profile access


async def test_a_page_without_permission_to_subscribe(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    user = await login(graph, control)
    [page, _] = await graph.accounts(user.access_token)
    await ok(control.put(f"/_emulator/pages/{PAGE}/roles/{ADMIN}", json={"tasks": ["MESSAGING"]}))
    with pytest.raises(PermissionProblem) as caught:
        await graph.subscribe_page(PAGE, page.access_token, ALL_FIELDS)
    assert caught.value.code == 10


async def test_an_unexpected_success_body_is_a_transport_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": PAGE, "name": "No token"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        graph = GraphClient(http)
        with pytest.raises(TransportError, match="without id or access_token"):
            await graph.accounts("EAAuser")


@pytest.mark.parametrize("success", [True, "true"])
async def test_success_may_be_a_string(success: object) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": success})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        await GraphClient(http).subscribe_page(PAGE, "EAApage", ["messages"])


async def test_success_false_is_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": False})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(BadRequest, match="did not confirm"):
            await GraphClient(http).subscribe_page(PAGE, "EAApage", ["messages"])


async def test_profile_of_a_person_on_another_page_is_not_found(
    graph: GraphClient, control: httpx.AsyncClient
) -> None:
    user = await login(graph, control)
    [page, _] = await graph.accounts(user.access_token)
    await act(control, "message", text="hi")
    with pytest.raises(BadRequest) as caught:
        await graph.profile(psid_for(PAGE2, JOAO), page.access_token)
    assert (caught.value.code, caught.value.subcode) == (100, 33)
