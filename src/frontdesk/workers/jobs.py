"""Named jobs: what a worker does with a stored webhook event."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import MessageStatus
from frontdesk.messenger import (
    DeliveryEvent,
    EchoEvent,
    Event,
    MessageEditEvent,
    MessageEvent,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    parse,
)
from frontdesk.store import conversations as store

from .loop import JobHandler, PermanentFailure
from .queue import Job

log = logging.getLogger("frontdesk.jobs")


def _attachments(event: MessageEvent | EchoEvent) -> list[dict[str, Any]]:
    out = []
    for item in event.attachments:
        entry: dict[str, Any] = {"type": item.kind, "url": item.url}
        if item.title:
            entry["title"] = item.title
        if item.coordinates is not None:
            entry["coordinates"] = {"lat": item.coordinates.lat, "long": item.coordinates.long}
        if item.kind == "template":
            entry["payload"] = dict(item.payload)
        out.append(entry)
    return out


def _event_of(payload: Mapping[str, Any]) -> Event:
    """Rebuild the typed event from the job: the raw event inside a one-entry envelope."""
    channel = "standby" if payload.get("standby") else "messaging"
    body = {
        "object": "page",
        "entry": [{"id": payload["page_id"], "time": 0, channel: [payload["event"]]}],
    }
    events = parse(body).events
    if len(events) != 1:
        raise PermanentFailure("the stored event does not parse to exactly one event")
    return events[0]


def event_job(our_app_id: str) -> JobHandler:
    async def process_event(conn: AsyncConnection, job: Job, now: float) -> None:
        event = _event_of(job.payload)
        channel = await store.channel_for_page(conn, str(job.payload["page_id"]))
        if channel is None or event.psid is None:
            return  # the Page was removed meanwhile, or the event names no person: nothing to file
        thread = await store.thread_for(conn, channel.id, event.psid, now)
        if isinstance(event, MessageEvent | PostbackEvent):
            await _inbound(conn, thread, event, now)
        elif isinstance(event, EchoEvent):
            await _echo(conn, thread, event, our_app_id, now)
        elif isinstance(event, DeliveryEvent):
            await store.mark_outbound(
                conn, thread, event.watermark, MessageStatus.DELIVERED, now, event.mids
            )
        elif isinstance(event, ReadEvent):
            await store.mark_outbound(conn, thread, event.watermark, MessageStatus.READ, now)
        elif isinstance(event, ReactionEvent):
            await store.react(
                conn, channel.id, event.mid, event.emoji if event.action == "react" else None
            )
            await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
        elif isinstance(event, MessageEditEvent):
            await store.edit(conn, channel.id, event.mid, event.text or "")

    return process_event


async def _inbound(
    conn: AsyncConnection, thread: store.Thread, event: MessageEvent | PostbackEvent, now: float
) -> None:
    if event.standby:
        return  # another app owns the thread; its copy is not ours to answer or file twice
    mid = event.mid or f"postback:{event.psid}:{event.timestamp}"
    if await store.has_message(conn, thread.channel_id, mid):
        return  # a redelivery: stored once
    await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
    if isinstance(event, MessageEvent):
        await store.add_message(
            conn,
            thread,
            now,
            mid=mid,
            direction="inbound",
            author="contact",
            text=event.text,
            attachments=_attachments(event) or None,
            outgoing={"quick_reply": event.quick_reply_payload}
            if event.quick_reply_payload
            else None,
            status="received",
            reply_to_mid=event.reply_to.mid if event.reply_to else None,
            meta_timestamp=event.timestamp,
        )
    else:
        await store.add_message(
            conn,
            thread,
            now,
            mid=mid,
            direction="inbound",
            author="contact",
            text=event.title,
            outgoing={"postback": event.payload},
            status="received",
            meta_timestamp=event.timestamp,
        )


async def _echo(
    conn: AsyncConnection, thread: store.Thread, event: EchoEvent, our_app_id: str, now: float
) -> None:
    if await store.has_message(conn, thread.channel_id, event.mid):
        return  # our own send, already filed under its mid, or a redelivered echo
    ours = event.app_id is not None and event.app_id == our_app_id
    await store.add_message(
        conn,
        thread,
        now,
        mid=event.mid,
        direction="outbound",
        author="bot" if ours else "page_inbox",
        text=event.text,
        attachments=_attachments(event) or None,
        status="sent",
        meta_timestamp=event.timestamp,
        sent_at=now,
    )
    if not ours:
        # A person answered from Meta's Page Inbox or another app: a human has the conversation.
        await store.set_owner(conn, thread.conversation_id, "human")


def job_handlers(our_app_id: str = "") -> dict[str, JobHandler]:
    return {"event": event_job(our_app_id)}
