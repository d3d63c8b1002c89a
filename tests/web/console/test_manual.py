"""Manual setup against the emulator: a Callback URL and verify token of the channel's own, the
business's own Meta app verifying it, the pasted app secret and Page token checked with
`debug_token`, the Page subscribed, "waiting for Meta" until the verification, and events
believed at that URL only when signed with that app's secret and only for that app's Pages."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from frontdesk.messenger import sign
from frontdesk.store.tables import channel_hooks, channels, jobs, messages, webhook_bodies
from frontdesk.workers.examination import REQUIRED_FIELDS

from .conftest import (
    ADMIN,
    APP_ID,
    CALLBACK,
    JOAO,
    LISBON,
    ORIGIN,
    PORTO,
    Browser,
    Wired,
    csrf_of,
    field_error,
)
from .test_connect import text_of

pytestmark = pytest.mark.db

OWN_SECRET = "lisbon-own-secret-0123456789"
SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata,pages_read_engagement"


async def own_app(wired: Wired) -> str:
    """The business's own Meta app, live, Morgan its administrator."""
    made = await wired.control.post(
        "/_emulator/apps",
        json={
            "name": "Lisbon Tees Bot",
            "secret": OWN_SECRET,
            "mode": "live",
            "permissions": dict.fromkeys(SCOPE.split(","), "advanced"),
            "roles": {ADMIN: "administrator"},
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def page_token_of(
    wired: Wired,
    app_id: str,
    secret: str,
    page: str = LISBON,
    redirect: str = "http://127.0.0.1/cb",
) -> str:
    """What the admin copies from the app dashboard: a Page token of their own app."""
    graph = wired.control
    form = {
        "client_id": app_id,
        "redirect_uri": redirect,
        "state": "st4te-st4te-st4te-st4te",
        "scope": SCOPE,
        "person_id": ADMIN,
        "action": "allow",
        "page": [page],
        "permission": SCOPE.split(","),
    }
    back = await graph.post("/v25.0/dialog/oauth", data=form)
    assert back.status_code == 302, back.text
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    app = {"client_id": app_id, "client_secret": secret}
    short = await graph.get(
        "/v25.0/oauth/access_token", params={**app, "redirect_uri": redirect, "code": code}
    )
    long = await graph.get(
        "/v25.0/oauth/access_token",
        params={
            **app,
            "grant_type": "fb_exchange_token",
            "fb_exchange_token": short.json()["access_token"],
        },
    )
    accounts = await graph.get(
        "/v25.0/me/accounts", params={"access_token": long.json()["access_token"]}
    )
    return next(str(p["access_token"]) for p in accounts.json()["data"] if p["id"] == page)


def shown(html: str, label: str) -> str:
    found = re.search(rf'value="([^"]*)" readonly aria-label="{label}"', html)
    assert found, f"no {label} on the page"
    return unescape(found.group(1))


async def draft(browser: Browser) -> tuple[str, str, str]:
    """Start a manual setup: its page, Callback URL and verify token."""
    start = await browser.get("/channels/manual")
    made = await browser.post("/channels/manual", {"csrf_token": csrf_of(start.text)})
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    page = await browser.get(path)
    return path, shown(page.text, "Callback URL"), shown(page.text, "Verify token")


async def set_webhook(wired: Wired, app_id: str, url: str, verify: str) -> httpx.Response:
    """What the admin does in the app dashboard: the Callback URL, verified by Meta at once."""
    return await wired.control.post(
        f"/v25.0/{app_id}/subscriptions",
        data={
            "object": "page",
            "callback_url": url,
            "verify_token": verify,
            "fields": ",".join(REQUIRED_FIELDS),
            "access_token": f"{app_id}|{OWN_SECRET}",
        },
    )


async def paste(browser: Browser, path: str, **fields: str) -> httpx.Response:
    page = await browser.get(path)
    return await browser.post(path, {"csrf_token": csrf_of(page.text), **fields})


async def owner(wired: Wired) -> Browser:
    await wired.member("Lisbon", "morgan@lisbon.test")
    return await wired.signed_in("morgan@lisbon.test")


async def count(wired: Wired, table: Any, *where: Any) -> int:
    async with wired.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
        )


async def test_manual_setup_waits_for_meta_then_receives_signed_events(wired: Wired) -> None:
    app_id = await own_app(wired)
    browser = await owner(wired)
    path, url, verify = await draft(browser)
    assert re.fullmatch(rf"{ORIGIN}/webhooks/messenger/[A-Za-z0-9_-]{{32}}", url)
    token = await page_token_of(wired, app_id, OWN_SECRET)

    connected = await paste(
        browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=f"{token}\n"
    )
    assert connected.status_code == 303, connected.text
    channel_page = await browser.get(connected.headers["location"])
    page = text_of(channel_page.text)
    assert "Lisbon Tees" in page
    assert "Manual setup" in page
    assert "Waiting for Meta" in page
    assert shown(channel_page.text, "Callback URL") == url
    assert (await wired.world_page(LISBON))["subscribed_apps"][app_id] == list(REQUIRED_FIELDS)
    assert "Waiting for Meta" in text_of((await browser.get("/")).text)

    # The admin saves the Callback URL in the app dashboard: Meta's GET, answered.
    verified = await set_webhook(wired, app_id, url, verify)
    assert verified.json() == {"success": True}, verified.text
    table = text_of((await browser.get("/")).text)
    assert "Waiting for Meta" not in table
    assert "Connected" in table
    channel_id = int(connected.headers["location"].split("/")[2].split("?")[0])
    assert (await browser.get(f"/channels/{channel_id}/live")).json()["verified"] is True

    # A customer writes: Meta signs with the business's app secret, at the channel's URL.
    await wired.say("Olá, own app!")
    assert await count(wired, messages, messages.c.text == "Olá, own app!") == 1
    doctor = text_of((await browser.get(f"/channels/{channel_id}/doctor")).text)
    assert f"✓ App webhook (passed) Verified, pointing at {url}" in doctor
    assert "✗" not in doctor


async def test_a_verification_before_the_token_is_pasted_counts(wired: Wired) -> None:
    app_id = await own_app(wired)
    browser = await owner(wired)
    path, url, verify = await draft(browser)
    assert (await set_webhook(wired, app_id, url, verify)).json() == {"success": True}
    assert "✓ Meta verified this Callback URL" in text_of((await browser.get(path)).text)
    # Before a secret is known nothing posted there is believed.
    body = b'{"object":"page","entry":[]}'
    posted = await wired.browser().client.post(
        url.removeprefix(ORIGIN),
        content=body,
        headers={"x-hub-signature-256": sign(body, OWN_SECRET)},
    )
    assert posted.status_code == 403
    token = await page_token_of(wired, app_id, OWN_SECRET)
    done = await paste(browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=token)
    assert done.status_code == 303
    assert "Waiting for Meta" not in text_of((await browser.get("/")).text)


async def test_what_meta_refuses_is_said_next_to_its_field(wired: Wired) -> None:
    app_id = await own_app(wired)
    browser = await owner(wired)
    path, _, _ = await draft(browser)
    token = await page_token_of(wired, app_id, OWN_SECRET)
    wrong_secret = await paste(
        browser, path, app_id=app_id, app_secret="not-the-secret-at-all", page_token=token
    )
    assert wrong_secret.status_code == 400
    assert "Meta refused the Meta app's id and secret" in (
        field_error(wrong_secret.text, "app_secret") or ""
    )
    # A Page token of another app (the operator's), for the same Page.
    operator = await page_token_of(
        wired, APP_ID, "demo-app-secret-0123456789abcdef", redirect=CALLBACK
    )
    other_app = await paste(
        browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=operator
    )
    assert other_app.status_code == 400
    assert "The input token belongs to another app" in (
        field_error(other_app.text, "page_token") or ""
    )
    # A token Meta no longer accepts.
    await wired.control.post("/_emulator/faults/password-change", json={"person_id": ADMIN})
    broken = await paste(browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=token)
    assert "Meta says the token is not valid (190/460)" in (
        field_error(broken.text, "page_token") or ""
    )
    assert await count(wired, channels) == 0


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"app_id": "<script>alert(1)</script>"}, "app_id", "The App ID is a number"),
        ({"app_id": "9" * 40}, "app_id", "Use at most 32 characters."),
        ({"app_secret": "has spaces in it"}, "app_secret", "no spaces"),
        ({"app_secret": "x" * 300}, "app_secret", "Use at most 200 characters."),
        ({"page_token": "EAAB" + "x" * 30 + "\n" + "y" * 30}, "page_token", "on one line"),
        ({"page_token": "EAAB" + "x" * 5000}, "page_token", "Use at most 1000 characters."),
        (
            {"page_token": "<script>alert('t')</script>EAABxxxxxxxxxxxx"},
            "page_token",
            "on one line",
        ),
        ({"page_token": ""}, "page_token", "This is needed."),
    ],
)
async def test_hostile_input_is_refused_and_escaped(
    wired: Wired, fields: dict[str, str], field: str, said: str
) -> None:
    browser = await owner(wired)
    path, _, _ = await draft(browser)
    values = {
        "app_id": "123456",
        "app_secret": "a-good-secret-123",
        "page_token": "EAAB" + "x" * 40,
    }
    answer = await paste(browser, path, **{**values, **fields})
    assert answer.status_code == 400
    assert said in (field_error(answer.text, field) or "")
    assert "<script>" not in answer.text
    assert await count(wired, channels) == 0


