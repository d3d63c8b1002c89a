"""The team: who is in the workspace with which role, invitations by link, role changes and
removals (core.people says who may do what to whom)."""

from __future__ import annotations

from starlette.responses import Response

from frontdesk.core.people import Role, grantable, may_manage
from frontdesk.store import accounts
from frontdesk.web.access import (
    Forbidden,
    access_invitation,
    access_member,
    require_manager,
)
from frontdesk.workers import agent as acting

from .context import Ask, Console
from .pages import redirect

NOTICES = {
    "revoked": "The invitation was revoked: its link no longer works.",
    "role": "The role was changed.",
    "removed": "They were removed from the workspace and signed out everywhere.",
}


async def _render(
    console: Console, ask: Ask, status: int = 200, invited: str | None = None
) -> Response:
    user = ask.user
    async with console.engine.begin() as conn:
        people = await accounts.members(conn, user.workspace_id)
        pending = (
            await accounts.pending_invitations(conn, user.workspace_id, console.clock())
            if user.role.manages_workspace
            else []
        )
    return ask.render(
        console,
        "team.html",
        status,
        nav="team",
        people=people,
        pending=pending,
        roles=grantable(user.role),
        manageable={p.id for p in people if p.id != user.id and may_manage(user.role, p.role)},
        invited=invited,
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def show(console: Console, ask: Ask) -> Response:
    return await _render(console, ask)


async def invite(console: Console, ask: Ask) -> Response:
    user = ask.user
    require_manager(user)
    form = ask.form
    email = form.email("email")
    role = form.choice("role", tuple(r.value for r in grantable(user.role)))
    if not form.ok:
        return await _render(console, ask, 400)
    now = console.clock()
    async with console.engine.begin() as conn:
        member = await accounts.user_by_email(conn, email)
        # Only this workspace's people are named: whether an address has an account in
        # another workspace is that workspace's business (the invitee learns it on the link).
        if member is not None and member[0].workspace_id == user.workspace_id:
            form.fail("email", "This address is already in the team.")
            token = None
        else:
            _, token = await accounts.invite(
                conn,
                user.workspace_id,
                email,
                Role(role),
                user.id,
                now,
                lifetime=console.config.invitation_lifetime,
            )
    if token is None:
        return await _render(console, ask, 400)
    link = f"{console.config.public_url}/invitations/{token}"
    # Shown now and never again: only the link's digest is stored.
    ask.form.values = {}
    return await _render(console, ask, 201, invited=link)


async def revoke(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        invitation = await access_invitation(
            conn, ask.user, ask.request.path_params["invitation_id"]
        )
        await accounts.revoke_invitation(conn, invitation.id)
    return redirect("/team?done=revoked")


async def change_role(console: Console, ask: Ask) -> Response:
    user = ask.user
    async with console.engine.begin() as conn:
        member = await access_member(conn, user, ask.request.path_params["member_id"], manage=True)
        role = ask.form.choice("role", tuple(r.value for r in grantable(user.role)))
        if not ask.form.ok:
            raise Forbidden(f"an {user.role} cannot give the role {role[:20]!r}")
        # Nobody manages themselves, and only owners manage owners: an owner always remains.
        await accounts.set_role(conn, member.id, Role(role))
    return redirect("/team?done=role")


async def remove(console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        member = await access_member(
            conn, ask.user, ask.request.path_params["member_id"], manage=True
        )
        await acting.take_over(
            conn,
            acting.Agent(member.id, member.name),
            acting.Agent(ask.user.id, ask.user.name),
            console.clock(),
        )
        await accounts.remove_user(conn, member.id)
    return redirect("/team?done=removed")
