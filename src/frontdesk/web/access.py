"""Who may reach what: every read and write of a workspace's things goes through an `access_*`.

Each function takes the signed-in user and an id from the request, and returns the thing only
when it belongs to the user's workspace (and the user's role may do what is asked). Anything
else is `NotFound`, whether it belongs to another workspace or does not exist at all: the answer
must not tell one from the other, or ids could be probed across tenants. A thing of the user's
own workspace that their role may not change is `Forbidden`.

Views never query a workspace's things by a bare id; they call one of these. The test harness
in tests/web/console/test_isolation.py walks every console route as a user of another
workspace and expects 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.people import Role, may_manage
from frontdesk.store import accounts, canned, hooks, logins
from frontdesk.store import channels as channel_store
from frontdesk.store.accounts import Invitation, User
from frontdesk.store.canned import Canned
from frontdesk.store.channels import ChannelSummary
from frontdesk.store.hooks import Hook
from frontdesk.store.logins import Login
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, conversations


class AccessDenied(Exception):  # noqa: N818 - the two below are the conditions
    """The request may not reach what it names."""


class NotFound(AccessDenied):
    """Nothing of that id in the user's workspace (another's, or none): HTTP 404."""


class Forbidden(AccessDenied):
    """It is the workspace's, but the user's role may not do this: HTTP 403."""


def require_manager(user: User) -> None:
    """Owners and admins manage the workspace (channels, the Meta app, the team)."""
    if not user.role.manages_workspace:
        raise Forbidden("only the workspace's owners and admins may do this")


async def access_channels(conn: AsyncConnection, user: User) -> list[ChannelSummary]:
    return await channel_store.of_workspace(conn, user.workspace_id)


async def access_channel(
    conn: AsyncConnection, user: User, channel_id: int, *, manage: bool = False
) -> ChannelSummary:
    """The channel, if the user's workspace has it; `manage` also asks for an owner or admin."""
    channel = await channel_store.in_workspace(conn, user.workspace_id, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id}")
    if manage:
        require_manager(user)
    return channel


@dataclass(frozen=True)
class ConversationRef:
    id: int
    channel_id: int


async def access_conversation(
    conn: AsyncConnection, user: User, conversation_id: int
) -> ConversationRef:
    """The conversation, if it is on a channel of the user's workspace (any role may read it)."""
    row = (
        await conn.execute(
            select(conversations.c.id, conversations.c.channel_id)
            .join(channels, channels.c.id == conversations.c.channel_id)
            .where(
                conversations.c.id == conversation_id,
                channels.c.workspace_id == user.workspace_id,
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id}")
    return ConversationRef(int(row.id), int(row.channel_id))


async def access_member(
    conn: AsyncConnection, user: User, member_id: int, *, manage: bool = False
) -> User:
    """A person of the user's workspace; `manage` asks that the user may change or remove them
    (core.people.may_manage), and nobody manages themselves here: that is the account page."""
    member = await accounts.user_by_id(conn, member_id)
    if member is None or member.workspace_id != user.workspace_id:
        raise NotFound(f"member {member_id}")
    if manage:
        if member.id == user.id:
            raise Forbidden("you cannot change your own role or remove yourself")
        if not may_manage(user.role, member.role):
            raise Forbidden(f"an {user.role} cannot change an {member.role}")
    return member


async def access_invitation(conn: AsyncConnection, user: User, invitation_id: int) -> Invitation:
    """A pending invitation of the user's workspace, for an owner or admin to revoke."""
    invitation = await accounts.invitation_by_id(conn, invitation_id)
    if invitation is None or invitation.workspace_id != user.workspace_id:
        raise NotFound(f"invitation {invitation_id}")
    require_manager(user)
    if invitation.role is Role.OWNER and user.role is not Role.OWNER:
        raise Forbidden("only an owner may revoke an owner's invitation")
    return invitation


def access_workspace_settings(user: User) -> int:
    """The workspace whose settings (the Meta app) the user may change: their own, if they
    manage it."""
    require_manager(user)
    return user.workspace_id


async def access_login(conn: AsyncConnection, user: User, login_id: int) -> Login:
    """A Facebook Login round trip of Manage Pages: only its own person's (it holds their
    Facebook token), and only while that person manages the workspace."""
    login = await logins.by_id(conn, login_id)
    if login is None or login.workspace_id != user.workspace_id or login.user_id != user.id:
        raise NotFound(f"login {login_id}")
    require_manager(user)
    return login


async def access_hook(conn: AsyncConnection, keys: Secrets, user: User, hook_id: int) -> Hook:
    """A manual setup (a channel's own webhook) of the workspace, for an owner or admin."""
    hook = await hooks.by_id(conn, keys, hook_id)
    if hook is None or hook.workspace_id != user.workspace_id:
        raise NotFound(f"manual setup {hook_id}")
    require_manager(user)
    return hook


async def access_canned(
    conn: AsyncConnection, user: User, canned_id: int, *, manage: bool = False
) -> Canned:
    """A canned response of the workspace; `manage` (changing, removing) asks for an owner or
    admin."""
    found = await canned.by_id(conn, canned_id)
    if found is None or found.workspace_id != user.workspace_id:
        raise NotFound(f"canned response {canned_id}")
    if manage:
        require_manager(user)
    return found
