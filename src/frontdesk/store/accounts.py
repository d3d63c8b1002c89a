"""Workspaces, their people, login sessions, invitations and failed logins. Callers own the
transaction; nothing here commits.

Session cookies and invitation tokens are random values handed out once; only their SHA-256 is
stored, so a copy of the database opens no session and accepts no invitation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.people import Role

from .tables import channels, invitations, login_failures, sessions, users, workspaces

SESSION_TOUCH_SECONDS = 60.0
"""A session's last-seen time is written at most this often: one write a minute, not one per
page, and idle expiry is still exact to the minute."""


def digest(token: str) -> str:
    """What is stored for a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class EmailTaken(Exception):  # noqa: N818 - reads as the condition it reports
    """The address already belongs to someone (of any workspace)."""


class WorkspaceNameTaken(Exception):  # noqa: N818 - reads as the condition it reports
    """Another workspace has this name."""


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str


@dataclass(frozen=True)
class User:
    id: int
    workspace_id: int
    email: str
    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose it is and the token its forms must carry."""

    id: str
    """The stored digest of the cookie, not the cookie."""
    user: User
    csrf_token: str
    created_at: float
    seen_at: float


@dataclass(frozen=True)
class Invitation:
    id: int
    workspace_id: int
    email: str
    role: Role
    invited_by: int | None
    created_at: float
    expires_at: float
    accepted_at: float | None


_USER_COLUMNS = (
    users.c.id,
    users.c.workspace_id,
    users.c.email,
    users.c.name,
    users.c.role,
)


def _user(row: Any) -> User:
    return User(
        int(row.id),
        int(row.workspace_id),
        str(row.email),
        str(row.name),
        Role(row.role),
    )


# --- workspaces -------------------------------------------------------------------------------


async def lock_for_first_run(conn: AsyncConnection) -> None:
    """Hold back other first runs until this transaction ends, so two people submitting the
    first-run form at once cannot both become the first owner. SQLite needs nothing: every
    transaction there takes the write lock at BEGIN."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))


async def count_users(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def workspace(conn: AsyncConnection, workspace_id: int) -> Workspace | None:
    row = (
        await conn.execute(select(workspaces.c.name).where(workspaces.c.id == workspace_id))
    ).first()
    return None if row is None else Workspace(workspace_id, str(row.name))


async def workspace_named(conn: AsyncConnection, name: str) -> Workspace | None:
    row = (await conn.execute(select(workspaces.c.id).where(workspaces.c.name == name))).first()
    return None if row is None else Workspace(int(row.id), name)


async def create_workspace(conn: AsyncConnection, name: str, now: float) -> Workspace:
    """A new workspace; raises WorkspaceNameTaken. The first workspace of all adopts the
    channels no workspace has claimed yet (connected before accounts existed, or by
    `frontdesk dev` before the first run)."""
    if await workspace_named(conn, name) is not None:
        raise WorkspaceNameTaken(name)
    first = (await conn.execute(select(func.count()).select_from(workspaces))).scalar_one() == 0
    result = await conn.execute(
        insert(workspaces).values(name=name, created_at=now).returning(workspaces.c.id)
    )
    created = Workspace(int(result.scalar_one()), name)
    if first:
        await conn.execute(
            update(channels)
            .where(channels.c.workspace_id.is_(None))
            .values(workspace_id=created.id, updated_at=now)
        )
    return created


# --- people -----------------------------------------------------------------------------------


async def add_user(
    conn: AsyncConnection,
    workspace_id: int,
    email: str,
    name: str,
    role: Role,
    password_hash: str,
    now: float,
) -> User:
    """Raises EmailTaken; `email` is already normalised (core.people.normal_email)."""
    if await user_by_email(conn, email) is not None:
        raise EmailTaken(email)
    result = await conn.execute(
        insert(users)
        .values(
            workspace_id=workspace_id,
            email=email,
            name=name,
            role=role.value,
            password_hash=password_hash,
            created_at=now,
        )
        .returning(users.c.id)
    )
    return User(int(result.scalar_one()), workspace_id, email, name, role)


async def user_by_email(conn: AsyncConnection, email: str) -> tuple[User, str] | None:
    """The user and their password hash."""
    row = (
        await conn.execute(
            select(*_USER_COLUMNS, users.c.password_hash).where(users.c.email == email)
        )
    ).first()
    return None if row is None else (_user(row), str(row.password_hash))


async def user_by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))).first()
    return None if row is None else _user(row)


