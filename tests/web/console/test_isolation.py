"""Tenant isolation, route by route: a person of one workspace reaches nothing of another's.

Every console route is listed below, once. A route that names an id (AIMED) is called by a
person of workspace "Ours" with the id of workspace "Theirs"'s thing: the answer must be 404,
the same as for an id that exists nowhere, and Theirs's rows must be unchanged. A route that
names no id (OWN) acts on the caller's workspace by construction; it is called too, and must
show nothing of Theirs and change nothing of it. PUBLIC routes serve people without a session.

Adding a console route without listing it here fails `test_every_console_route_is_listed`:
later issues extend AIMED (channels, conversations, …) as they add routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from starlette.routing import Route

from frontdesk.core.people import Role
from frontdesk.store import accounts, canned, hooks, logins, meta_apps, notes, removal
from frontdesk.store import conversations as store
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import (
    bot_versions,
    bots,
    canned_responses,
    channel_hooks,
    channels,
    conversations,
    invitations,
    jobs,
    messages,
    page_logins,
    sessions,
    users,
    workspaces,
)
from frontdesk.store.tables import (
    handoff_settings as handoff_settings_table,
)
from frontdesk.store.tables import (
    meta_apps as meta_apps_table,
)
from frontdesk.store.tables import (
    notes as notes_table,
)
from frontdesk.workers import botprofile

from .conftest import Site, csrf_of

pytestmark = pytest.mark.db

NOT_CONSOLE = {
    ("GET", "/webhooks/messenger"),
    ("POST", "/webhooks/messenger"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/webhooks/messenger/{key}"),
    ("POST", "/webhooks/messenger/{key}"),
}


@dataclass(frozen=True)
class Theirs:
    """The other workspace's things, by id."""

    workspace_id: int
    owner_id: int
    agent_id: int
    channel_id: int
    invitation_id: int
    login_id: int = 999_995
    hook_id: int = 999_994
    conversation_id: int = 999_993
    message_id: int = 999_992
    note_id: int = 999_991
    canned_id: int = 999_990


MISSING = Theirs(0, 999_999, 999_998, 999_997, 999_996)
"""Ids that exist nowhere: the answer must not differ from Theirs's."""

Aim = Callable[[Theirs], tuple[str, dict[str, str]]]

