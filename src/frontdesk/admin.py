"""`frontdesk admin`: the operator makes accounts and resets passwords from the shell.

For what the console cannot do for itself: the first owner when nobody can open the first-run
page, another workspace and its owner, a password nobody remembers.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from .core.people import (
    NAME_LIMIT,
    WORKSPACE_NAME_LIMIT,
    Role,
    name_problem,
    normal_email,
)
from .store import accounts
from .store.db import create_engine
from .store.passwords import Passwords, problem


class AdminError(Exception):
    """The command cannot be done; the message says why. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def read_password(from_stdin: bool, stdin: TextIO) -> str:
    """The new password: the first line of stdin (scripts), or typed twice at the terminal."""
    if from_stdin:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    elif stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("The same password again: ") != password:
            raise AdminError("the two passwords are not the same", 2)
    else:
        raise AdminError("no terminal to type the password in: pass it with --password-stdin", 2)
    reason = problem(password)
    if reason is not None:
        raise AdminError(f"password refused: {reason}", 2)
    return password


def _address(email: str) -> str:
    address = normal_email(email)
    if address is None:
        raise AdminError(f"{email!r} is not an email address", 2)
    return address


async def _run(database_url: str, work: Callable[[AsyncEngine], Awaitable[str]]) -> str:
    engine = create_engine(database_url)
    try:
        return await work(engine)
    except (OperationalError, ProgrammingError) as err:
        raise AdminError(
            f"the database is not ready (run `frontdesk migrate` first): {err.orig}"
        ) from err
    finally:
        await engine.dispose()


def create(
    database_url: str,
    *,
    email: str,
    workspace: str,
    role: Role,
    name: str | None,
    password: str,
    passwords: Passwords | None = None,
) -> str:
    """Add a person to `workspace` (made, with them as its owner, when it does not exist yet);
    returns what was done, in words."""
    address = _address(email)
    person = (name or address.split("@", 1)[0]).strip()
    for label, value, limit in (
        ("name", person, NAME_LIMIT),
        ("workspace", workspace.strip(), WORKSPACE_NAME_LIMIT),
    ):
        reason = name_problem(value, limit)
        if reason is not None:
            raise AdminError(f"{label} refused: {reason}", 2)
    hashed = (passwords or Passwords()).hash(password)

    async def work(engine: AsyncEngine) -> str:
        now = time.time()
        async with engine.begin() as conn:
            await accounts.lock_for_first_run(conn)
            found = await accounts.workspace_named(conn, workspace.strip())
            made = found is None
            if found is None:
                if role is not Role.OWNER:
                    raise AdminError(
                        f"there is no workspace {workspace.strip()!r}: a new workspace starts "
                        "with its owner (--role owner)",
                        2,
                    )
                found = await accounts.create_workspace(conn, workspace.strip(), now)
            try:
                await accounts.add_user(conn, found.id, address, person, role, hashed, now)
            except accounts.EmailTaken:
                raise AdminError(f"{address} already has an account") from None
        where = f"the new workspace {found.name!r}" if made else f"{found.name!r}"
        return f"{person} <{address}> is now {role.value} of {where}"

    return asyncio.run(_run(database_url, work))


def reset_password(
    database_url: str, *, email: str, password: str, passwords: Passwords | None = None
) -> str:
    """Set a new password, end every session of the account, and lift its login wait."""
    address = _address(email)
    hashed = (passwords or Passwords()).hash(password)

    async def work(engine: AsyncEngine) -> str:
        async with engine.begin() as conn:
            found = await accounts.user_by_email(conn, address)
            if found is None:
                raise AdminError(f"no account has the address {address}")
            user = found[0]
            await accounts.set_password_hash(conn, user.id, hashed)
            ended = await accounts.end_sessions_of(conn, user.id)
            await accounts.clear_login_failures(conn, address)
        return f"the password of {address} was reset; {ended} session(s) signed out"

    return asyncio.run(_run(database_url, work))
