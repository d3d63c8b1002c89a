"""Transcripts out of Frontdesk: one conversation, or every conversation of a list (its view,
status, Page and search), as JSON, CSV or plain text, with messages, notes and what happened.

A set is written as it is read, fifty conversations per transaction, so a large export neither
holds the database (SQLite has one connection) nor the whole history in memory. CSV cells that a
spreadsheet would run as a formula are written as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response, StreamingResponse

from frontdesk.store import inbox, transcripts
from frontdesk.web.access import access_conversation, require_manager

from .context import Ask, Console
from .inbox import AUTHOR_WORDS, Inbox, filters_of, team_names

FORMATS = {"json": "application/json", "csv": "text/csv", "text": "text/plain"}
SUFFIX = {"json": "json", "csv": "csv", "text": "txt"}
CSV_COLUMNS = (
    "conversation",
    "page",
    "customer",
    "psid",
    "at",
    "kind",
    "direction",
    "by",
    "text",
    "attachments",
    "choices",
    "status",
    "reason",
    "tag",
    "reaction",
    "quotes",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _by(item: transcripts.Item, customer: str) -> str:
    if isinstance(item, transcripts.Note):
        return item.user_name or ("An agent" if item.kind == "note" else "Frontdesk")
    if item.author == "contact":
        return customer
    if item.author == "agent" and item.agent_name:
        return item.agent_name
    return AUTHOR_WORDS.get(item.author, item.author)


def _attachments(item: transcripts.Message) -> list[dict[str, Any]]:
    out = []
    for found in item.attachments:
        stored = found.get("stored")
        entry: dict[str, Any] = {"type": found.get("type")}
        if isinstance(stored, Mapping):
            entry.update(
                name=stored.get("name"), size=stored.get("size"), sha256=stored.get("sha256")
            )
        elif found.get("failed"):
            entry["not_kept"] = found.get("failed")
        if found.get("title"):
            entry["title"] = found.get("title")
        if isinstance(found.get("coordinates"), Mapping):
            entry["coordinates"] = dict(found["coordinates"])
        out.append(entry)
    return out


def _entry(item: transcripts.Item, customer: str) -> dict[str, Any]:
    if isinstance(item, transcripts.Note):
        return {
            "at": _iso(item.created_at),
            "kind": item.kind,
            "by": _by(item, customer),
            "text": item.text,
        }
    entry: dict[str, Any] = {
        "at": _iso(item.created_at),
        "kind": "message",
        "direction": item.direction,
        "by": _by(item, customer),
        "author": item.author,
        "text": item.text,
    }
    optional: dict[str, Any] = {
        "attachments": _attachments(item),
        "quick_replies": list(item.quick_replies),
        "buttons": list(item.buttons) + [b for card in item.cards for b in card.buttons],
        "tapped": item.tapped,
        "reaction": item.reaction,
        "quotes": item.quote.text if item.quote else None,
        "tag": item.tag,
    }
    entry.update({k: v for k, v in optional.items() if v})
    if item.direction == "outbound":
        entry["status"] = item.status
        if item.failure_reason and item.status in ("failed", "blocked"):
            entry["reason"] = item.failure_reason
    return entry


class Exported:
    """One conversation, read for an export."""

    def __init__(
        self, detail: inbox.Detail, items: list[transcripts.Item], names: Mapping[str, str]
    ) -> None:
        self.detail = detail
        self.items = items
        self.assignee = names.get(detail.assignee or "") if detail.assignee else None

    def header(self) -> dict[str, Any]:
        c = self.detail
        return {
            "id": c.id,
            "page": {"id": c.page_id, "name": c.channel_name},
            "customer": {"name": c.name, "psid": c.psid, "first_seen": _iso(c.first_seen)},
            "status": c.status,
            "assignee": self.assignee,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.header(),
            "transcript": [_entry(item, self.detail.name) for item in self.items],
        }

    def csv_rows(self) -> Iterable[list[str]]:
        c = self.detail
        for item in self.items:
            entry = _entry(item, c.name)
            files = "; ".join(_label(a) for a in entry.get("attachments", ()))
            choices = "; ".join(entry.get("quick_replies", []) + entry.get("buttons", []))
            cells = {
                "conversation": c.id,
                "page": c.channel_name,
                "customer": c.name,
                "psid": c.psid,
                "text": entry.get("text"),
                "attachments": files,
                "choices": choices,
                **{name: entry.get(name) for name in ("at", "kind", "direction", "by")},
                **{name: entry.get(name) for name in ("status", "reason", "tag", "reaction")},
                "quotes": entry.get("quotes"),
            }
            yield [_cell(cells[column]) for column in CSV_COLUMNS]

    def as_text(self) -> str:
        c = self.detail
        lines = [
            f"Conversation with {c.name} (PSID {c.psid}) on {c.channel_name}",
            f"Status: {c.status}" + (f", assigned to {self.assignee}" if self.assignee else ""),
            "",
        ]
        for item in self.items:
            entry = _entry(item, c.name)
            when = entry["at"].replace("T", " ").replace("+00:00", " UTC")
            if entry["kind"] not in ("message", "note"):
                lines.append(f"{when}  — {entry['text']}")
                continue
            by = entry["by"] + (" (private note)" if entry["kind"] == "note" else "")
            text = entry.get("text") or ""
            lines.append(f"{when}  {by}: {text}".rstrip())
            for found in entry.get("attachments", ()):
                lines.append(f"    [{_label(found)}]")
            if entry.get("quick_replies") or entry.get("buttons"):
                lines.append(
                    "    [choices: "
                    + ", ".join(entry.get("quick_replies", []) + entry.get("buttons", []))
                    + "]"
                )
            if entry.get("status") in ("failed", "blocked"):
                lines.append(f"    [{entry['status']}: {entry.get('reason', '')}]")
        return "\n".join(lines) + "\n"


def _label(found: Mapping[str, Any]) -> str:
    """An attachment in a few words: its type, and its name (or title, or why it was not kept)."""
    named = found.get("name") or found.get("title") or found.get("not_kept")
    return f"{found.get('type')}: {named}" if named else str(found.get("type"))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(rows: Iterable[list[str]], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


async def _exported(
    conn: AsyncConnection, conversation_id: int, names: Mapping[str, str]
) -> Exported:
    detail = await inbox.detail(conn, conversation_id)
    return Exported(detail, await transcripts.everything(conn, conversation_id), names)


def _format(ask: Ask) -> str:
    chosen = ask.request.query_params.get("format", "json")
    return chosen if chosen in FORMATS else "json"


def _download(fmt: str, name: str) -> dict[str, str]:
    return {
        "content-disposition": f'attachment; filename="{name}.{SUFFIX[fmt]}"',
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }


async def conversation(box: Inbox, console: Console, ask: Ask) -> Response:
    """One conversation's whole transcript."""
    fmt = _format(ask)
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        found = await _exported(conn, ref.id, await team_names(conn, ask.user.workspace_id))
    if fmt == "json":
        body = json.dumps(found.as_json(), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        body = _csv(found.csv_rows(), header=True)
    else:
        body = found.as_text()
    media = FORMATS[fmt] + "; charset=utf-8"
    return Response(body, media_type=media, headers=_download(fmt, f"conversation-{ref.id}"))


async def listed(box: Inbox, console: Console, ask: Ask) -> Response:
    """Every conversation of the list as filtered (view, status, Page, search), for owners and
    admins: a whole workspace's history leaves Frontdesk this way."""
    require_manager(ask.user)
    fmt = _format(ask)
    filters = filters_of(ask)
    user = ask.user

    async def chunks() -> AsyncIterator[str]:
        current = filters
        first = True
        if fmt == "json":
            yield "[\n"
        while True:
            async with console.engine.begin() as conn:
                rows, more = await inbox.page(conn, user.workspace_id, user.id, current)
                names = await team_names(conn, user.workspace_id)
                found = [await _exported(conn, row.id, names) for row in rows]
            for one in found:
                if fmt == "json":
                    yield ("" if first else ",\n") + json.dumps(one.as_json(), ensure_ascii=False)
                elif fmt == "csv":
                    yield _csv(one.csv_rows(), header=first)
                else:
                    yield ("" if first else "\n" + "=" * 72 + "\n\n") + one.as_text()
                first = False
            if not more or not rows or current.query:
                break  # a search finds one page at most (inbox.SEARCH_LIMIT)
            current = inbox.Filters(
                current.view, current.status, current.channel_id, current.query,
                (rows[-1].last_message_at, rows[-1].id),
            )  # fmt: skip
        if fmt == "json":
            yield "\n]\n"

    media = FORMATS[fmt] + "; charset=utf-8"
    return StreamingResponse(chunks(), media_type=media, headers=_download(fmt, "conversations"))
