"""The team page: invitation links (single-use, expiring, stored as digests), accepting them,
roles and removals, and what each role may do."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from frontdesk.core.people import Role
from frontdesk.store import accounts
from frontdesk.store.tables import invitations

from .conftest import ORIGIN, PASSWORD, Site, csrf_of, field_error

pytestmark = pytest.mark.db

NEW_PASSWORD = "a different horse, still correct"


def invitation_link(html: str) -> str:
    found = re.search(r'id="invitation-link" class="mono" type="text" value="([^"]+)"', html)
    assert found, "no invitation link on the page"
    return found.group(1)


async def invite(site: Site, inviter: str, email: str, role: str = "agent") -> str:
    browser = await site.signed_in(inviter)
    answer = await browser.submit("/team", "/team/invitations", {"email": email, "role": role})
    assert answer.status_code == 201, answer.text
    return invitation_link(answer.text)


async def test_an_invited_agent_joins_by_the_link_once_and_logs_in(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    link = await invite(site, "morgan@example.com", "Ana@Example.com")
    assert link.startswith(f"{ORIGIN}/invitations/")
    token = link.rsplit("/", 1)[1]
    async with site.engine.begin() as conn:
        [stored] = (await conn.execute(select(invitations.c.token_hash))).scalars().all()
    assert stored == accounts.digest(token)  # the link itself is not kept

    guest = site.browser()
    path = link.removeprefix(ORIGIN)
    page = await guest.get(path)
    assert page.status_code == 200
    assert "Join Lisbon Tees" in page.text
    assert "ana@example.com" in page.text
    assert "as an <strong>agent</strong>" in page.text
    joined = await guest.submit(
        path, path, {"name": "Ana Lima", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert (joined.status_code, joined.headers["location"]) == (303, "/login?done=joined")
    async with site.engine.begin() as conn:
        found = await accounts.user_by_email(conn, "ana@example.com")
    assert found is not None
    assert (found[0].name, found[0].role) == ("Ana Lima", Role.AGENT)

    # The link works once.
    again = await site.browser().get(path)
    assert again.status_code == 404
    assert "This invitation cannot be used" in again.text
    reuse = await guest.post(
        path,
        {
            "csrf_token": guest.cookie("frontdesk_form") or "",
            "name": "Eve",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert reuse.status_code == 404

    agent = await site.signed_in("ana@example.com")
    assert "Ana Lima" in (await agent.get("/")).text


async def test_an_invitation_link_expires_after_seven_days(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    path = (await invite(site, "morgan@example.com", "ana@example.com")).removeprefix(ORIGIN)
    site.clock.advance(7 * 24 * 3600 - 60)
    assert (await site.browser().get(path)).status_code == 200
    site.clock.advance(120)
    assert (await site.browser().get(path)).status_code == 404


@pytest.mark.parametrize(
    "token", ["x", "a" * 500, "..%2F..%2Fteam", "%00", "not a token at all, really"]
)
async def test_a_made_up_invitation_link_is_not_found(site: Site, token: str) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    answer = await site.browser().get(f"/invitations/{token}")
    assert answer.status_code == 404


async def test_a_revoked_invitation_stops_working(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    owner = await site.signed_in("morgan@example.com")
    made = await owner.submit(
        "/team", "/team/invitations", {"email": "ana@example.com", "role": "agent"}
    )
    path = invitation_link(made.text).removeprefix(ORIGIN)
    team = await owner.get("/team")
    assert "ana@example.com" in team.text
    [invitation_id] = re.findall(r'action="/team/invitations/(\d+)/revoke"', team.text)
    revoked = await owner.post(
        f"/team/invitations/{invitation_id}/revoke", {"csrf_token": csrf_of(team.text)}
    )
    assert revoked.headers["location"] == "/team?done=revoked"
    assert (await site.browser().get(path)).status_code == 404


async def test_a_teammate_cannot_be_invited_again(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Lisbon Tees", "ana@example.com", Role.AGENT)
    owner = await site.signed_in("morgan@example.com")
    answer = await owner.submit(
        "/team", "/team/invitations", {"email": "ANA@example.com", "role": "agent"}
    )
    assert answer.status_code == 400
    assert field_error(answer.text, "email") == "This address is already in the team."


async def test_an_address_of_another_workspace_is_not_revealed_to_the_inviter(
    site: Site,
) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Porto Socks", "eve@example.com")
    link = await invite(site, "morgan@example.com", "eve@example.com")
    # The inviter learns nothing; the person who holds the address is told, on the link.
    guest = site.browser()
    path = link.removeprefix(ORIGIN)
    answer = await guest.submit(
        path, path, {"name": "Eve", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert answer.status_code == 400
    assert (
        field_error(answer.text, "name") == "This address already has an account: log in instead."
    )
    async with site.engine.begin() as conn:
        found = await accounts.user_by_email(conn, "eve@example.com")
    assert found is not None
    assert found[0].name == "Eve"


async def test_an_agent_sees_the_team_but_changes_nothing(site: Site) -> None:
    owner = await site.member("Lisbon Tees", "morgan@example.com")
    await site.member("Lisbon Tees", "ana@example.com", Role.AGENT)
    agent = await site.signed_in("ana@example.com")
    team = await agent.get("/team")
    assert team.status_code == 200
    assert "Morgan" in team.text
    assert "Invite someone" not in team.text
    assert "/remove" not in team.text
    token = csrf_of(team.text)
    for path, data in [
        ("/team/invitations", {"email": "x@example.com", "role": "agent"}),
        (f"/team/members/{owner.id}/role", {"role": "agent"}),
        (f"/team/members/{owner.id}/remove", {}),
        ("/settings/meta", {"source": "operator"}),
    ]:
        answer = await agent.post(path, {"csrf_token": token, **data})
        assert answer.status_code == 403, path
    assert (await agent.get("/settings/meta")).status_code == 403
    assert 'href="/settings/meta"' not in team.text


async def test_an_admin_manages_agents_but_not_owners_or_admins(site: Site) -> None:
    owner = await site.member("Lisbon Tees", "morgan@example.com")
    admin = await site.member("Lisbon Tees", "ana@example.com", Role.ADMIN)
    other_admin = await site.member("Lisbon Tees", "bea@example.com", Role.ADMIN)
    agent = await site.member("Lisbon Tees", "zoe@example.com", Role.AGENT)
    browser = await site.signed_in("ana@example.com")
    team = await browser.get("/team")
    token = csrf_of(team.text)
    assert f"/team/members/{agent.id}/role" in team.text
    assert f"/team/members/{owner.id}/role" not in team.text
    assert '<option value="owner"' not in team.text

    for member in (owner, other_admin, admin):
        refused = await browser.post(f"/team/members/{member.id}/remove", {"csrf_token": token})
        assert refused.status_code == 403
    promote = await browser.post(
        f"/team/members/{agent.id}/role", {"csrf_token": token, "role": "owner"}
    )
    assert promote.status_code == 403
    no_owner = await browser.post(
        "/team/invitations", {"csrf_token": token, "email": "x@example.com", "role": "owner"}
    )
    assert no_owner.status_code == 400
    assert field_error(no_owner.text, "role") is None  # the role select shows its own error
    assert "Choose one of the options." in no_owner.text

    made_admin = await browser.post(
        f"/team/members/{agent.id}/role", {"csrf_token": token, "role": "admin"}
    )
    assert made_admin.headers["location"] == "/team?done=role"
    async with site.engine.begin() as conn:
        changed = await accounts.user_by_id(conn, agent.id)
    assert changed is not None
    assert changed.role is Role.ADMIN


async def test_an_owner_removes_someone_who_is_signed_out_at_once(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    agent = await site.member("Lisbon Tees", "zoe@example.com", Role.AGENT)
    zoe = await site.signed_in("zoe@example.com")
    owner = await site.signed_in("morgan@example.com")
    team = await owner.get("/team")
    removed = await owner.post(
        f"/team/members/{agent.id}/remove", {"csrf_token": csrf_of(team.text)}
    )
    assert removed.headers["location"] == "/team?done=removed"
    assert (await zoe.get("/")).headers["location"] == "/login"
    assert "zoe@example.com" not in (await owner.get("/team")).text


async def test_nobody_changes_their_own_role_or_removes_themselves(site: Site) -> None:
    owner = await site.member("Lisbon Tees", "morgan@example.com")
    browser = await site.signed_in("morgan@example.com")
    token = csrf_of((await browser.get("/team")).text)
    demote = await browser.post(
        f"/team/members/{owner.id}/role", {"csrf_token": token, "role": "agent"}
    )
    leave = await browser.post(f"/team/members/{owner.id}/remove", {"csrf_token": token})
    assert demote.status_code == leave.status_code == 403
    async with site.engine.begin() as conn:
        assert await accounts.count_owners(conn, owner.workspace_id) == 1


async def test_changing_the_password_signs_out_the_other_sessions(site: Site) -> None:
    await site.member("Lisbon Tees", "morgan@example.com")
    elsewhere = await site.signed_in("morgan@example.com")
    here = await site.signed_in("morgan@example.com")
    wrong = await here.submit(
        "/account",
        "/account/password",
        {"current": "not it at all", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert field_error(wrong.text, "current") == "This is not your current password."
    changed = await here.submit(
        "/account",
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.headers["location"] == "/account?done=password"
    assert (await here.get("/account")).status_code == 200
    assert (await elsewhere.get("/account")).headers["location"] == "/login?next=/account"
    fresh = site.browser()
    old = await fresh.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": PASSWORD}
    )
    assert old.status_code == 400
    new = await fresh.submit(
        "/login", "/login", {"email": "morgan@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 303
