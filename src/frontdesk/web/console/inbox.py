"""The agent inbox's pages: the conversation list (views, statuses, channel, search) and one
conversation (transcript, contact panel, composer), plus the fragments the page's script asks
for when a change is announced (`live.py`). Every page also works without the script."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from frontdesk.core.models import ConversationStatus, LinkKind
from frontdesk.store import accounts, canned, inbox, notes, transcripts
from frontdesk.store import memory as remembered
from frontdesk.store.changes import Hub
from frontdesk.store.media import MediaStore
from frontdesk.web.access import NotFound, access_channels, access_conversation

from .context import Ask, Console
from .window import how_it_goes, span, window

LINK_AUTHORS = {
    LinkKind.RULES.value: "The bot",
    LinkKind.AI.value: "The AI agent",
    LinkKind.ENDPOINT.value: "The business's service",
}
HANDLER_WORDS = {
    LinkKind.RULES.value: "the bot",
    LinkKind.AI.value: "the AI agent",
    LinkKind.ENDPOINT.value: "the business's service",
}
AUTHOR_WORDS = {
    "contact": "Customer",
    "bot": "Bot",
    "ai": "AI",
    "endpoint": "Service",
    "agent": "Agent",
    "page_inbox": "Meta Page Inbox",
}
STATUS_WORDS = {
    "open": "Open",
    "pending": "Pending",
    "snoozed": "Snoozed",
    "resolved": "Resolved",
}
VIEW_WORDS = {"mine": "Mine", "unassigned": "Unassigned", "all": "All"}


@dataclass
class Inbox:
    """What the inbox's views need beyond the console: the live hub, the kept media, and the
    key that signs the addresses of files agents send (Meta fetches them without a session)."""

    hub: Hub
    media: MediaStore
    files_key: bytes
    heartbeat: float = 20.0
    """Seconds between keep-alives on a live connection (proxies close silent ones)."""
    snooze_choices: Mapping[str, float] = field(
        default_factory=lambda: {"1 hour": 3600.0, "Tomorrow": 86400.0, "A week": 7 * 86400.0}
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def install_filters(env: Environment) -> None:
    """The inbox's template filters: `iso` times (the page's script shows them in local
    time)."""
    env.filters["iso"] = _iso


def filters_of(ask: Ask) -> inbox.Filters:
    """The list's filters from the query string; anything unknown falls back to the default."""
    query = ask.request.query_params
    view = query.get("view", "all")
    status = query.get("status", ConversationStatus.OPEN.value)
    channel = query.get("channel", "")
    before = inbox.parse_cursor(query.get("before", ""))
    return inbox.Filters(
        view=view if view in inbox.VIEWS else "all",
        status=status if status in inbox.STATUSES else ConversationStatus.OPEN.value,
        channel_id=int(channel)
        if channel.isascii() and channel.isdigit() and len(channel) < 10
        else None,
        # Control characters match nothing anyone typed (and PostgreSQL refuses NUL).
        query="".join(ch for ch in query.get("q", "") if ch.isprintable())[: inbox.QUERY_LIMIT],
        before=before,
    )


def query_string(filters: inbox.Filters, **changes: Any) -> str:
    """The filters as a query string (defaults left out), with `changes` applied."""
    values: dict[str, Any] = {
        "view": filters.view,
        "status": filters.status,
        "channel": filters.channel_id,
        "q": filters.query,
    }
    values.update(changes)
    defaults = {"view": "all", "status": "open", "channel": None, "q": ""}
    kept = {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}
    return f"?{urlencode(kept)}" if kept else ""


async def team_names(conn: AsyncConnection, workspace_id: int) -> dict[str, str]:
    """The workspace's people by the id an assignee holds."""
    return {str(person.id): person.name for person in await accounts.members(conn, workspace_id)}


def handler_words(link: str) -> str | None:
    """Who answers the channel's conversations when no person has them; None for `inbox`."""
    return HANDLER_WORDS.get(link)


def holder(detail: inbox.Detail, names: Mapping[str, str]) -> str:
    """Who answers the conversation now, in words."""
    stage = detail.stage
    if stage == "human_requested":
        reason = detail.handoff.get("reason") or "a person was asked for"
        return f"Waiting for a person: {reason}"
    if stage == "human":
        if detail.assignee is None:
            return "A person in Meta's Page Inbox has it"
        return f"{names.get(detail.assignee, 'A former agent')} has it"
    bot = LINK_AUTHORS.get(detail.link)
    return f"{bot} answers" if bot else "Nobody has taken it"


