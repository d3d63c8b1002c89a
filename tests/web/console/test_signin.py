"""First run, login, logout and sessions, through HTTP against the real app and database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from frontdesk.app import create_app
from frontdesk.core.people import Role
from frontdesk.store import accounts, conversations
from frontdesk.store.tables import channels, sessions, users, workspaces
from frontdesk.web.console.gate import FORM_COOKIE, SESSION_COOKIE

from .conftest import (
    CHEAP,
    PASSWORD,
    Clock,
    Site,
    csrf_of,
    field_error,
    form_problem,
    site_settings,
)

pytestmark = pytest.mark.db

OWNER_FORM = {
    "workspace": "Lisbon Tees",
    "name": "Morgan Reyes",
    "email": "Morgan@Example.com",
    "password": PASSWORD,
    "confirm": PASSWORD,
}


async def test_the_first_visit_goes_to_the_first_run_which_makes_the_owner(site: Site) -> None:
    browser = site.browser()
    assert (await browser.get("/")).headers["location"] == "/login"
    assert (await browser.get("/login")).headers["location"] == "/setup"
    page = await browser.get("/setup")
    assert page.status_code == 200
    assert "Create the workspace" in page.text
    done = await browser.submit("/setup", "/setup", OWNER_FORM)
    assert (done.status_code, done.headers["location"]) == (303, "/login?done=setup")
    async with site.engine.begin() as conn:
        found = await accounts.user_by_email(conn, "morgan@example.com")
    assert found is not None
    assert (found[0].name, found[0].role) == ("Morgan Reyes", Role.OWNER)
    assert found[1].startswith("$argon2id$")
    # The first run is over: its page and its form now lead to the login.
    assert (await browser.get("/setup")).headers["location"] == "/login"
    again = await browser.submit("/login", "/setup", {**OWNER_FORM, "email": "eve@example.com"})
    assert again.headers["location"] == "/login"
    async with site.engine.begin() as conn:
        assert await accounts.count_users(conn) == 1


async def test_the_first_run_adopts_the_channels_connected_before_it(site: Site) -> None:
    async with site.engine.begin() as conn:
        await conversations.add_channel(conn, "104857600012345", "Lisbon Tees", site.clock())
    browser = site.browser()
    await browser.submit("/setup", "/setup", OWNER_FORM)
    async with site.engine.begin() as conn:
        [workspace_id] = (await conn.execute(select(workspaces.c.id))).scalars().all()
        assert (await conn.execute(select(channels.c.workspace_id))).scalar_one() == workspace_id
    await browser.submit("/login", "/login", {"email": "morgan@example.com", "password": PASSWORD})
    home = await browser.get("/")
    assert "Lisbon Tees" in home.text
    assert "104857600012345" in home.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"workspace": ""}, "workspace", "This is needed."),
        ({"name": "x" * 101}, "name", "Use at most 100 characters."),
        ({"email": "not-an-address"}, "email", "Enter an email address, like ana@example.com."),
        ({"password": "short", "confirm": "short"}, "password", "Use at least 10 characters."),
        ({"confirm": PASSWORD + "!"}, "confirm", "The two passwords are not the same."),
        ({"name": "bell\x07"}, "name", "The name contains a character that cannot be shown."),
    ],
)
async def test_a_wrong_first_run_field_is_named_next_to_it_and_the_rest_is_kept(
    site: Site, change: dict[str, str], field: str, message: str
) -> None:
    browser = site.browser()
    answer = await browser.submit("/setup", "/setup", {**OWNER_FORM, **change})
    assert answer.status_code == 400
    assert field_error(answer.text, field) == message
    assert 'aria-invalid="true"' in answer.text
    if field != "workspace":
        assert 'value="Lisbon Tees"' in answer.text  # what was typed stays
    assert PASSWORD not in answer.text  # never a password
    async with site.engine.begin() as conn:
        assert await accounts.count_users(conn) == 0


async def test_login_rotates_the_session_and_logout_ends_it(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Lisbon Tees", "ana@example.com", Role.AGENT)
    browser = site.browser()
    login = await browser.get("/login")
    assert browser.cookie(FORM_COOKIE)
    assert browser.cookie(SESSION_COOKIE) is None
    answer = await browser.submit(
        "/login", "/login", {"email": "MORGAN@example.com ", "password": PASSWORD}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    first = browser.cookie(SESSION_COOKIE)
    assert first is not None
    assert first != browser.cookie(FORM_COOKIE)
    assert "Morgan" in (await browser.get("/")).text
    assert login.status_code == 200

    # Logging in again (as someone else, from a login form left open in another tab) makes a
    # new session id; the old one is dead.
    again = await browser.post(
        "/login",
        {
            "csrf_token": browser.cookie(FORM_COOKIE) or "",
            "email": "ana@example.com",
            "password": PASSWORD,
        },
    )
    assert again.status_code == 303
    second = browser.cookie(SESSION_COOKIE)
    assert second not in (None, first)
    stale = site.browser()
    stale.client.cookies.set(SESSION_COOKIE, first)
    assert (await stale.get("/")).headers["location"] == "/login"
    async with site.engine.begin() as conn:
        assert (await conn.execute(select(func.count()).select_from(sessions))).scalar_one() == 1

    home = await browser.get("/")
    out = await browser.post("/logout", {"csrf_token": csrf_of(home.text)})
    assert (out.status_code, out.headers["location"]) == (303, "/login?done=logout")
    assert browser.cookie(SESSION_COOKIE) is None
    assert "You are logged out." in (await browser.get("/login?done=logout")).text
    async with site.engine.begin() as conn:
        assert (await conn.execute(select(func.count()).select_from(sessions))).scalar_one() == 0
    # The cookie as it was before logout opens nothing either.
    stale.client.cookies.set(SESSION_COOKIE, second or "")
    assert (await stale.get("/")).headers["location"] == "/login"


async def test_a_planted_session_cookie_does_not_survive_login(site: Site) -> None:
    """Session fixation: whatever cookie the browser carried, login hands out a fresh one."""
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = site.browser()
    planted = "A" * 43
    browser.client.cookies.set(SESSION_COOKIE, planted, domain="frontdesk.test")
    await browser.submit("/login", "/login", {"email": "morgan@example.com", "password": PASSWORD})
    assert browser.cookie(SESSION_COOKIE) not in (None, planted)
    async with site.engine.begin() as conn:
        stored = (await conn.execute(select(sessions.c.id))).scalars().all()
    assert stored == [accounts.digest(browser.cookie(SESSION_COOKIE) or "")]


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("http://frontdesk.test", False), ("https://desk.example.com", True)],
)
async def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(
    tmp_path: Path, database_url: str, public_url: str, secure: bool
) -> None:
    settings = site_settings(tmp_path, database_url, public_url=public_url)
    async with httpx.AsyncClient() as http:
        app = create_app(settings, clock=Clock(), run_worker=False, http=http, passwords=CHEAP)
        site = Site(app, app.state.engine, Clock(), settings)
        await site.member("Lisbon Tees", "morgan@example.com")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=public_url
        ) as browser:
            shown = await browser.get("/login")
            form_cookie = shown.headers["set-cookie"]
            answer = await browser.post(
                "/login",
                data={
                    "csrf_token": csrf_of(shown.text),
                    "email": "morgan@example.com",
                    "password": PASSWORD,
                },
                headers={"origin": public_url},
            )
        await site.engine.dispose()
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert ("secure" in attributes) is secure
    assert "httponly" in form_cookie.lower()
    assert ("secure" in form_cookie.lower()) is secure


async def test_a_session_ends_after_being_idle_and_after_its_lifetime(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    site.clock.advance(11 * 3600)
    assert (await browser.get("/")).status_code == 200  # 11 h idle: still in
    site.clock.advance(12 * 3600 + 1)
    assert (await browser.get("/")).headers["location"] == "/login"

    busy = await site.signed_in("morgan@example.com")
    for _ in range(14):
        site.clock.advance(24 * 3600 - 60)
        answer = await busy.get("/team")
        if answer.status_code != 200:
            break
    assert answer.headers["location"] == "/login?next=/team"


async def test_a_page_that_needs_a_login_comes_back_after_it(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = site.browser()
    bounce = await browser.get("/team")
    assert bounce.headers["location"] == "/login?next=/team"
    page = await browser.get(bounce.headers["location"])
    assert 'name="next" value="/team"' in page.text
    answer = await browser.post(
        "/login",
        {
            "csrf_token": csrf_of(page.text),
            "email": "morgan@example.com",
            "password": PASSWORD,
            "next": "/team",
        },
    )
    assert answer.headers["location"] == "/team"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "evil",
        "/x\r\nSet-Cookie: a=b",
    ],
)
async def test_login_never_sends_anyone_to_another_site(site: Site, target: str) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = site.browser()
    answer = await browser.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD, "next": target}
    )
    assert answer.headers["location"] == "/"


async def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = site.browser()
    wrong = await browser.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": "nope nope nope"}
    )
    unknown = await browser.submit(
        "/login", "/login", {"email": "nobody@example.com", "password": PASSWORD}
    )
    for answer in (wrong, unknown):
        assert answer.status_code == 400
        assert form_problem(answer.text) == "That address and password do not match an account."
        assert browser.cookie(SESSION_COOKIE) is None


async def test_too_many_wrong_passwords_for_an_account_wait_and_survive_a_restart(
    site: Site,
) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    browser = site.browser("10.0.0.1")
    for _ in range(5):
        answer = await browser.submit(
            "/login", "/login", {"email": "morgan@example.com", "password": "wrong password"}
        )
        assert answer.status_code == 400
    # The right password now is refused too, without being checked: the account waits.
    blocked = await browser.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) == 15 * 60
    assert "Try again in 15 minutes." in (form_problem(blocked.text) or "")

    # Another address, another browser: the account still waits (a new app, same database).
    async with httpx.AsyncClient() as http:
        restarted = create_app(
            site.settings, clock=site.clock, run_worker=False, http=http, passwords=CHEAP
        )
        other = Site(restarted, restarted.state.engine, site.clock, site.settings)
        elsewhere = other.browser("10.0.0.2")
        still = await elsewhere.submit(
            "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
        )
        assert still.status_code == 429
        site.clock.advance(15 * 60)
        passes = await elsewhere.submit(
            "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
        )
        assert passes.status_code == 303
        await elsewhere.client.aclose()
        await other.engine.dispose()


async def test_too_many_wrong_passwords_from_one_address_wait_for_every_account(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    guesser = site.browser("10.9.9.9")
    for n in range(30):
        await guesser.submit(
            "/login", "/login", {"email": f"user{n}@example.com", "password": "guess guess"}
        )
    blocked = await guesser.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    # The account itself is fine from elsewhere.
    fine = site.browser("10.1.1.1")
    ok = await fine.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
    )
    assert ok.status_code == 303
    async with site.engine.begin() as conn:
        assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 1
