"""Accounts repositories on the real database: workspaces adopt unclaimed channels once,
sessions expire and are stored only as digests, invitations are single-use, failed logins are
kept, Meta app secrets are encrypted at rest."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.core.people import Role
from frontdesk.store import accounts, meta_apps
from frontdesk.store import conversations as store
from frontdesk.store.passwords import PasswordRefused, Passwords
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, invitations, sessions
from frontdesk.store.tables import meta_apps as meta_apps_table

pytestmark = pytest.mark.db

NOW = 1_795_000_000.0
HOUR = 3600.0
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_the_first_workspace_adopts_unclaimed_channels_and_later_ones_do_not(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await store.add_channel(conn, "111", "Lisbon Tees", NOW)
        first = await accounts.create_workspace(conn, "Lisbon Tees", NOW)
        await store.add_channel(conn, "222", "Porto Socks", NOW)
        second = await accounts.create_workspace(conn, "Porto Socks", NOW)
        rows = (await conn.execute(select(channels.c.page_id, channels.c.workspace_id))).all()
    assert sorted(tuple(r) for r in rows) == [("111", first.id), ("222", None)]
    assert second.id != first.id


async def test_names_and_addresses_are_unique(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "Lisbon Tees", NOW)
        with pytest.raises(accounts.WorkspaceNameTaken):
            await accounts.create_workspace(conn, "Lisbon Tees", NOW)
        await accounts.add_user(conn, ws.id, "ana@example.com", "Ana", Role.OWNER, "h", NOW)
        with pytest.raises(accounts.EmailTaken):
            await accounts.add_user(conn, ws.id, "ana@example.com", "Ana 2", Role.AGENT, "h", NOW)
        found = await accounts.user_by_email(conn, "ana@example.com")
    assert found is not None
    assert (found[0].name, found[0].role, found[1]) == ("Ana", Role.OWNER, "h")


async def test_members_are_listed_owners_first_and_only_of_their_workspace(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        other = await accounts.create_workspace(conn, "B", NOW)
        await accounts.add_user(conn, ws.id, "zoe@a.test", "Zoe", Role.AGENT, "h", NOW)
        await accounts.add_user(conn, ws.id, "bea@a.test", "Bea", Role.OWNER, "h", NOW)
        await accounts.add_user(conn, other.id, "eve@b.test", "Eve", Role.OWNER, "h", NOW)
        people = await accounts.members(conn, ws.id)
        assert await accounts.count_owners(conn, ws.id) == 1
    assert [p.name for p in people] == ["Bea", "Zoe"]


async def test_a_session_is_stored_as_a_digest_and_expires_when_idle_or_old(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        user = await accounts.add_user(conn, ws.id, "a@a.test", "A", Role.OWNER, "h", NOW)
        token = await accounts.start_session(conn, user.id, NOW)
        [stored] = (await conn.execute(select(sessions.c.id))).scalars().all()
        assert stored == accounts.digest(token)
        assert token not in stored
        life = {"idle": 2 * HOUR, "lifetime": 10 * HOUR}
        live = await accounts.session_for(conn, token, NOW + HOUR, **life)
        assert live is not None
        assert live.user == user
        assert live.seen_at == NOW + HOUR
        # Seen an hour ago: still live an hour and a half later, because it was touched.
        assert await accounts.session_for(conn, token, NOW + 2.5 * HOUR, **life) is not None
        assert await accounts.session_for(conn, token, NOW + 5 * HOUR, **life) is None
        # Expired sessions are deleted on sight, so the token opens nothing afterwards either.
        assert await accounts.session_for(conn, token, NOW + 5 * HOUR, **life) is None
        assert (await conn.execute(select(sessions.c.id))).first() is None

        old = await accounts.start_session(conn, user.id, NOW)
        for hours in range(1, 10):  # active all along, yet ended at ten hours
            assert await accounts.session_for(conn, old, NOW + hours * HOUR, **life) is not None
        assert await accounts.session_for(conn, old, NOW + 10 * HOUR, **life) is None
        assert await accounts.session_for(conn, "not-a-token", NOW, **life) is None


async def test_ending_every_session_of_a_user_keeps_the_one_asked(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        user = await accounts.add_user(conn, ws.id, "a@a.test", "A", Role.OWNER, "h", NOW)
        kept = await accounts.start_session(conn, user.id, NOW)
        gone = await accounts.start_session(conn, user.id, NOW)
        assert await accounts.end_sessions_of(conn, user.id, keep=accounts.digest(kept)) == 1
        life = {"idle": HOUR, "lifetime": HOUR}
        assert await accounts.session_for(conn, kept, NOW, **life) is not None
        assert await accounts.session_for(conn, gone, NOW, **life) is None


async def test_an_invitation_works_once_and_not_after_it_expires(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        owner = await accounts.add_user(conn, ws.id, "o@a.test", "O", Role.OWNER, "h", NOW)
        invitation, token = await accounts.invite(
            conn, ws.id, "ag@a.test", Role.AGENT, owner.id, NOW, lifetime=HOUR
        )
        [stored] = (await conn.execute(select(invitations.c.token_hash))).scalars().all()
        assert stored == accounts.digest(token)
        found = await accounts.pending_invitation(conn, token, NOW + 10)
        assert found == invitation
        assert await accounts.pending_invitation(conn, token, NOW + HOUR) is None  # expired
        assert await accounts.use_invitation(conn, invitation.id, NOW + 20) is True
        assert await accounts.use_invitation(conn, invitation.id, NOW + 30) is False
        assert await accounts.pending_invitation(conn, token, NOW + 40) is None
        assert await accounts.pending_invitations(conn, ws.id, NOW + 40) == []


async def test_inviting_the_same_address_again_replaces_the_pending_link(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        owner = await accounts.add_user(conn, ws.id, "o@a.test", "O", Role.OWNER, "h", NOW)
        _, first = await accounts.invite(
            conn, ws.id, "x@a.test", Role.AGENT, owner.id, NOW, lifetime=HOUR
        )
        again, second = await accounts.invite(
            conn, ws.id, "x@a.test", Role.ADMIN, owner.id, NOW + 1, lifetime=HOUR
        )
        assert await accounts.pending_invitation(conn, first, NOW + 2) is None
        assert await accounts.pending_invitation(conn, second, NOW + 2) == again
        assert [i.role for i in await accounts.pending_invitations(conn, ws.id, NOW + 2)] == [
            Role.ADMIN
        ]


async def test_removing_a_user_ends_their_sessions_and_keeps_their_invitations(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        admin = await accounts.add_user(conn, ws.id, "ad@a.test", "Ad", Role.ADMIN, "h", NOW)
        token = await accounts.start_session(conn, admin.id, NOW)
        invitation, _ = await accounts.invite(
            conn, ws.id, "x@a.test", Role.AGENT, admin.id, NOW, lifetime=HOUR
        )
        await accounts.remove_user(conn, admin.id)
        assert await accounts.user_by_id(conn, admin.id) is None
        assert await accounts.session_for(conn, token, NOW, idle=HOUR, lifetime=HOUR) is None
        kept = await accounts.invitation_by_id(conn, invitation.id)
        assert kept is not None
        assert kept.invited_by is None


async def test_a_removed_persons_id_is_never_given_to_someone_else(engine: AsyncEngine) -> None:
    """Their id stays in the conversations they held, the messages and notes they wrote: on
    SQLite, the newest person's id would otherwise go to the next one added."""
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        owner = await accounts.add_user(conn, ws.id, "ow@a.test", "Ow", Role.OWNER, "h", NOW)
        leaving = await accounts.add_user(conn, ws.id, "ana@a.test", "Ana", Role.AGENT, "h", NOW)
        await accounts.remove_user(conn, leaving.id)
        invitation, _ = await accounts.invite(
            conn, ws.id, "bo@a.test", Role.AGENT, owner.id, NOW, lifetime=HOUR
        )
        await accounts.revoke_invitation(conn, invitation.id)
        newcomer = await accounts.add_user(conn, ws.id, "bo@a.test", "Bo", Role.AGENT, "h", NOW)
        again, _ = await accounts.invite(
            conn, ws.id, "cy@a.test", Role.AGENT, owner.id, NOW, lifetime=HOUR
        )
    assert newcomer.id > leaving.id
    assert again.id > invitation.id


