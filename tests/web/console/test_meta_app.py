"""The Meta app settings page: the operator's app by default, a workspace's own app with its
secret encrypted and never shown back, the verify token made and remade, the Graph address
chosen from a list."""

from __future__ import annotations

import re

import pytest

from frontdesk.store import meta_apps
from frontdesk.store.secrets import Secrets

from .conftest import Site, csrf_of, field_error

pytestmark = pytest.mark.db

OWN = {
    "source": "own",
    "app_id": "424242424242",
    "app_secret": "0123456789abcdef0123456789abcdef",
    "graph_url": "https://graph.facebook.com",
    "graph_version": "v25.0",
}


def verify_token_on(html: str) -> str:
    found = re.search(r'id="verify-token" class="mono" type="text" value="([^"]+)"', html)
    assert found, "no verify token on the page"
    return found.group(1)


async def test_the_operators_app_is_used_until_the_workspace_brings_its_own(site: Site) -> None:
    owner = await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    page = await browser.get("/settings/meta")
    assert page.status_code == 200
    assert "900100200300400" in page.text  # the operator's app id
    assert "operator-secret" not in page.text
    assert "operator-verify-token" not in page.text
    assert 'value="operator" aria-describedby="source-operator-hint" checked' in page.text
    assert '<option value="http://emulator.test" selected>' in page.text

    saved = await browser.submit("/settings/meta", "/settings/meta", OWN)
    assert saved.headers["location"] == "/settings/meta?done=saved"
    shown = await browser.get("/settings/meta?done=saved")
    assert "The Meta app settings were saved." in shown.text
    assert OWN["app_secret"] not in shown.text
    assert "Set. Leave empty to keep it" in shown.text
    token = verify_token_on(shown.text)
    async with site.engine.begin() as conn:
        used = await meta_apps.app_for_workspace(
            conn, site_keys(site), owner.workspace_id, operator(site)
        )
    assert used == meta_apps.MetaApp(
        "424242424242", OWN["app_secret"], token, "https://graph.facebook.com", "v25.0"
    )

    # Saved again with the secret left empty: it is kept. A new verify token on request.
    await browser.submit(
        "/settings/meta", "/settings/meta", {**OWN, "app_secret": "", "graph_version": "v24.0"}
    )
    remade = await browser.submit("/settings/meta", "/settings/meta/verify-token", {})
    assert remade.headers["location"] == "/settings/meta?done=token"
    after = await browser.get("/settings/meta")
    assert verify_token_on(after.text) != token
    async with site.engine.begin() as conn:
        used = await meta_apps.app_for_workspace(
            conn, site_keys(site), owner.workspace_id, operator(site)
        )
    assert (used.app_secret, used.graph_version) == (OWN["app_secret"], "v24.0")

    # Back to the operator's app: the own app is kept for later.
    await browser.submit("/settings/meta", "/settings/meta", {"source": "operator"})
    async with site.engine.begin() as conn:
        assert await meta_apps.app_for_workspace(
            conn, site_keys(site), owner.workspace_id, operator(site)
        ) == operator(site)
    back = await browser.get("/settings/meta")
    assert 'value="operator" aria-describedby="source-operator-hint" checked' in back.text
    assert 'value="424242424242"' in back.text


def site_keys(site: Site) -> Secrets:
    return Secrets(site.settings.secret_keys)


def operator(site: Site) -> meta_apps.MetaApp:
    s = site.settings
    return meta_apps.MetaApp(
        s.meta_app_id, s.meta_app_secret, s.meta_verify_token, s.graph_url, s.graph_version
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"app_id": "abc"}, "app_id", "The App ID is a number, as the App Dashboard shows it."),
        ({"app_id": ""}, "app_id", "This is needed."),
        ({"app_secret": ""}, "app_secret", "Paste the App secret: it is needed once."),
        (
            {"app_secret": "has spaces in it"},
            "app_secret",
            "Paste the App secret exactly: 8 to 200 characters, no spaces.",
        ),
        ({"graph_version": "25"}, "graph_version", "Write the version like v25.0."),
    ],
)
async def test_a_wrong_value_is_named_next_to_its_field(
    site: Site, change: dict[str, str], field: str, message: str
) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    answer = await browser.submit("/settings/meta", "/settings/meta", {**OWN, **change})
    assert answer.status_code == 400
    assert field_error(answer.text, field) == message
    assert OWN["app_secret"] not in answer.text


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254", "http://127.0.0.1:5432", "https://graph.facebook.com.evil.example"],
)
async def test_the_graph_address_is_one_of_the_offered_ones(site: Site, url: str) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    answer = await browser.submit("/settings/meta", "/settings/meta", {**OWN, "graph_url": url})
    assert answer.status_code == 400
    assert "Choose one of the options." in answer.text


async def test_without_an_own_app_there_is_no_verify_token_to_remake(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    page = await browser.get("/settings/meta")
    assert 'id="verify-token"' not in page.text
    answer = await browser.post("/settings/meta/verify-token", {"csrf_token": csrf_of(page.text)})
    assert answer.headers["location"] == "/settings/meta"