async def password_hash(conn: AsyncConnection, user_id: int) -> str | None:
    row = (await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))).first()
    return None if row is None else str(row.password_hash)


async def members(conn: AsyncConnection, workspace_id: int) -> list[User]:
    """The workspace's people, owners first, then by name."""
    rows = await conn.execute(
        select(*_USER_COLUMNS).where(users.c.workspace_id == workspace_id).order_by(users.c.id)
    )
    people = [_user(row) for row in rows]
    return sorted(people, key=lambda u: (-u.role.rank, u.name.casefold(), u.id))


async def count_owners(conn: AsyncConnection, workspace_id: int) -> int:
    query = (
        select(func.count())
        .select_from(users)
        .where(users.c.workspace_id == workspace_id, users.c.role == Role.OWNER.value)
    )
    return int((await conn.execute(query)).scalar_one())


async def set_role(conn: AsyncConnection, user_id: int, role: Role) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role.value))


async def set_password_hash(conn: AsyncConnection, user_id: int, hashed: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hashed))


async def remove_user(conn: AsyncConnection, user_id: int) -> None:
    """Delete the person, their sessions, and their name on invitations they sent."""
    await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    await conn.execute(
        update(invitations).where(invitations.c.invited_by == user_id).values(invited_by=None)
    )
    await conn.execute(delete(users).where(users.c.id == user_id))


# --- sessions ---------------------------------------------------------------------------------


async def start_session(conn: AsyncConnection, user_id: int, now: float) -> str:
    """A new session for `user_id`; returns the cookie value (stored only as its digest)."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        insert(sessions).values(
            id=digest(token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            seen_at=now,
        )
    )
    return token


async def session_for(
    conn: AsyncConnection, token: str, now: float, *, idle: float, lifetime: float
) -> Session | None:
    """The live session the cookie `token` opens, or None. An expired one (idle for `idle`
    seconds, or older than `lifetime`) is deleted on sight; a live one is marked seen."""
    key = digest(token)
    row = (
        await conn.execute(
            select(
                sessions.c.csrf_token,
                sessions.c.created_at,
                sessions.c.seen_at,
                *_USER_COLUMNS,
            )
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id == key)
        )
    ).first()
    if row is None:
        return None
    if now - row.seen_at >= idle or now - row.created_at >= lifetime:
        await conn.execute(delete(sessions).where(sessions.c.id == key))
        return None
    seen_at = float(row.seen_at)
    if now - seen_at >= SESSION_TOUCH_SECONDS:
        await conn.execute(update(sessions).where(sessions.c.id == key).values(seen_at=now))
        seen_at = now
    return Session(key, _user(row), str(row.csrf_token), float(row.created_at), seen_at)


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id == digest(token)))


async def end_sessions_of(conn: AsyncConnection, user_id: int, *, keep: str | None = None) -> int:
    """End every session of `user_id` but the one whose digest is `keep`; returns how many."""
    query = delete(sessions).where(sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(sessions.c.id != keep)
    return int((await conn.execute(query)).rowcount)


async def prune_sessions(conn: AsyncConnection, now: float, *, idle: float, lifetime: float) -> int:
    """Delete every expired session (of anyone); returns how many."""
    query = delete(sessions).where(
        (sessions.c.seen_at <= now - idle) | (sessions.c.created_at <= now - lifetime)
    )
    return int((await conn.execute(query)).rowcount)


# --- invitations ------------------------------------------------------------------------------

_INVITATION_COLUMNS = (
    invitations.c.id,
    invitations.c.workspace_id,
    invitations.c.email,
    invitations.c.role,
    invitations.c.invited_by,
    invitations.c.created_at,
    invitations.c.expires_at,
    invitations.c.accepted_at,
)


def _invitation(r: Any) -> Invitation:
    return Invitation(
        int(r.id),
        int(r.workspace_id),
        str(r.email),
        Role(r.role),
        r.invited_by,
        float(r.created_at),
        float(r.expires_at),
        r.accepted_at,
    )


async def invite(
    conn: AsyncConnection,
    workspace_id: int,
    email: str,
    role: Role,
    invited_by: int,
    now: float,
    *,
    lifetime: float,
) -> tuple[Invitation, str]:
    """A pending invitation and the token of its link, which is not stored and cannot be shown
    again. Inviting the same address again replaces its pending invitation: one link works."""
    await conn.execute(
        delete(invitations).where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.email == email,
            invitations.c.accepted_at.is_(None),
        )
    )
    token = secrets.token_urlsafe(32)
    values = {
        "workspace_id": workspace_id,
        "email": email,
        "role": role.value,
        "token_hash": digest(token),
        "invited_by": invited_by,
        "created_at": now,
        "expires_at": now + lifetime,
    }
    result = await conn.execute(insert(invitations).values(**values).returning(invitations.c.id))
    invitation = Invitation(
        int(result.scalar_one()), workspace_id, email, role, invited_by, now, now + lifetime, None
    )
    return invitation, token


async def pending_invitation(conn: AsyncConnection, token: str, now: float) -> Invitation | None:
    """The invitation the link's token opens, while it is neither used nor expired."""
    row = (
        await conn.execute(
            select(*_INVITATION_COLUMNS).where(
                invitations.c.token_hash == digest(token),
                invitations.c.accepted_at.is_(None),
                invitations.c.expires_at > now,
            )
        )
    ).first()
    return None if row is None else _invitation(row)