async def test_the_channel_url_takes_only_its_own_apps_pages(wired: Wired) -> None:
    app_id = await own_app(wired)
    browser = await owner(wired)
    path, url, _ = await draft(browser)
    token = await page_token_of(wired, app_id, OWN_SECRET)
    assert (
        await paste(browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=token)
    ).status_code == 303
    # Another workspace has Porto Books, connected the usual way.
    theirs = await wired.member("Theirs", "owner@theirs.test")
    await wired.channel(theirs.workspace_id, PORTO, "Porto Books")

    def event(page: str, text: str) -> bytes:
        messaging = {
            "sender": {"id": "7300000000000001"},
            "recipient": {"id": page},
            "timestamp": 1_795_000_000_000,
            "message": {"mid": f"m_{text}", "text": text},
        }
        body = {"object": "page", "entry": [{"id": page, "time": 1, "messaging": [messaging]}]}
        return json.dumps(body).encode()

    meta = wired.browser().client
    # Signed with the right secret, but for someone else's Page: kept raw, filed nowhere.
    forged = event(PORTO, "forged")
    answer = await meta.post(
        url.removeprefix(ORIGIN),
        content=forged,
        headers={"x-hub-signature-256": sign(forged, OWN_SECRET)},
    )
    assert answer.status_code == 200
    assert await count(wired, jobs, jobs.c.kind == "event") == 0
    async with wired.engine.connect() as conn:
        note = (await conn.execute(select(webhook_bodies.c.note))).scalar_one()
    assert note == f"no channel for Page {PORTO} at this channel's callback URL"
    # Its own Page's event, signed with another secret (the operator's): refused.
    own = event(LISBON, "unsigned")
    wrong = await meta.post(
        url.removeprefix(ORIGIN),
        content=own,
        headers={"x-hub-signature-256": sign(own, "demo-app-secret-0123456789abcdef")},
    )
    assert wrong.status_code == 403
    # Someone else's key, unknown keys, malformed keys.
    for key in ("A" * 32, "short", "..%2F..%2Fetc", "<script>" + "x" * 30):
        assert (
            await meta.get(
                f"/webhooks/messenger/{key}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
            )
        ).status_code == 404, key
        assert (await meta.post(f"/webhooks/messenger/{key}", content=own)).status_code == 404, key
    # The right verify token only.
    wrong_verify = await meta.get(
        url.removeprefix(ORIGIN) + "?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42"
    )
    assert wrong_verify.status_code == 403
    good = own
    signed = await meta.post(
        url.removeprefix(ORIGIN),
        content=good,
        headers={"x-hub-signature-256": sign(good, OWN_SECRET)},
    )
    assert signed.status_code == 200
    await wired.settle()
    assert await count(wired, messages) == 1
    async with wired.engine.connect() as conn:
        hooks_left = (await conn.execute(select(func.count()).select_from(channel_hooks))).scalar()
    assert hooks_left == 1