BOT = "name: Ours\nrules: []\n"
INBOX = "/inbox/{conversation_id:int}"
AIMED: dict[tuple[str, str], Aim] = {
    ("GET", "/channels/{channel_id:int}"): lambda t: (f"/channels/{t.channel_id}", {}),
    ("GET", INBOX): lambda t: (f"/inbox/{t.conversation_id}", {}),
    ("GET", f"{INBOX}/parts"): lambda t: (f"/inbox/{t.conversation_id}/parts", {}),
    ("GET", f"{INBOX}/picture"): lambda t: (f"/inbox/{t.conversation_id}/picture", {}),
    ("GET", f"{INBOX}/export"): lambda t: (f"/inbox/{t.conversation_id}/export", {}),
    ("GET", INBOX + "/messages/{message_id:int}"): lambda t: (
        f"/inbox/{t.conversation_id}/messages/{t.message_id}",
        {},
    ),
    ("GET", INBOX + "/messages/{message_id:int}/files/{index:int}"): lambda t: (
        f"/inbox/{t.conversation_id}/messages/{t.message_id}/files/0",
        {},
    ),
    ("GET", INBOX + "/notes/{note_id:int}"): lambda t: (
        f"/inbox/{t.conversation_id}/notes/{t.note_id}",
        {},
    ),
    ("POST", f"{INBOX}/reply"): lambda t: (f"/inbox/{t.conversation_id}/reply", {"text": "Hi"}),
    ("POST", f"{INBOX}/note"): lambda t: (f"/inbox/{t.conversation_id}/note", {"text": "Hi"}),
    ("POST", f"{INBOX}/upload"): lambda t: (f"/inbox/{t.conversation_id}/upload", {}),
    ("POST", f"{INBOX}/typing"): lambda t: (f"/inbox/{t.conversation_id}/typing", {}),
    ("POST", f"{INBOX}/seen"): lambda t: (f"/inbox/{t.conversation_id}/seen", {}),
    ("POST", INBOX + "/messages/{message_id:int}/retry"): lambda t: (
        f"/inbox/{t.conversation_id}/messages/{t.message_id}/retry",
        {},
    ),
    ("GET", "/channels/{channel_id:int}/handoff"): lambda t: (
        f"/channels/{t.channel_id}/handoff",
        {},
    ),
    ("POST", "/channels/{channel_id:int}/handoff"): lambda t: (
        f"/channels/{t.channel_id}/handoff",
        {"keywords": "ours", "auto_reply": "Ours"},
    ),
    ("POST", f"{INBOX}/assign"): lambda t: (
        f"/inbox/{t.conversation_id}/assign",
        {"to": str(t.agent_id), "was": ""},
    ),
    ("POST", f"{INBOX}/hand-back"): lambda t: (f"/inbox/{t.conversation_id}/hand-back", {}),
    ("POST", f"{INBOX}/resolve"): lambda t: (f"/inbox/{t.conversation_id}/resolve", {}),
    ("POST", f"{INBOX}/reopen"): lambda t: (f"/inbox/{t.conversation_id}/reopen", {}),
    ("POST", f"{INBOX}/snooze"): lambda t: (
        f"/inbox/{t.conversation_id}/snooze",
        {"for": "1 hour"},
    ),
    ("POST", "/inbox/canned/{canned_id:int}/remove"): lambda t: (
        f"/inbox/canned/{t.canned_id}/remove",
        {},
    ),
    ("GET", "/channels/{channel_id:int}/live"): lambda t: (f"/channels/{t.channel_id}/live", {}),
    ("POST", "/channels/{channel_id:int}/test-message"): lambda t: (
        f"/channels/{t.channel_id}/test-message",
        {"conversation": "1", "text": "Hi"},
    ),
    ("GET", "/channels/{channel_id:int}/link"): lambda t: (f"/channels/{t.channel_id}/link", {}),
    ("POST", "/channels/{channel_id:int}/link"): lambda t: (
        f"/channels/{t.channel_id}/link",
        {"link": "rules"},
    ),
    ("GET", "/channels/{channel_id:int}/reconnect"): lambda t: (
        f"/channels/{t.channel_id}/reconnect",
        {},
    ),
    ("GET", "/channels/{channel_id:int}/remove"): lambda t: (
        f"/channels/{t.channel_id}/remove",
        {},
    ),
    ("POST", "/channels/{channel_id:int}/remove"): lambda t: (
        f"/channels/{t.channel_id}/remove",
        {"history": "delete", "anyway": "on"},
    ),
    ("GET", "/channels/{channel_id:int}/doctor"): lambda t: (
        f"/channels/{t.channel_id}/doctor",
        {},
    ),
    ("POST", "/channels/{channel_id:int}/doctor"): lambda t: (
        f"/channels/{t.channel_id}/doctor",
        {},
    ),
    ("GET", "/channels/connect/{login_id:int}"): lambda t: (f"/channels/connect/{t.login_id}", {}),
    ("POST", "/channels/connect/{login_id:int}"): lambda t: (
        f"/channels/connect/{t.login_id}",
        {"page-222": "on"},
    ),
    ("GET", "/channels/connect/{login_id:int}/progress"): lambda t: (
        f"/channels/connect/{t.login_id}/progress",
        {},
    ),
    ("POST", "/channels/connect/{login_id:int}/next"): lambda t: (
        f"/channels/connect/{t.login_id}/next",
        {"retry": "failed"},
    ),
    ("GET", "/channels/manual/{hook_id:int}"): lambda t: (f"/channels/manual/{t.hook_id}", {}),
    ("POST", "/channels/manual/{hook_id:int}"): lambda t: (
        f"/channels/manual/{t.hook_id}",
        {"app_id": "555", "app_secret": "ours-secret-123456", "page_token": "EAAB" + "x" * 40},
    ),
    ("POST", "/channels/manual/{hook_id:int}/discard"): lambda t: (
        f"/channels/manual/{t.hook_id}/discard",
        {},
    ),
    ("GET", "/channels/{channel_id:int}/bot"): lambda t: (f"/channels/{t.channel_id}/bot", {}),
    ("POST", "/channels/{channel_id:int}/bot"): lambda t: (
        f"/channels/{t.channel_id}/bot",
        {"source": BOT, "format": "yaml"},
    ),
    ("POST", "/channels/{channel_id:int}/bot/try"): lambda t: (
        f"/channels/{t.channel_id}/bot/try",
        {"source": BOT, "format": "yaml", "text": "hi"},
    ),
    ("GET", "/channels/{channel_id:int}/bot/export"): lambda t: (
        f"/channels/{t.channel_id}/bot/export",
        {},
    ),
    ("POST", "/channels/{channel_id:int}/bot/versions/{number:int}/rollback"): lambda t: (
        f"/channels/{t.channel_id}/bot/versions/1/rollback",
        {},
    ),
    ("GET", "/channels/{channel_id:int}/bot/rules/{index:int}"): lambda t: (
        f"/channels/{t.channel_id}/bot/rules/0",
        {},
    ),
    ("POST", "/channels/{channel_id:int}/bot/rules/{index:int}"): lambda t: (
        f"/channels/{t.channel_id}/bot/rules/0",
        {"name": "Mine now", "a0_kind": "text", "a0_value": "Hi"},
    ),
    ("POST", "/team/members/{member_id:int}/role"): lambda t: (
        f"/team/members/{t.agent_id}/role",
        {"role": "admin"},
    ),
    ("POST", "/team/members/{member_id:int}/remove"): lambda t: (
        f"/team/members/{t.agent_id}/remove",
        {},
    ),
    ("POST", "/team/invitations/{invitation_id:int}/revoke"): lambda t: (
        f"/team/invitations/{t.invitation_id}/revoke",
        {},
    ),
}