async def test_login_failures_are_counted_per_account_and_per_address(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        for n in range(3):
            await accounts.record_login_failure(conn, "a@a.test", "10.0.0.1", NOW + n)
        await accounts.record_login_failure(conn, "b@a.test", "10.0.0.1", NOW + 3)
        await accounts.record_login_failure(conn, "a@a.test", "10.0.0.2", NOW + 4)
        by_account, by_ip = await accounts.login_failure_times(
            conn, "a@a.test", "10.0.0.1", NOW, limit=10
        )
        assert by_account == [NOW + 4, NOW + 2, NOW + 1]  # newer than `since` only
        assert by_ip == [NOW + 3, NOW + 2, NOW + 1]
        await accounts.clear_login_failures(conn, "a@a.test")
        by_account, by_ip = await accounts.login_failure_times(
            conn, "a@a.test", "10.0.0.1", NOW - 1, limit=10
        )
        assert (by_account, by_ip) == ([], [NOW + 3])
        await accounts.prune_login_failures(conn, NOW + 3)
        assert await accounts.login_failure_times(conn, "b@a.test", "x", 0, limit=10) == ([], [])


async def test_a_workspace_app_secret_is_encrypted_kept_and_never_returned(
    engine: AsyncEngine,
) -> None:
    keys = Secrets([Fernet.generate_key().decode()])
    operator = meta_apps.MetaApp("1", "operator-secret", "op-verify", "https://graph.test", "v25.0")
    async with engine.begin() as conn:
        ws = await accounts.create_workspace(conn, "A", NOW)
        assert await meta_apps.own_app(conn, keys, ws.id) is None
        assert await meta_apps.app_for_workspace(conn, keys, ws.id, operator) == operator
        await meta_apps.save_own_app(
            conn,
            keys,
            ws.id,
            NOW,
            in_use=True,
            app_id="424242",
            app_secret="our-own-secret-123",
            graph_url="https://graph.facebook.com",
            graph_version="v25.0",
        )
        own = await meta_apps.own_app(conn, keys, ws.id)
        assert own is not None
        assert own.secret_is_set
        assert own.in_use
        assert len(own.verify_token) >= 24
        assert "our-own-secret-123" not in repr(own)
        [row] = (await conn.execute(select(meta_apps_table))).all()
        assert b"our-own-secret-123" not in row.app_secret
        assert own.verify_token.encode() not in row.verify_token
        # Saved again without a secret: the stored one stays, and so does the verify token.
        await meta_apps.save_own_app(
            conn,
            keys,
            ws.id,
            NOW + 1,
            in_use=True,
            app_id="434343",
            app_secret=None,
            graph_url="https://graph.facebook.com",
            graph_version="v24.0",
        )
        used = await meta_apps.app_for_workspace(conn, keys, ws.id, operator)
        assert used == meta_apps.MetaApp(
            "434343", "our-own-secret-123", own.verify_token, "https://graph.facebook.com", "v24.0"
        )
        token = await meta_apps.regenerate_verify_token(conn, keys, ws.id, NOW + 2)
        assert token is not None
        assert token != own.verify_token
        assert (
            await meta_apps.app_for_workspace(conn, keys, ws.id, operator)
        ).verify_token == token
        # Switched off: the operator's app serves again, and the workspace's own is kept.
        await meta_apps.save_own_app(
            conn,
            keys,
            ws.id,
            NOW + 3,
            in_use=False,
            app_id="434343",
            app_secret=None,
            graph_url="https://graph.facebook.com",
            graph_version="v24.0",
        )
        assert await meta_apps.app_for_workspace(conn, keys, ws.id, operator) == operator
        kept = await meta_apps.own_app(conn, keys, ws.id)
        assert kept is not None
        assert kept.secret_is_set
        assert kept.verify_token == token
        other = await accounts.create_workspace(conn, "B", NOW)
        assert await meta_apps.regenerate_verify_token(conn, keys, other.id, NOW) is None


# --- passwords (no database) ------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short", "x" * 1001, "ten chars\x00"])
def test_a_password_outside_the_rule_is_refused(password: str) -> None:
    with pytest.raises(PasswordRefused):
        Passwords(CHEAP).hash(password)


def test_a_hash_is_argon2id_and_checks_only_its_password(caplog: pytest.LogCaptureFixture) -> None:
    passwords = Passwords(CHEAP)
    hashed = passwords.hash("correct horse battery staple ✓")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, "correct horse battery staple ✓")
    assert not passwords.verify(hashed, "correct horse battery staple")
    assert not passwords.verify(None, "correct horse battery staple ✓")
    assert not passwords.verify("not a hash", "anything at all")
    assert "a stored password hash cannot be read" in caplog.text  # said where a person sees it
    assert not passwords.verify(hashed, "x" * 5000)


def test_a_hash_made_with_weaker_parameters_asks_to_be_redone() -> None:
    weak = Passwords(CHEAP).hash("correct horse battery staple")
    assert Passwords().needs_rehash(weak)
    assert not Passwords(CHEAP).needs_rehash(weak)