async def test_reconnecting_a_manual_page_is_its_setup_again(wired: Wired) -> None:
    app_id = await own_app(wired)
    browser = await owner(wired)
    path, url, verify = await draft(browser)
    token = await page_token_of(wired, app_id, OWN_SECRET)
    connected = await paste(browser, path, app_id=app_id, app_secret=OWN_SECRET, page_token=token)
    channel_id = int(connected.headers["location"].split("/")[2].split("?")[0])
    again = await browser.get(f"/channels/{channel_id}/reconnect")
    assert again.status_code == 303
    assert again.headers["location"] == path
    assert "Reconnect Lisbon Tees" in text_of((await browser.get(path)).text)
    # A token of another Page is refused; a new one of this Page replaces the old (the secret
    # kept).
    porto = await page_token_of(wired, app_id, OWN_SECRET, PORTO)
    refused = await paste(browser, path, app_id=app_id, app_secret="", page_token=porto)
    assert "not for Lisbon Tees" in (field_error(refused.text, "page_token") or "")
    fresh = await page_token_of(wired, app_id, OWN_SECRET)
    done = await paste(browser, path, app_id=app_id, app_secret="", page_token=fresh)
    assert done.status_code == 303, done.text
    assert await count(wired, channels) == 1
    assert await count(wired, channel_hooks) == 1
    await set_webhook(wired, app_id, url, verify)
    await wired.say("Still here", person=JOAO)
    assert await count(wired, messages) == 1