async def invitation_by_id(conn: AsyncConnection, invitation_id: int) -> Invitation | None:
    row = (
        await conn.execute(select(*_INVITATION_COLUMNS).where(invitations.c.id == invitation_id))
    ).first()
    return None if row is None else _invitation(row)


async def pending_invitations(
    conn: AsyncConnection, workspace_id: int, now: float
) -> list[Invitation]:
    rows = await conn.execute(
        select(*_INVITATION_COLUMNS)
        .where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.expires_at > now,
        )
        .order_by(invitations.c.created_at, invitations.c.id)
    )
    return [_invitation(row) for row in rows]


async def revoke_invitation(conn: AsyncConnection, invitation_id: int) -> None:
    await conn.execute(delete(invitations).where(invitations.c.id == invitation_id))


async def use_invitation(conn: AsyncConnection, invitation_id: int, now: float) -> bool:
    """Mark the invitation used; False if it already was (or expired) meanwhile. The condition
    is in the UPDATE itself, so two tabs accepting the same link cannot both succeed."""
    result = await conn.execute(
        update(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.expires_at > now,
        )
        .values(accepted_at=now)
    )
    return bool(result.rowcount == 1)


# --- failed logins ----------------------------------------------------------------------------


async def record_login_failure(conn: AsyncConnection, account: str, ip: str, now: float) -> None:
    await conn.execute(insert(login_failures).values(account=account[:254], ip=ip[:64], at=now))


async def login_failure_times(
    conn: AsyncConnection, account: str, ip: str, since: float, *, limit: int
) -> tuple[list[float], list[float]]:
    """The newest failure times (at most `limit` each, newest first) since `since`: of the
    account, and of the address."""

    async def times(column: Column[str], value: str) -> list[float]:
        query = (
            select(login_failures.c.at)
            .where(column == value, login_failures.c.at > since)
            .order_by(login_failures.c.at.desc())
            .limit(limit)
        )
        return [float(at) for at in (await conn.execute(query)).scalars()]

    return await times(login_failures.c.account, account[:254]), await times(
        login_failures.c.ip, ip[:64]
    )


async def clear_login_failures(conn: AsyncConnection, account: str) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.account == account[:254]))


async def prune_login_failures(conn: AsyncConnection, before: float) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.at <= before))
