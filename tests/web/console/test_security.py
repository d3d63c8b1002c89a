"""The gate and hostile input: forms without the right CSRF token or from another origin are
refused (403), oversized and malformed forms get a clear 413/400, what people type is escaped
on output, unicode survives, and every page carries the security headers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from frontdesk.core.people import Role
from frontdesk.store import accounts
from frontdesk.store.tables import users

from .conftest import ORIGIN, PASSWORD, Browser, Site, csrf_of, field_error

pytestmark = pytest.mark.db


async def _team_form(site: Site) -> tuple[Browser, str]:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    page = await browser.get("/team")
    return browser, csrf_of(page.text)


INVITE = {"email": "ana@example.com", "role": "agent"}


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),  # no token at all
        ("", {}),
        ("x" * 43, {}),  # a token, not this session's
        ("GOOD", {"origin": "https://evil.example"}),
        ("GOOD", {"origin": "null"}),
        ("GOOD", {"origin": "http://frontdesk.test.evil.example"}),
    ],
)
async def test_a_state_change_without_the_session_token_or_from_elsewhere_is_refused(
    site: Site, token: str | None, headers: dict[str, str]
) -> None:
    browser, good = await _team_form(site)
    data = dict(INVITE)
    if token is not None:
        data["csrf_token"] = good if token == "GOOD" else token
    answer = await browser.post("/team/invitations", data, headers=headers)
    assert answer.status_code == 403
    assert "This form cannot be accepted" in answer.text
    async with site.engine.begin() as conn:
        assert await accounts.pending_invitations(conn, 1, site.clock()) == []


async def test_a_post_with_neither_origin_nor_referer_is_refused_and_a_referer_will_do(
    site: Site,
) -> None:
    browser, good = await _team_form(site)
    client = browser.client
    bare = await client.post("/team/invitations", data={**INVITE, "csrf_token": good})
    assert bare.status_code == 403
    referred = await client.post(
        "/team/invitations",
        data={**INVITE, "csrf_token": good},
        headers={"referer": f"{ORIGIN}/team"},
    )
    assert referred.status_code == 201


async def test_the_session_token_of_another_session_does_not_pass(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Lisbon Tees", "ana@example.com", Role.ADMIN)
    morgan = await site.signed_in("morgan@example.com")
    ana = await site.signed_in("ana@example.com")
    anas_token = csrf_of((await ana.get("/team")).text)
    answer = await morgan.post("/team/invitations", {**INVITE, "csrf_token": anas_token})
    assert answer.status_code == 403


async def test_the_login_form_needs_its_cookie_and_token_too(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    fresh = site.browser()
    # No form cookie yet (a cross-site POST to a first-time visitor's browser): refused.
    blind = await fresh.post(
        "/login", {"csrf_token": "y" * 43, "email": "morgan@example.com", "password": PASSWORD}
    )
    assert blind.status_code == 403
    shown = await fresh.get("/login")
    wrong = await fresh.post(
        "/login", {"csrf_token": "y" * 43, "email": "morgan@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == 403
    right = await fresh.post(
        "/login",
        {"csrf_token": csrf_of(shown.text), "email": "morgan@example.com", "password": PASSWORD},
    )
    assert right.status_code == 303


async def test_a_huge_form_is_refused_with_413_before_it_is_read(site: Site) -> None:
    browser, good = await _team_form(site)
    answer = await browser.post(
        "/team/invitations", {**INVITE, "csrf_token": good, "email": "a" * 70_000}
    )
    assert answer.status_code == 413
    assert "larger than 64 KiB" in answer.text
    # A body that lies about its length is cut off at the same limit.
    client = browser.client

    async def chunks():
        for _ in range(100):
            yield b"a" * 1024

    streamed = await client.post(
        "/team/invitations",
        content=chunks(),
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413


async def test_a_field_over_its_limit_is_named_next_to_it(site: Site) -> None:
    browser, good = await _team_form(site)
    answer = await browser.post(
        "/team/invitations", {"csrf_token": good, "role": "agent", "email": "a" * 300}
    )
    assert answer.status_code == 400
    assert field_error(answer.text, "email") == "Use at most 254 characters."


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"email": "ana@example.com"}'),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("application/x-www-form-urlencoded", b"email=%FF%FE&role=agent"),  # not UTF-8
        ("application/x-www-form-urlencoded", "email=ä".encode()),  # raw non-ASCII byte
        ("application/x-www-form-urlencoded", b"role=agent&role=admin"),  # given twice
        ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % n for n in range(60))),
    ],
)
async def test_a_malformed_form_is_refused_with_400(
    site: Site, content_type: str, body: bytes
) -> None:
    browser, _ = await _team_form(site)
    client = browser.client
    answer = await client.post(
        "/team/invitations", content=body, headers={"origin": ORIGIN, "content-type": content_type}
    )
    assert answer.status_code == 400
    assert "This form cannot be read" in answer.text


async def test_what_people_type_is_escaped_and_unicode_is_kept(site: Site) -> None:
    browser = site.browser()
    script = "<script>alert('x')</script>"
    answer = await browser.submit(
        "/setup",
        "/setup",
        {
            "workspace": f"Tees {script}",
            "name": "Zoë 👩🏽‍💻 Ñandú",
            "email": "zoë@exemplo.pt",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert answer.status_code == 303
    await browser.submit("/login", "/login", {"email": "ZOË@exemplo.pt", "password": PASSWORD})
    team = await browser.get("/team")
    assert team.status_code == 200
    assert script not in team.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in team.text
    assert "Zoë 👩🏽‍💻 Ñandú" in team.text
    async with site.engine.begin() as conn:
        assert (await conn.execute(select(users.c.email))).scalar_one() == "zoë@exemplo.pt"
    # A hostile value sent back in an invalid form is escaped as well.
    again = await browser.post(
        "/team/invitations",
        {"csrf_token": csrf_of(team.text), "role": "agent", "email": '"><script>x</script>'},
    )
    assert again.status_code == 400
    assert "<script>x</script>" not in again.text


async def test_nul_and_control_characters_are_refused_by_field(site: Site) -> None:
    browser = site.browser()
    answer = await browser.submit(
        "/setup",
        "/setup",
        {
            "workspace": "Tees\x00",
            "name": "Ana",
            "email": "ana@example.com",
            "password": "ten chars\x00!",
            "confirm": "ten chars\x00!",
        },
    )
    assert answer.status_code == 400
    assert (
        field_error(answer.text, "workspace")
        == "The name contains a character that cannot be shown."
    )
    assert (
        field_error(answer.text, "password")
        == "The password contains a character that cannot be stored."
    )


@pytest.mark.parametrize("path", ["/login", "/setup", "/team", "/", "/nowhere-at-all/../team"])
async def test_console_pages_carry_the_security_headers(site: Site, path: str) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    answer = await browser.get(path)
    if answer.status_code == 404:
        return  # not a console page: the webhook app's own 404
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["cache-control"] == "no-store"


async def test_assets_are_served_from_here(site: Site) -> None:
    browser = site.browser()
    css = await browser.get("/assets/console.css")
    js = await browser.get("/assets/console.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    login = await browser.get("/login")
    assert "http://" not in login.text.replace(ORIGIN, "")  # nothing fetched from elsewhere
    assert "https://" not in login.text
