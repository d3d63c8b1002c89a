"""The inbox's pages over HTTP: the list (views, statuses, Page, search, pages of 50, unread
counts), one conversation (the whole record as people read it, the contact panel, the window),
the fragments live pages ask for, and kept media served inert. Hostile query strings fall back
to the defaults; what customers write is escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import pytest
from sqlalchemy import select, update

from frontdesk.core.models import Author, Reply
from frontdesk.core.people import Role
from frontdesk.store import conversations as store
from frontdesk.store import notes, outbox, removal
from frontdesk.store.media import MediaStore
from frontdesk.store.tables import contacts, conversations, jobs, messages
from frontdesk.web.console.files import signature
from frontdesk.workers import sending

from .conftest import Browser, Site, csrf_of

pytestmark = pytest.mark.db

HOUR = 3600.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@dataclass
class Shop:
    site: Site
    channel_id: int
    other_channel_id: int
    morgan: Browser
    morgan_id: int
    ana_id: int


async def say(
    site: Site, channel_id: int, psid: str, text: str, *, name: str | None = None, at: float = 0.0
) -> store.Thread:
    """The customer wrote (as the worker files it)."""
    now = site.clock() + at
    async with site.engine.begin() as conn:
        thread = await store.thread_for(conn, channel_id, psid, now)
        await store.touch_contact(conn, thread.contact_id, now)
        await store.add_message(
            conn,
            thread,
            now,
            mid=f"m.{psid}.{now}.{text[:10]}",
            direction="inbound",
            author="contact",
            text=text,
            status="received",
        )
        if name is not None:
            await conn.execute(
                update(contacts).where(contacts.c.id == thread.contact_id).values(name=name)
            )
    return thread


@pytest.fixture
async def shop(site: Site) -> Shop:
    morgan = await site.member("Lisbon Tees", "morgan@example.com", name="Morgan Reyes")
    ana = await site.member("Lisbon Tees", "ana@example.com", Role.AGENT, name="Ana Lima")
    channel_id = await site.channel(morgan.workspace_id, "111", "Lisbon Tees")
    other = await site.channel(morgan.workspace_id, "112", "Lisbon Tees Outlet")
    browser = await site.signed_in("morgan@example.com")
    return Shop(site, channel_id, other, browser, morgan.id, ana.id)


def rows(html: str) -> list[str]:
    """The names in the list, in order."""
    return [unescape(n) for n in re.findall(r'<span class="who">([^<]*)</span>', html)]


async def assign(site: Site, conversation_id: int, user_id: int | None, status: str) -> None:
    async with site.engine.begin() as conn:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(assignee=None if user_id is None else str(user_id), status=status)
        )


async def test_the_list_shows_the_newest_first_by_view_status_and_page(shop: Shop) -> None:
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "Olá", name="João Pereira", at=1)
    chloe = await say(site, shop.channel_id, "p-chloe", "Bonjour", name="Chloé Martin", at=2)
    await say(site, shop.other_channel_id, "p-rita", "Hi", name="Rita Costa", at=3)
    ines = await say(site, shop.channel_id, "p-ines", "Help", name="Inês Lopes", at=4)
    await assign(site, chloe.conversation_id, shop.morgan_id, "open")
    await assign(site, joao.conversation_id, shop.ana_id, "open")
    await assign(site, ines.conversation_id, None, "pending")
    # Another workspace's conversation never shows.
    stranger = await site.member("Porto Books", "owner@porto.test")
    elsewhere = await site.channel(stranger.workspace_id, "999", "Porto Books")
    await say(site, elsewhere, "p-x", "Someone else's", name="Their Customer", at=5)

    page = (await shop.morgan.get("/inbox")).text
    # The open list shows those waiting for a person too.
    assert rows(page) == ["Inês Lopes", "Rita Costa", "Chloé Martin", "João Pereira"]
    assert 'id="count-open">4<' in page
    assert 'id="count-pending">1<' in page
    assert "Their Customer" not in page
    assert rows((await shop.morgan.get("/inbox?view=mine")).text) == ["Chloé Martin"]
    assert rows((await shop.morgan.get("/inbox?view=unassigned")).text) == [
        "Inês Lopes",
        "Rita Costa",
    ]
    pending = (await shop.morgan.get("/inbox?status=pending")).text
    assert rows(pending) == ["Inês Lopes"]
    assert "Waiting for a person" in pending
    only = (await shop.morgan.get(f"/inbox?channel={shop.other_channel_id}")).text
    assert rows(only) == ["Rita Costa"]
    # Assignees are named; with two Pages, each row says which.
    assert "Ana Lima" in page
    assert "Lisbon Tees Outlet" in page
    # Their channel, asked for by id, shows nothing.
    assert rows((await shop.morgan.get(f"/inbox?channel={elsewhere}")).text) == []


async def test_search_finds_names_and_message_text_across_statuses(shop: Shop) -> None:
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "Do you have the M size?", name="João")
    await say(site, shop.channel_id, "p-chloe", "Where is order 100%_off?", name="Chloé", at=1)
    await assign(site, joao.conversation_id, None, "resolved")
    found = (await shop.morgan.get("/inbox?q=m+SIZE")).text
    assert rows(found) == ["João"]
    assert rows((await shop.morgan.get("/inbox?q=chlo")).text) == ["Chloé"]
    # % and _ are what they are, not wildcards.
    assert rows((await shop.morgan.get("/inbox?q=100%25_")).text) == ["Chloé"]
    assert rows((await shop.morgan.get("/inbox?q=1%25%25")).text) == []
    assert rows((await shop.morgan.get("/inbox?q=p-joao")).text) == ["João"]  # a PSID


async def test_the_list_comes_in_pages_of_fifty(shop: Shop) -> None:
    for n in range(53):
        await say(shop.site, shop.channel_id, f"p-{n:02d}", "Hi", name=f"Person {n:02d}", at=n)
    first = (await shop.morgan.get("/inbox")).text
    assert rows(first) == [f"Person {n:02d}" for n in range(52, 2, -1)]
    older = re.search(r'href="(/inbox\?before=[^"]+)">Older conversations', first)
    assert older
    second = (await shop.morgan.get(unescape(older.group(1)))).text
    assert rows(second) == ["Person 02", "Person 01", "Person 00"]
    assert "Older conversations" not in second


@pytest.mark.parametrize(
    "query",
    [
        "view=everything&status=burning",
        "channel=abc",
        "channel=99999999999999999999",
        "before=nan_1",
        "before=inf_3",
        "before=1.0_-4",
        "before=%00",
        "q=" + "x" * 10_000,
        "q=%F0%9F%98%80%00%ff",
        "open=<script>",
    ],
)
async def test_a_strange_query_string_shows_the_default_list(shop: Shop, query: str) -> None:
    await say(shop.site, shop.channel_id, "p-joao", "Olá", name="João")
    for path in ("/inbox", "/inbox/list"):
        answer = await shop.morgan.get(f"{path}?{query}")
        assert answer.status_code == 200, answer.text
        assert "<script>" not in answer.text


async def test_a_conversation_shows_its_whole_record(shop: Shop) -> None:
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "<b>Olá</b> & bem-vindo", name="João")
    now = site.clock()
    async with site.engine.begin() as conn:
        bot = await sending.queue_reply(
            conn, joao.conversation_id, Reply(text="Hi! Choose one"), Author.BOT, now
        )
        await store.add_message(
            conn,
            joao,
            now + 1,
            mid="m.inbox",
            direction="outbound",
            author="page_inbox",
            text="Morgan here, from the Page Inbox",
            status="sent",
        )
        await store.add_message(
            conn,
            joao,
            now + 2,
            mid="m.quote",
            direction="inbound",
            author="contact",
            text="Thanks",
            reply_to_mid="m.inbox",
            status="received",
        )
        await store.react(conn, shop.channel_id, "m.inbox", "❤")
        await notes.add(conn, joao.conversation_id, notes.SYSTEM, "Handed to a person", now + 3)
        await notes.add(
            conn, joao.conversation_id, notes.REFERRAL, "Came from an ad (ad 42)", now + 3
        )
        await notes.add(
            conn, joao.conversation_id, notes.NOTE, "VIP <customer>", now + 4, user_name="Ana"
        )
    page = (await shop.morgan.get(f"/inbox/{joao.conversation_id}")).text
    assert "&lt;b&gt;Olá&lt;/b&gt; &amp; bem-vindo" in page
    assert "<b>Olá</b>" not in page
    order = [
        "bem-vindo",
        "Hi! Choose one",
        "Morgan here, from the Page Inbox",
        "Thanks",
        "Handed to a person",
        "VIP &lt;customer&gt;",
    ]
    record = page[page.index('id="transcript"') :]
    positions = [record.index(text) for text in order]
    assert positions == sorted(positions)
    assert f'id="m-{bot}" class="item message outbound by-bot' in page
    assert '<span class="by">Meta Page Inbox</span>' in page
    assert "Private note · Ana" in page
    assert '<blockquote class="quote"><span class="by">Meta Page Inbox</span> Morgan here' in page
    assert "❤" in page
    # The panel: who, where from, the window.
    assert "<code>p-joao</code>" in page
    assert '<dd id="came-from">an ad (ad 42)</dd>' in page
    assert "Replies allowed for 24 h 0 m" in page


@pytest.mark.parametrize(
    ("hours", "permission", "words"),
    [
        (23.5, False, "Replies allowed for 30 m"),
        (30, True, "Only a person can reply, with the human agent tag, until"),
        (30, False, "Closed: the 24 hours have passed, and this Page has no Human Agent"),
        (24 * 8, True, "Closed — the customer must write first"),
    ],
)
async def test_the_panel_says_what_the_window_allows(
    shop: Shop, hours: float, permission: bool, words: str
) -> None:
    joao = await say(shop.site, shop.channel_id, "p-joao", "Olá")
    async with shop.site.engine.begin() as conn:
        await outbox.set_human_agent(conn, shop.channel_id, permission)
    shop.site.clock.advance(hours * HOUR)
    browser = await shop.site.signed_in("morgan@example.com")  # the old session timed out
    page = (await browser.get(f"/inbox/{joao.conversation_id}")).text
    assert words in page


async def test_showing_a_conversation_changes_nothing_and_seen_reads_it_once(shop: Shop) -> None:
    """A GET may be prefetched or fetched again by the page's script: only the `seen` form
    (sent by the script once the page is in view) reads the conversation and tells Messenger."""
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "Olá", name="João")
    await say(site, shop.channel_id, "p-joao", "Anyone?", at=1)
    unread = '<span class="visually-hidden">Unread: </span>2</span>'
    assert unread in (await shop.morgan.get("/inbox")).text
    for _ in range(2):
        page = (await shop.morgan.get(f"/inbox/{joao.conversation_id}")).text
    assert unread in (await shop.morgan.get("/inbox")).text
    assert f'action="/inbox/{joao.conversation_id}/seen"' in page  # "Mark as read"
    assert await sender_actions(site) == []

    seen = f"/inbox/{joao.conversation_id}/seen"
    forged = await shop.morgan.post(seen, {"csrf_token": "x" * 43})
    elsewhere = await shop.morgan.post(
        seen, {"csrf_token": csrf_of(page)}, headers={"origin": "https://evil.test"}
    )
    assert (forged.status_code, elsewhere.status_code) == (403, 403)
    assert unread in (await shop.morgan.get("/inbox")).text

    for _ in range(2):
        done = await shop.morgan.post(seen, {"csrf_token": csrf_of(page)})
        assert done.status_code == 303
        assert done.headers["location"] == f"/inbox/{joao.conversation_id}#composer"
    assert "Unread: " not in (await shop.morgan.get("/inbox")).text
    assert "Mark as read" not in (await shop.morgan.get(f"/inbox/{joao.conversation_id}")).text
    assert await sender_actions(site) == ["mark_seen"]


async def sender_actions(site: Site) -> list[str]:
    async with site.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(jobs.c.payload).where(jobs.c.kind == "sender_action").order_by(jobs.c.id)
            )
        ).all()
    return [row.payload["action"] for row in rows]


async def test_a_tab_left_open_on_a_deleted_conversation_never_reaches_the_next_one(
    shop: Shop,
) -> None:
    """A channel removed with its history while one of its conversations is open: the tab's
    forms must not reach the next conversation made (SQLite would give it the same id)."""
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "Olá", name="João")
    page = (await shop.morgan.get(f"/inbox/{joao.conversation_id}")).text
    async with site.engine.begin() as conn:
        while not await removal.erase_batch(conn, shop.channel_id, 1000):  # the whole history
            pass
    chloe = await say(site, shop.other_channel_id, "p-chloe", "Bonjour", name="Chloé")
    assert chloe.conversation_id != joao.conversation_id
    stale = await shop.morgan.post(
        f"/inbox/{joao.conversation_id}/reply",
        {"csrf_token": csrf_of(page), "text": "Your refund is approved, João."},
    )
    assert stale.status_code == 404
    async with site.engine.connect() as conn:
        outbound = (
            await conn.execute(select(messages.c.text).where(messages.c.direction == "outbound"))
        ).all()
    assert outbound == []


async def test_a_long_transcript_pages_back_from_the_newest(shop: Shop) -> None:
    site = shop.site
    for n in range(130):
        thread = await say(site, shop.channel_id, "p-joao", f"message {n:03d}", at=n)
    page = (await shop.morgan.get(f"/inbox/{thread.conversation_id}")).text
    assert "message 129" in page
    assert "message 030" in page
    assert "message 029" not in page
    earlier = re.search(r'href="(/inbox/\d+\?before=\d+)">Earlier messages', page)
    assert earlier
    back = (await shop.morgan.get(earlier.group(1))).text
    assert "message 000" in back
    assert "message 029" in back
    assert "message 030" not in back
    assert "Earlier messages" not in back


async def test_the_fragments_of_a_conversation(shop: Shop) -> None:
    site = shop.site
    joao = await say(site, shop.channel_id, "p-joao", "Olá", name="João")
    chloe = await say(site, shop.channel_id, "p-chloe", "Bonjour", name="Chloé")
    async with site.engine.begin() as conn:
        note_id = await notes.add(conn, joao.conversation_id, notes.NOTE, "Call back", site.clock())
        message_id = (
            await conn.execute(
                select(store.messages.c.id).where(
                    store.messages.c.conversation_id == joao.conversation_id
                )
            )
        ).scalar_one()
    browser = shop.morgan
    one = await browser.get(f"/inbox/{joao.conversation_id}/messages/{message_id}")
    assert one.status_code == 200
    assert f'id="m-{message_id}"' in one.text
    assert "<html" not in one.text
    assert (
        f'id="n-{note_id}"'
        in (await browser.get(f"/inbox/{joao.conversation_id}/notes/{note_id}")).text
    )
    parts = (await browser.get(f"/inbox/{joao.conversation_id}/parts")).text
    assert 'data-part="head"' in parts
    assert 'data-part="panel"' in parts
    # A message or note of another conversation is not this one's.
    assert (
        await browser.get(f"/inbox/{chloe.conversation_id}/messages/{message_id}")
    ).status_code == 404
    assert (await browser.get(f"/inbox/{chloe.conversation_id}/notes/{note_id}")).status_code == 404
    listed = (await browser.get(f"/inbox/list?open={joao.conversation_id}")).text
    assert f'id="row-{joao.conversation_id}" class="row current' in listed
    assert "<html" not in listed


async def test_kept_media_is_served_inert_to_the_workspace_only(shop: Shop) -> None:
    site = shop.site
    media = MediaStore(site.settings.data_dir / "media")
    kept = {}
    for name, data in (("tee.png", PNG), ("evil.svg", SVG)):
        with media.incoming(1 << 20) as incoming:
            incoming.write(data)
            kept[name] = incoming.keep().sha256
    joao = await say(site, shop.channel_id, "p-joao", "Olá", name="João")
    async with site.engine.begin() as conn:
        message_id = await store.add_message(
            conn,
            joao,
            site.clock(),
            mid="m.media",
            direction="inbound",
            author="contact",
            attachments=[
                {
                    "type": "image",
                    "url": "https://cdn.example/tee.png",
                    "stored": {
                        "sha256": kept["tee.png"],
                        "size": len(PNG),
                        "content_type": "image/png",
                        "name": "tee.png",
                    },
                },
                {
                    "type": "image",
                    "url": "https://cdn.example/evil.svg",
                    "stored": {
                        "sha256": kept["evil.svg"],
                        "size": len(SVG),
                        "content_type": "image/svg+xml",
                        "name": "evil.svg",
                    },
                },
                {
                    "type": "video",
                    "url": "https://cdn.example/v.mp4",
                    "failed": "it was over 25 MiB",
                },
                {"type": "audio", "url": "https://cdn.example/a.mp3"},
            ],
            status="received",
        )
        await conn.execute(
            update(contacts)
            .where(contacts.c.id == joao.contact_id)
            .values(profile_pic=f"media:{kept['tee.png']}")
        )
    page = (await shop.morgan.get(f"/inbox/{joao.conversation_id}")).text
    base = f"/inbox/{joao.conversation_id}/messages/{message_id}/files"
    assert f'<img src="{base}/0" alt="Image: tee.png">' in page
    assert f'<img src="{base}/1"' not in page  # an SVG is offered as a file, never shown
    assert "Video not kept: it was over 25 MiB" in page
    assert "Audio: being fetched…" in page
    image = await shop.morgan.get(f"{base}/0")
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    svg = await shop.morgan.get(f"{base}/1")
    assert svg.headers["content-type"] == "application/octet-stream"
    assert svg.headers["content-disposition"].startswith("attachment")
    for missing in (f"{base}/2", f"{base}/3", f"{base}/4", f"{base}/-1"):
        assert (await shop.morgan.get(missing)).status_code == 404
    picture = await shop.morgan.get(f"/inbox/{joao.conversation_id}/picture")
    assert picture.content == PNG
    # Someone of another workspace reaches none of it.
    await site.member("Porto Books", "owner@porto.test")
    stranger = await site.signed_in("owner@porto.test")
    assert (await stranger.get(f"{base}/0")).status_code == 404
    assert (await stranger.get(f"/inbox/{joao.conversation_id}/picture")).status_code == 404
    # Files agents send are fetched by Meta at a signed address, and only there.
    key = site.app.state.inbox.files_key
    digest = kept["tee.png"]
    good = await stranger.get(f"/files/{digest}/{signature(key, digest)}/tee.png")
    assert good.status_code == 200
    assert good.content == PNG
    for path in (
        f"/files/{digest}/{'0' * 32}/tee.png",
        f"/files/{'a' * 64}/{signature(key, 'a' * 64)}/x.png",
        f"/files/../../etc/{signature(key, digest)}/passwd",
        f"/files/{digest.upper()}/{signature(key, digest)}/tee.png",
    ):
        assert (await stranger.get(path)).status_code == 404, path