OWN: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/"): {},
    ("GET", "/inbox"): {},
    ("GET", "/inbox/list"): {},
    ("GET", "/inbox/export"): {},
    ("GET", "/inbox/canned"): {},
    ("POST", "/inbox/canned"): {"shortcut": "ours", "text": "Ours"},
    ("GET", "/channels/connect"): {},
    ("GET", "/channels/connect/facebook"): {},
    ("GET", "/channels/connect/callback"): {},
    ("GET", "/channels/manual"): {},
    ("POST", "/channels/manual"): {},
    ("GET", "/team"): {},
    ("POST", "/team/invitations"): {"email": "new@ours.test", "role": "agent"},
    ("GET", "/settings/meta"): {},
    ("POST", "/settings/meta"): {
        "source": "own",
        "app_id": "555",
        "app_secret": "ours-secret-123456",
        "graph_url": "https://graph.facebook.com",
        "graph_version": "v25.0",
    },
    ("POST", "/settings/meta/verify-token"): {},
    ("GET", "/account"): {},
    ("POST", "/account/password"): {
        "current": "correct horse battery staple",
        "password": "another long password",
        "confirm": "another long password",
    },
    ("POST", "/logout"): {},
}

GET_STATUS = {
    ("GET", "/channels/connect/facebook"): 303,  # off to Facebook's Login dialog
    ("GET", "/channels/connect/callback"): 400,  # back from it without a state of this session
}

# Served without a session: a file an agent sent, at its signed address (test_inbox.py).
PUBLIC_FILES = {("GET", "/files/{sha256}/{signature}/{name}")}

# Streams never end, so they are walked in test_live.py: another workspace's changes never
# reach them.
STREAMING = {("GET", "/inbox/live")}

