"""Named jobs: the `event` job files a stored webhook event and drives its conversation (handoff,
the linked handler, its replies into the outbox); the `send` job is in `sending`, the `profile`
and `media` jobs it enqueues are in `enrich`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, assert_never

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handlers import Handler, HistoryLine, InboundEvent, ReceivedAttachment, Turn
from frontdesk.core.handoff import (
    CustomerAskedHuman,
    HandlerRequestedHandoff,
    HandoffEvent,
    HandoffState,
    NotifyAgents,
    PageInboxReplied,
    ResumeHandler,
    ScheduleTimeout,
    SendAutoReply,
    SilenceHandler,
    handler_may_answer,
    is_human_request,
    transition,
)
from frontdesk.core.models import Author, EventKind, LinkKind, MessageStatus, Reply
from frontdesk.handlers import default_handlers
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
from frontdesk.store import outbox

from . import checkup, enrich, sending
from .loop import JobHandler, PermanentFailure
from .queue import Job

log = logging.getLogger("frontdesk.jobs")

HISTORY = 20
"""Earlier messages a handler gets with each turn."""


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


def event_job(
    our_app_id: str, handlers: Mapping[LinkKind, Handler], *, enriching: bool = False
) -> JobHandler:
    """With `enriching`, a newly filed message also enqueues its `profile` and `media` jobs."""

    async def process_event(conn: AsyncConnection, job: Job, now: float) -> None:
        event = _event_of(job.payload)
        channel = await store.channel_for_page(conn, str(job.payload["page_id"]))
        if channel is None or event.psid is None:
            return  # the Page was removed meanwhile, or the event names no person: nothing to file
        thread = await store.thread_for(conn, channel.id, event.psid, now)
        if isinstance(event, MessageEvent | PostbackEvent):
            message_id = await _inbound(conn, thread, event, now)
            if message_id is not None:
                if enriching:
                    await enrich.queue_profile(conn, thread.contact_id, now)
                    if isinstance(event, MessageEvent):
                        await enrich.queue_media(conn, message_id, _attachments(event), now)
                await _converse(conn, channel, thread, event, message_id, handlers, now)
        elif isinstance(event, EchoEvent):
            message_id = await _echo(conn, thread, event, our_app_id, now)
            if message_id is not None and enriching:
                await enrich.queue_media(conn, message_id, _attachments(event), now)
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
) -> int | None:
    """File the contact's message; its id, or None when there is nothing new to answer."""
    if event.standby:
        return None  # another app owns the thread; its copy is not ours to answer or file twice
    mid = event.mid or f"postback:{event.psid}:{event.timestamp}"
    if await store.has_message(conn, thread.channel_id, mid):
        return None  # a redelivery: stored (and answered) once
    await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
    if isinstance(event, MessageEvent):
        return await store.add_message(
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
    return await store.add_message(
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


async def _converse(
    conn: AsyncConnection,
    channel: store.Channel,
    thread: store.Thread,
    event: MessageEvent | PostbackEvent,
    message_id: int,
    handlers: Mapping[LinkKind, Handler],
    now: float,
) -> None:
    """A customer's new message: whether they ask for a person, then the handler's turn (only
    while it holds the conversation), its replies into the outbox and its handoff request."""
    state = await store.handoff_of(conn, thread.conversation_id)
    said = _asks_for_human(event)
    if said is not None:
        state = await _hand_off(conn, thread, state, CustomerAskedHuman(said), now)
    if not handler_may_answer(state):
        return  # a person is awaited or holds the conversation: the handler is not even called
    link = _link(channel.link)
    # A link kind whose handler does not exist yet behaves as `inbox`: stored, not answered.
    handler = handlers.get(link) or handlers.get(LinkKind.INBOX)
    if handler is None:
        return
    history = await store.history(conn, thread.conversation_id, message_id, HISTORY)
    turn = Turn(
        channel_id=str(channel.id),
        conversation_id=str(thread.conversation_id),
        contact=await store.contact(conn, thread.contact_id),
        event=_neutral(event),
        history=tuple(HistoryLine(author, text) for author, text in history),
        now=datetime.fromtimestamp(now, UTC),
    )
    try:
        outcome = await handler.handle(turn)
    except Exception:
        # The protocol's contract: an exception means "no answer this time". The message is
        # stored and shows in the inbox; the traceback goes to the log.
        log.exception(
            "the %s handler failed on conversation %s; no answer this time",
            link.value,
            thread.conversation_id,
        )
        return
    for reply in outcome.replies:
        await sending.queue_reply(conn, thread.conversation_id, reply, link.author, now)
    if outcome.handoff is not None:
        await _hand_off(conn, thread, state, HandlerRequestedHandoff(outcome.handoff), now)


async def _hand_off(
    conn: AsyncConnection,
    thread: store.Thread,
    state: HandoffState,
    event: HandoffEvent,
    now: float,
) -> HandoffState:
    """Apply one handoff event: store the new state, carry out the effects; the new state."""
    step = transition(state, event, datetime.fromtimestamp(now, UTC))
    if step.new_state != state:
        await store.save_handoff(conn, thread.conversation_id, step.new_state)
    for effect in step.effects:
        match effect:
            case SilenceHandler() | ResumeHandler():
                # Honoured through the stored stage: `handler_may_answer` reads it before every
                # turn, so the handler is silent from now on (or answers from the next message).
                pass
            case NotifyAgents(reason=reason):
                log.info("conversation %s waits for a person: %s", thread.conversation_id, reason)
            case SendAutoReply(text=text):
                await sending.queue_reply(
                    conn, thread.conversation_id, Reply(text=text), Author.BOT, now
                )
            case ScheduleTimeout(at=at):
                # Channels have no handoff timeouts yet (core's default settings set none).
                log.info("conversation %s: handoff timer due %s", thread.conversation_id, at)
            case _:
                assert_never(effect)
    return step.new_state


async def _echo(
    conn: AsyncConnection, thread: store.Thread, event: EchoEvent, our_app_id: str, now: float
) -> int | None:
    """File an echo; the id of the message it stored, None when it was one already stored."""
    if await store.has_message(conn, thread.channel_id, event.mid):
        # Our own send, filed under its mid by the send job, or a redelivered echo. Meta's
        # time is what read receipts go by.
        await outbox.note_echo_time(conn, thread.channel_id, event.mid, event.timestamp)
        return None
    ours = event.app_id is not None and event.app_id == our_app_id
    sent = sending.message_of_metadata(event.metadata) if ours else None
    if sent is not None and await outbox.match_echo(
        conn, thread.channel_id, sent, event.mid, event.timestamp, now
    ):
        return None  # our send, whose own record is not committed yet (or was lost in a crash)
    message_id = await store.add_message(
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
        # A person answered from Meta's Page Inbox (or another app did): a human has it now.
        state = await store.handoff_of(conn, thread.conversation_id)
        await _hand_off(conn, thread, state, PageInboxReplied(), now)
    return message_id


def _asks_for_human(event: MessageEvent | PostbackEvent) -> str | None:
    """What the customer said to ask for a person ("human", a HUMAN button), or None."""
    if isinstance(event, MessageEvent):
        candidates = [event.text, event.quick_reply_payload]
        said = event.text
    else:
        candidates = [event.payload, event.title]
        said = event.title
    for candidate in candidates:
        if candidate and is_human_request(candidate):
            return said or candidate
    return None


def _neutral(event: MessageEvent | PostbackEvent) -> InboundEvent:
    """The event as core's handlers see it, whatever webhook field carried it."""
    if isinstance(event, PostbackEvent):
        return InboundEvent(
            EventKind.POSTBACK,
            text=event.title,
            payload=event.payload,
            ref=event.referral.ref if event.referral else None,
        )
    media = tuple(ReceivedAttachment(item.kind, item.url or "") for item in event.attachments)
    if event.quick_reply_payload is not None:
        kind = EventKind.QUICK_REPLY
    elif any(item.kind == "location" for item in event.attachments):
        kind = EventKind.LOCATION
    elif media:
        kind = EventKind.ATTACHMENT
    else:
        kind = EventKind.MESSAGE
    return InboundEvent(
        kind,
        text=event.text,
        payload=event.quick_reply_payload,
        attachments=media,
        ref=event.referral.ref if event.referral else None,
    )


def _link(value: str) -> LinkKind:
    try:
        return LinkKind(value)
    except ValueError:
        return LinkKind.INBOX  # an unknown link answers nothing, as `inbox` does


def job_handlers(
    our_app_id: str = "",
    *,
    sender: sending.Sender | None = None,
    handlers: Mapping[LinkKind, Handler] | None = None,
    enricher: enrich.Enricher | None = None,
    doctor: checkup.Checkup | None = None,
) -> dict[str, JobHandler]:
    """Every job kind a worker runs. Without a `sender` no `send` job runs, and without an
    `enricher` no profiles are fetched nor attachments downloaded (nor enqueued), without a
    `doctor` no channel is re-examined: composition roots always give all three (tests of
    intake alone need none)."""
    kinds = {
        "event": event_job(
            our_app_id,
            default_handlers() if handlers is None else handlers,
            enriching=enricher is not None,
        )
    }
    if sender is not None:
        kinds[sending.SEND] = sending.send_job(sender)
    if enricher is not None:
        kinds[enrich.PROFILE] = enrich.profile_job(enricher)
        kinds[enrich.MEDIA] = enrich.media_job(enricher)
    if doctor is not None:
        kinds[checkup.DOCTOR] = checkup.doctor_job(doctor)
    return kinds
