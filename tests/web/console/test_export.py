"""Transcripts exported: one conversation as JSON, CSV and text with its messages, notes and
what happened; every conversation of a list (all pages of it, its filters applied) for owners
and admins only; nothing of another workspace; spreadsheet formulas written as text."""

from __future__ import annotations

import csv
import io
import json

import pytest

from frontdesk.core.models import Author, Reply
from frontdesk.core.people import Role
from frontdesk.store import notes
from frontdesk.workers import sending

from .conftest import Site
from .test_inbox import assign, say

pytestmark = pytest.mark.db


async def _shop(site: Site) -> tuple[int, int]:
    owner = await site.member("Lisbon Tees", "morgan@example.com", name="Morgan Reyes")
    await site.member("Lisbon Tees", "ana@example.com", Role.AGENT, name="Ana Lima")
    channel_id = await site.channel(owner.workspace_id, "111", "Lisbon Tees")
    thread = await say(site, channel_id, "p-joao", '=HYPERLINK("http://evil")', name="João")
    now = site.clock()
    async with site.engine.begin() as conn:
        await sending.queue_reply(
            conn, thread.conversation_id, Reply(text="Hi! Which size?"), Author.BOT, now + 1
        )
        await notes.add(conn, thread.conversation_id, notes.SYSTEM, "Waiting for a person", now + 2)
        await notes.add(
            conn, thread.conversation_id, notes.NOTE, "VIP", now + 3, user_name="Ana Lima"
        )
    return channel_id, thread.conversation_id


async def test_one_conversation_as_json_csv_and_text(site: Site) -> None:
    _, conversation_id = await _shop(site)
    ana = await site.signed_in("ana@example.com")
    answer = await ana.get(f"/inbox/{conversation_id}/export?format=json")
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="conversation-{conversation_id}.json"'
    )
    data = answer.json()
    assert data["customer"] == {
        "name": "João",
        "psid": "p-joao",
        "first_seen": data["customer"]["first_seen"],
    }
    assert data["page"]["name"] == "Lisbon Tees"
    assert [(e["kind"], e["by"], e["text"]) for e in data["transcript"]] == [
        ("message", "João", '=HYPERLINK("http://evil")'),
        ("message", "Bot", "Hi! Which size?"),
        ("system", "Frontdesk", "Waiting for a person"),
        ("note", "Ana Lima", "VIP"),
    ]
    assert data["transcript"][1]["status"] == "queued"

    table = (await ana.get(f"/inbox/{conversation_id}/export?format=csv")).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [row["by"] for row in rows] == ["João", "Bot", "Frontdesk", "Ana Lima"]
    assert rows[0]["text"] == '\'=HYPERLINK("http://evil")'  # text, not a formula
    assert rows[0]["psid"] == "p-joao"

    text = (await ana.get(f"/inbox/{conversation_id}/export?format=text")).text
    assert text.startswith("Conversation with João (PSID p-joao) on Lisbon Tees\n")
    assert '  João: =HYPERLINK("http://evil")\n' in text
    assert "  — Waiting for a person\n" in text
    assert "  Ana Lima (private note): VIP\n" in text
    # An unknown format is JSON.
    assert (await ana.get(f"/inbox/{conversation_id}/export?format=pdf")).json()[
        "id"
    ] == conversation_id


async def test_a_whole_list_in_every_format_for_owners_and_admins_only(site: Site) -> None:
    channel_id, first = await _shop(site)
    for n in range(52):
        await say(site, channel_id, f"p-{n:02d}", f"Hello {n}", name=f"Person {n:02d}", at=10 + n)
    await assign(site, first, None, "resolved")
    stranger = await site.member("Porto Books", "owner@porto.test")
    elsewhere = await site.channel(stranger.workspace_id, "999", "Porto Books")
    await say(site, elsewhere, "p-x", "Their secret", name="Their Customer")
    morgan = await site.signed_in("morgan@example.com")
    everything = (await morgan.get("/inbox/export?format=json")).json()
    assert len(everything) == 52  # two pages of the open list; not the resolved one
    assert {c["customer"]["name"] for c in everything} == {f"Person {n:02d}" for n in range(52)}
    resolved = (await morgan.get("/inbox/export?format=json&status=resolved")).json()
    assert [c["customer"]["name"] for c in resolved] == ["João"]
    table = (await morgan.get("/inbox/export?format=csv")).text
    assert table.count("conversation,page,customer") == 1  # one header
    assert len(list(csv.DictReader(io.StringIO(table)))) == 52
    text = (await morgan.get("/inbox/export?format=text")).text
    assert text.count("Conversation with ") == 52
    searched = (await morgan.get("/inbox/export?format=json&q=Hello+7")).json()
    assert [c["customer"]["name"] for c in searched] == ["Person 07"]
    for body in (json.dumps(everything), table, text):
        assert "Their" not in body
    ana = await site.signed_in("ana@example.com")
    assert (await ana.get("/inbox/export?format=json")).status_code == 403