async def _list_context(console: Console, ask: Ask, conn: AsyncConnection) -> dict[str, Any]:
    user = ask.user
    filters = filters_of(ask)
    rows, more = await inbox.page(conn, user.workspace_id, user.id, filters)
    return {
        "filters": filters,
        "rows": rows,
        "more": more,
        "counts": await inbox.counts(conn, user.workspace_id, user.id, filters),
        "channels": await access_channels(conn, user),
        "names": await team_names(conn, user.workspace_id),
        "qs": query_string(filters),
        "query_string": query_string,
        "conversation_words": STATUS_WORDS,
        "view_words": VIEW_WORDS,
        "now": console.clock(),
        "open_id": None,
    }


async def list_page(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        context = await _list_context(console, ask, conn)
    return ask.render(console, "inbox.html", nav="inbox", conversation=None, **context)


async def list_part(box: Inbox, console: Console, ask: Ask) -> Response:
    """The list alone, for the page's script to swap in when something changed."""
    async with console.engine.begin() as conn:
        context = await _list_context(console, ask, conn)
    opened = ask.request.query_params.get("open", "")
    context["open_id"] = int(opened) if opened.isdigit() and len(opened) < 10 else None
    return ask.render(console, "_inbox_list.html", **context)


async def _conversation_context(
    box: Inbox, console: Console, ask: Ask, conn: AsyncConnection, conversation_id: int
) -> dict[str, Any]:
    user = ask.user
    now = console.clock()
    detail = await inbox.detail(conn, conversation_id)
    names = await team_names(conn, user.workspace_id)
    memory = await remembered.load(conn, detail.id, detail.contact_id)
    return {
        "c": detail,
        "names": names,
        "holder": holder(detail, names),
        "assignee_name": names.get(detail.assignee or "", None),
        "window": window(detail.last_user_at, now, has_human_agent=detail.has_human_agent),
        "how": how_it_goes(detail.last_user_at, now, has_human_agent=detail.has_human_agent),
        "came_from": await notes.latest(conn, detail.id, notes.REFERRAL),
        "fields": dict(memory.fields),
        "tags": sorted(memory.tags),
        "canned": await canned.of_workspace(conn, user.workspace_id),
        "author_words": AUTHOR_WORDS,
        "cid": detail.id,
        "handler_words": handler_words(detail.link),
        "conversation_words": STATUS_WORDS,
        "snooze_choices": box.snooze_choices,
        "span": span,
        "now": now,
    }


async def conversation_page(box: Inbox, console: Console, ask: Ask) -> Response:
    """One conversation, as it is: showing it changes nothing (a GET may be prefetched, or
    fetched again by the page's script). Its messages become read, and Messenger is told the
    Page saw them, by the `seen` form the page's script sends once the page is in view."""
    return await show(box, console, ask, ask.request.path_params["conversation_id"])


async def show(
    box: Inbox,
    console: Console,
    ask: Ask,
    conversation_id: int,
    status: int = 200,
    *,
    notice: str | None = None,
) -> Response:
    """The conversation page (also after a form, with its errors and what was typed)."""
    user = ask.user
    before = ask.request.query_params.get("before", "")
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, user, conversation_id)
        context = await _list_context(console, ask, conn)
        context["open_id"] = ref.id
        context.update(await _conversation_context(box, console, ask, conn, ref.id))
        context["transcript"] = await transcripts.page(
            conn, ref.id, before=int(before) if before.isdigit() and len(before) < 19 else None
        )
    if notice is not None:
        context["notice"] = notice
    return ask.render(console, "inbox.html", status, nav="inbox", conversation=ref.id, **context)


async def parts(box: Inbox, console: Console, ask: Ask) -> Response:
    """The conversation's header, contact panel and composer hint, for the page's script."""
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        context = await _conversation_context(box, console, ask, conn, ref.id)
    return ask.render(console, "_conversation_parts.html", **context)


def _item_context(console: Console, conversation_id: int) -> dict[str, Any]:
    return {"cid": conversation_id, "author_words": AUTHOR_WORDS, "now": console.clock()}


async def message_part(box: Inbox, console: Console, ask: Ask) -> Response:
    """One message, as the transcript shows it (after it arrived or changed)."""
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        found = await transcripts.message(conn, ref.id, ask.request.path_params["message_id"])
    if found is None:
        raise NotFound("message")
    return ask.render(console, "_item.html", item=found, **_item_context(console, ref.id))


async def note_part(box: Inbox, console: Console, ask: Ask) -> Response:
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        found = await transcripts.note(conn, ref.id, ask.request.path_params["note_id"])
    if found is None:
        raise NotFound("note")
    return ask.render(console, "_item.html", item=found, **_item_context(console, ref.id))