PUBLIC = PUBLIC_FILES | {
    ("GET", "/setup"),
    ("POST", "/setup"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/invitations/{token}"),
    ("POST", "/invitations/{token}"),
}


def console_routes(site: Site) -> set[tuple[str, str]]:
    found = set()
    for route in site.app.routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    return found - NOT_CONSOLE


async def two_workspaces(site: Site) -> Theirs:
    await site.member("Ours", "owner@ours.test")
    await site.member("Ours", "agent@ours.test", Role.AGENT)
    ours = await site.member("Ours", "admin@ours.test", Role.ADMIN)
    await site.channel(ours.workspace_id, "111", "Our Page")
    owner = await site.member("Theirs", "owner@theirs.test", name="Their Owner")
    agent = await site.member("Theirs", "agent@theirs.test", Role.AGENT, name="Their Agent")
    channel_id = await site.channel(owner.workspace_id, "222", "Their Page")
    keys = Secrets(site.settings.secret_keys)
    async with site.engine.begin() as conn:
        invitation, _ = await accounts.invite(
            conn,
            owner.workspace_id,
            "guest@theirs.test",
            Role.AGENT,
            owner.id,
            site.clock(),
            lifetime=3600,
        )
        await meta_apps.save_own_app(
            conn,
            keys,
            owner.workspace_id,
            site.clock(),
            in_use=True,
            app_id="777",
            app_secret="their-secret-123456",
            graph_url="https://graph.facebook.com",
            graph_version="v25.0",
        )
        their_bot = {"name": "Their Bot", "rules": []}
        await botprofile.save(
            conn,
            channel_id,
            fmt="yaml",
            source="name: Their Bot\nrules: []\n",
            definition=their_bot,
            now=site.clock(),
        )
        login_id, _ = await logins.start(
            conn,
            session_id="0" * 64,
            workspace_id=owner.workspace_id,
            user_id=owner.id,
            app_id="777",
            channel_id=None,
            now=site.clock(),
            lifetime=3600,
        )
        hook = await hooks.create(
            conn, keys, owner.workspace_id, "https://graph.facebook.com", "v25.0", site.clock()
        )
        thread = await store.thread_for(conn, channel_id, "their-psid", site.clock())
        await store.touch_contact(conn, thread.contact_id, site.clock())
        message_id = await store.add_message(
            conn,
            thread,
            site.clock(),
            mid="m.theirs",
            direction="inbound",
            author="contact",
            text="Their customer's words",
            attachments=[{"type": "image", "url": "https://cdn.example/x.png"}],
            status="received",
        )
        note_id = await notes.add(conn, thread.conversation_id, notes.NOTE, "Theirs", site.clock())
        their_answer = await canned.save(conn, owner.workspace_id, "theirs", "Theirs", 0.0)
    return Theirs(
        owner.workspace_id,
        owner.id,
        agent.id,
        channel_id,
        invitation.id,
        login_id,
        hook.id,
        conversation_id=thread.conversation_id,
        message_id=message_id,
        note_id=note_id,
        canned_id=their_answer.id,
    )


async def snapshot(site: Site, workspace_id: int) -> dict[str, Any]:
    """Every row of the workspace, and the sessions of its people."""
    async with site.engine.begin() as conn:
        people = select(users.c.id).where(users.c.workspace_id == workspace_id)
        their_channels = select(channels.c.id).where(channels.c.workspace_id == workspace_id)
        rows = {
            "workspace": (
                await conn.execute(select(workspaces).where(workspaces.c.id == workspace_id))
            ).all(),
            "users": (
                await conn.execute(select(users).where(users.c.workspace_id == workspace_id))
            ).all(),
            "sessions": (
                await conn.execute(select(sessions).where(sessions.c.user_id.in_(people)))
            ).all(),
            "channels": (
                await conn.execute(select(channels).where(channels.c.workspace_id == workspace_id))
            ).all(),
            "invitations": (
                await conn.execute(
                    select(invitations).where(invitations.c.workspace_id == workspace_id)
                )
            ).all(),
            "meta_apps": (
                await conn.execute(
                    select(meta_apps_table).where(meta_apps_table.c.workspace_id == workspace_id)
                )
            ).all(),
            "channel_hooks": (
                await conn.execute(
                    select(channel_hooks).where(channel_hooks.c.workspace_id == workspace_id)
                )
            ).all(),
            "page_logins": (
                await conn.execute(
                    select(page_logins).where(page_logins.c.workspace_id == workspace_id)
                )
            ).all(),
            "bots": (
                await conn.execute(select(bots).where(bots.c.channel_id.in_(their_channels)))
            ).all(),
            "bot_versions": (
                await conn.execute(
                    select(bot_versions)
                    .join(bots, bots.c.id == bot_versions.c.bot_id)
                    .where(bots.c.channel_id.in_(their_channels))
                )
            ).all(),
            **await inbox_rows(conn, their_channels),
        }
    return {name: sorted(map(tuple, found)) for name, found in rows.items()}


async def inbox_rows(conn: Any, their_channels: Any) -> dict[str, Any]:
    """The workspace's conversations, their messages and notes, and jobs about them."""
    theirs = select(conversations.c.id).where(conversations.c.channel_id.in_(their_channels))
    return {
        "conversations": (
            await conn.execute(select(conversations).where(conversations.c.id.in_(theirs)))
        ).all(),
        "messages": (
            await conn.execute(select(messages).where(messages.c.conversation_id.in_(theirs)))
        ).all(),
        "notes": (
            await conn.execute(select(notes_table).where(notes_table.c.conversation_id.in_(theirs)))
        ).all(),
        "jobs": (await conn.execute(select(jobs.c.kind, jobs.c.payload))).all(),
        "handoff_settings": (
            await conn.execute(
                select(handoff_settings_table).where(
                    handoff_settings_table.c.channel_id.in_(their_channels)
                )
            )
        ).all(),
        "canned": (
            await conn.execute(
                select(canned_responses).where(
                    canned_responses.c.workspace_id.in_(
                        select(channels.c.workspace_id).where(channels.c.id.in_(their_channels))
                    )
                )
            )
        ).all(),
    }


def test_every_console_route_is_listed(site: Site) -> None:
    listed = set(AIMED) | set(OWN) | PUBLIC | STREAMING
    assert console_routes(site) == listed
    assert not set(AIMED) & set(OWN)


@pytest.mark.parametrize("role", ["owner@ours.test", "admin@ours.test", "agent@ours.test"])
@pytest.mark.parametrize("route", sorted(AIMED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_an_id_of_another_workspace_is_not_found(
    site: Site, route: tuple[str, str], role: str
) -> None:
    theirs = await two_workspaces(site)
    # Their owner is signed in too: their session must survive whatever we try.
    await site.signed_in("owner@theirs.test")
    before = await snapshot(site, theirs.workspace_id)
    browser = await site.signed_in(role)
    token = csrf_of((await browser.get("/account")).text)
    answers = []
    for target in (theirs, MISSING):
        path, data = AIMED[route](target)
        if route[0] == "GET":
            answer = await browser.get(path)
        else:
            answer = await browser.post(path, {"csrf_token": token, **data})
        answers.append(answer)
        assert answer.status_code == 404, (path, answer.status_code)
        for name in ("Their Page", "Their Owner", "Their Agent", "theirs.test", "222"):
            assert name not in answer.text
    # Theirs and nowhere look exactly alike.
    assert answers[0].text == answers[1].text
    assert await snapshot(site, theirs.workspace_id) == before


@pytest.mark.parametrize("route", sorted(OWN), ids=lambda r: f"{r[0]} {r[1]}")
async def test_a_route_without_an_id_shows_and_changes_nothing_of_another_workspace(
    site: Site, route: tuple[str, str]
) -> None:
    theirs = await two_workspaces(site)
    await site.signed_in("owner@theirs.test")
    before = await snapshot(site, theirs.workspace_id)
    browser = await site.signed_in("owner@ours.test")
    method, path = route
    if method == "GET":
        answer = await browser.get(path)
        assert answer.status_code == GET_STATUS.get(route, 200), answer.text
        assert "Our Page" in answer.text or path != "/"
    else:
        token = csrf_of((await browser.get("/account")).text)
        answer = await browser.post(path, {"csrf_token": token, **OWN[route]})
        assert answer.status_code in (201, 303), answer.text
    for name in ("Their Page", "Their Owner", "Their Agent", "theirs.test", "their-secret", "777"):
        assert name not in answer.text
    assert await snapshot(site, theirs.workspace_id) == before


async def test_a_page_that_changed_hands_keeps_each_history_with_its_workspace(
    site: Site,
) -> None:
    """Theirs removed their channel of Page 222 keeping its history, and the Page is ours now:
    our pages show nothing of their history, their conversation stays as unknown to us as one
    that exists nowhere, and nothing of theirs changes."""
    theirs = await two_workspaces(site)
    async with site.engine.begin() as conn:
        await removal.mark_removed(conn, theirs.channel_id, "Removed", site.clock())
        ours = await accounts.workspace_named(conn, "Ours")
    assert ours is not None
    ours_now = await site.channel(ours.id, "222", "Our Page now")
    await site.signed_in("owner@theirs.test")
    before = await snapshot(site, theirs.workspace_id)
    browser = await site.signed_in("owner@ours.test")
    shown = [
        path for method, path in sorted(OWN) if method == "GET" and (method, path) not in GET_STATUS
    ]
    for path in [*shown, "/inbox?q=words", f"/channels/{ours_now}"]:
        answer = await browser.get(path)
        assert answer.status_code == 200, path
        for name in ("Their Page", "Their customer", "Their Owner", "theirs.test"):
            assert name not in answer.text, (path, name)
    for route in sorted(AIMED):
        if route[0] != "GET":
            continue
        answers = [await browser.get(AIMED[route](target)[0]) for target in (theirs, MISSING)]
        assert [a.status_code for a in answers] == [404, 404], route
        assert answers[0].text == answers[1].text
    assert await snapshot(site, theirs.workspace_id) == before
