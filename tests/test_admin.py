"""`frontdesk admin create` and `frontdesk admin reset-password` as an operator runs them: real
subprocesses on a real, migrated database (SQLite, or PostgreSQL under `make test`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from frontdesk.core.people import Role
from frontdesk.store import accounts, conversations
from frontdesk.store.db import create_engine
from frontdesk.store.passwords import Passwords
from frontdesk.store.tables import channels
from tests.emulator.live import frontdesk

pytestmark = pytest.mark.db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "an entirely new passphrase"


def admin(
    database_url: str, tmp_path: Path, *args: str, stdin: str | None = PASSWORD + "\n"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        FRONTDESK_DATABASE_URL=database_url,
        FRONTDESK_DATA_DIR=str(tmp_path),
        FRONTDESK_SECRET_KEY=Fernet.generate_key().decode(),
    )
    return subprocess.run(
        [frontdesk(), "admin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=tmp_path,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def person(database_url: str, email: str) -> tuple[accounts.User, str] | None:
    async def look() -> tuple[accounts.User, str] | None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                return await accounts.user_by_email(conn, email)
        finally:
            await engine.dispose()

    return asyncio.run(look())


def test_create_makes_the_first_owner_who_adopts_the_waiting_channels(
    database_url: str, tmp_path: Path
) -> None:
    async def connected_before() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conversations.add_channel(conn, "104857600012345", "Lisbon Tees", 1.0)
        await engine.dispose()

    asyncio.run(connected_before())
    done = admin(
        database_url,
        tmp_path,
        "create",
        "--email",
        "Morgan@Example.com",
        "--workspace",
        "Lisbon Tees",
        "--name",
        "Morgan Reyes",
        "--password-stdin",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "frontdesk: Morgan Reyes <morgan@example.com> is now owner of the new workspace "
        "'Lisbon Tees'\n"
    )
    assert PASSWORD not in done.stdout + done.stderr
    found = person(database_url, "morgan@example.com")
    assert found is not None
    user, hashed = found
    assert user.role is Role.OWNER
    assert Passwords().verify(hashed, PASSWORD)

    async def owner_of_channel() -> int | None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            value = (await conn.execute(select(channels.c.workspace_id))).scalar_one()
        await engine.dispose()
        return value

    assert asyncio.run(owner_of_channel()) == user.workspace_id

    # A second person joins the same workspace with a role; the address must be new.
    agent = admin(
        database_url,
        tmp_path,
        "create",
        "--email",
        "ana@example.com",
        "--workspace",
        "Lisbon Tees",
        "--role",
        "agent",
        "--password-stdin",
    )
    assert agent.returncode == 0, agent.stderr
    assert agent.stdout == "frontdesk: ana <ana@example.com> is now agent of 'Lisbon Tees'\n"
    taken = admin(
        database_url,
        tmp_path,
        "create",
        "--email",
        "ANA@example.com",
        "--workspace",
        "Lisbon Tees",
        "--password-stdin",
    )
    assert taken.returncode == 1
    assert taken.stderr == "frontdesk admin create: ana@example.com already has an account\n"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--email", "nope", "--workspace", "W", "--password-stdin"],
            PASSWORD + "\n",
            "'nope' is not an email address",
        ),
        (
            ["--email", "a@b.io", "--workspace", "W", "--password-stdin"],
            "short\n",
            "password refused: Use at least 10 characters.",
        ),
        (
            ["--email", "a@b.io", "--workspace", "W", "--role", "agent", "--password-stdin"],
            PASSWORD + "\n",
            "there is no workspace 'W': a new workspace starts with its owner (--role owner)",
        ),
        (
            ["--email", "a@b.io", "--workspace", "W"],
            None,
            "no terminal to type the password in: pass it with --password-stdin",
        ),
        (
            ["--email", "a@b.io", "--workspace", "<b>\x07</b>", "--password-stdin"],
            PASSWORD + "\n",
            "workspace refused: The name contains a character that cannot be shown.",
        ),
    ],
)
def test_create_refuses_what_it_cannot_do_and_says_why(
    database_url: str, tmp_path: Path, args: list[str], stdin: str | None, message: str
) -> None:
    done = admin(database_url, tmp_path, "create", *args, stdin=stdin)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"frontdesk admin create: {message}\n"
    assert person(database_url, "a@b.io") is None


def test_reset_password_sets_it_signs_out_everywhere_and_lifts_the_login_wait(
    database_url: str, tmp_path: Path
) -> None:
    async def prepare() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            ws = await accounts.create_workspace(conn, "Lisbon Tees", 1.0)
            user = await accounts.add_user(
                conn,
                ws.id,
                "morgan@example.com",
                "Morgan",
                Role.OWNER,
                Passwords().hash(PASSWORD),
                1.0,
            )
            for _ in range(2):
                await accounts.start_session(conn, user.id, 1.0)
            for n in range(5):
                await accounts.record_login_failure(conn, "morgan@example.com", "10.0.0.1", 2.0 + n)
        await engine.dispose()

    asyncio.run(prepare())
    done = admin(
        database_url,
        tmp_path,
        "reset-password",
        "--email",
        "morgan@example.com",
        "--password-stdin",
        stdin=NEW_PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "frontdesk: the password of morgan@example.com was reset; 2 session(s) signed out\n"
    )
    found = person(database_url, "morgan@example.com")
    assert found is not None
    assert Passwords().verify(found[1], NEW_PASSWORD)
    assert not Passwords().verify(found[1], PASSWORD)

    async def failures() -> tuple[list[float], list[float]]:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            got = await accounts.login_failure_times(conn, "morgan@example.com", "x", 0, limit=10)
        await engine.dispose()
        return got

    assert asyncio.run(failures()) == ([], [])

    unknown = admin(
        database_url, tmp_path, "reset-password", "--email", "who@example.com", "--password-stdin"
    )
    assert unknown.returncode == 1
    assert (
        unknown.stderr
        == "frontdesk admin reset-password: no account has the address who@example.com\n"
    )


def test_admin_on_a_database_that_was_never_migrated_says_what_to_do(tmp_path: Path) -> None:
    done = admin(
        f"sqlite:///{tmp_path}/empty.db",
        tmp_path,
        "reset-password",
        "--email",
        "morgan@example.com",
        "--password-stdin",
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "frontdesk admin reset-password: the database is not ready (run `frontdesk migrate` first)"
    )
    assert "Traceback" not in done.stderr
