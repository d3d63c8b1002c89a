"""Named jobs: the `event` job files stored webhook events (one conversation's, in order) and
drives the conversation (handoff, the linked handler's turn, in `turns`); the `send` job is in
`sending`, the `profile` and `media` jobs it enqueues are in `enrich`, a handler's continuations
(`resume`, `typing`) in `turns`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handlers import Handler, InboundEvent, ReceivedAttachment, answers
from frontdesk.core.handoff import (
    CustomerAskedHuman,
    PageInboxReplied,
    handler_may_answer,
    is_human_request,
)
from frontdesk.core.models import EventKind, LinkKind, MessageStatus
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
    ReferralEvent,
    read_stored,
)
from frontdesk.store import conversations as store
from frontdesk.store import hooks, outbox

from . import (
    botprofile,
    checkup,
    enrich,
    erase,
    handing,
    notices,
    presence,
    queue,
    referrals,
    sending,
    snoozing,
    turns,
)
from .loop import JobHandler
from .queue import Job
from .turns import hand_off as _hand_off
from .webcall import WebCaller

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


def _stored_events(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The events a job holds (`event`, `standby`, `body_id`), in order: several of one
    conversation, or one alone, as jobs queued before they were grouped (`store.intake`)."""
    held: list[Mapping[str, Any]] = payload.get("events", [payload])
    return held


def event_job(
    our_app_id: str, handlers: Mapping[LinkKind, Handler], *, enriching: bool = False
) -> JobHandler:
    """With `enriching`, a newly filed message also enqueues its `profile` and `media` jobs."""

    async def process_event(conn: AsyncConnection, job: Job, now: float) -> None:
        page_id = str(job.payload["page_id"])
        stored = _stored_events(job.payload)
        # A job of several events that failed before (`attempts` counts this run too, and
        # not a run of a batch that rolled back): each event on a savepoint, and one that
        # fails again is split off (`_apart`), so it no longer costs its conversation's other
        # events their filing. A first run takes none: they had doubled the CPU per message.
        careful = job.attempts > 1 and len(stored) > 1
        channel = await store.channel_for_page(conn, page_id)
        took_turn = False
        for item in stored:
            if took_turn:
                # The turn may have flagged the channel, or cleared its flag (`unanswered`).
                channel = await store.channel_for_page(conn, page_id)
            if channel is None:
                return  # the Page was removed meanwhile: nothing to file
            event = read_stored(page_id, item["event"], bool(item.get("standby")))
            if not careful:
                took_turn = await file_event(conn, channel, event, now)
                continue
            try:
                async with conn.begin_nested():
                    took_turn = await file_event(conn, channel, event, now)
            except Exception as err:
                await _apart(conn, job, item, err, now)
                took_turn = False

    async def file_event(
        conn: AsyncConnection, channel: store.Channel, event: Event, now: float
    ) -> bool:
        """File one event; whether a customer's message got to its handler's turn."""
        if event.psid is None:
            return False  # the event names no person: nothing to file
        if isinstance(event, EchoEvent) and await outbox.note_echo_time(
            conn, channel.id, event.mid, event.timestamp
        ):
            # Our own send, filed under its mid by the send job, or a redelivered echo: only
            # Meta's time to keep (read receipts go by it). Most echoes end here.
            return False
        if isinstance(event, DeliveryEvent | ReadEvent):
            if isinstance(event, DeliveryEvent):
                status, mids = MessageStatus.DELIVERED, event.mids
            else:
                status, mids = MessageStatus.READ, ()
            await store.mark_outbound(
                conn, channel.id, event.psid, event.watermark, status, now, mids
            )
            return False
        thread = await store.thread_for(conn, channel.id, event.psid, now)
        if isinstance(event, MessageEvent | PostbackEvent):
            message_id = await _inbound(conn, thread, event, now)
            if message_id is not None:
                if enriching:
                    await enrich.queue_profile(conn, thread, now)
                    if isinstance(event, MessageEvent):
                        await enrich.queue_media(conn, message_id, _attachments(event), now)
                if event.referral is not None:
                    await referrals.record(conn, thread, event.referral, now)
                return await _converse(conn, channel, thread, event, message_id, handlers, now)
        elif isinstance(event, EchoEvent):
            message_id = await _echo(conn, thread, event, our_app_id, now)
            if message_id is not None and enriching:
                await enrich.queue_media(conn, message_id, _attachments(event), now)
        elif isinstance(event, ReactionEvent):
            await store.react(
                conn, channel.id, event.mid, event.emoji if event.action == "react" else None
            )
            await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
        elif isinstance(event, MessageEditEvent):
            await store.edit(conn, channel.id, event.mid, event.text or "")
        elif isinstance(event, ReferralEvent):
            await referrals.record(conn, thread, event.referral, now)
            # An m.me link or an ad into an existing conversation opens the 24-hour window
            # again (digest §6), though the customer wrote nothing.
            await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
        return False

    return process_event


async def _apart(
    conn: AsyncConnection, job: Job, item: Mapping[str, Any], err: Exception, now: float
) -> None:
    """One event of `job` failed again on its own: a dead job of its own, with its error."""
    log.exception("event job %s: one of its events failed again and is kept apart", job.id)
    await queue.bury(
        conn,
        "event",
        {"page_id": job.payload["page_id"], "events": [dict(item)]},
        key=job.key,
        error=f"{type(err).__name__}: {err}",
        attempts=job.attempts,
        now=now,
    )


async def _inbound(
    conn: AsyncConnection, thread: store.Thread, event: MessageEvent | PostbackEvent, now: float
) -> int | None:
    """File the contact's message; its id, or None when there is nothing new to answer."""
    if event.standby:
        return None  # another app owns the thread; its copy is not ours to answer or file twice
    mid = event.mid or f"postback:{event.psid}:{event.timestamp}"
    if isinstance(event, MessageEvent):
        content: dict[str, Any] = {
            "text": event.text,
            "attachments": _attachments(event) or None,
            "outgoing": {"quick_reply": event.quick_reply_payload}
            if event.quick_reply_payload
            else None,
            "reply_to_mid": event.reply_to.mid if event.reply_to else None,
        }
    else:
        content = {"text": event.title, "outgoing": {"postback": event.payload}}
    message_id = await store.add_new_message(
        conn,
        thread,
        now,
        mid=mid,
        direction="inbound",
        author="contact",
        status="received",
        meta_timestamp=event.timestamp,
        **content,
    )
    if message_id is None:
        return None  # a redelivery: stored (and answered) once
    await store.touch_contact(conn, thread.contact_id, event.timestamp / 1000)
    return message_id


async def _converse(
    conn: AsyncConnection,
    channel: store.Channel,
    thread: store.Thread,
    event: MessageEvent | PostbackEvent,
    message_id: int,
    handlers: Mapping[LinkKind, Handler],
    now: float,
) -> bool:
    """A customer's new message: whether they ask for a person, then the handler's turn (only
    while it holds the conversation), its replies into the outbox and its handoff request.
    Whether the handler took its turn."""
    state = await store.handoff_of(conn, thread.conversation_id)
    said = _asks_for_human(event, channel.human_words)
    if said is not None:
        state = await _hand_off(conn, thread, state, CustomerAskedHuman(said), now)
    if not handler_may_answer(state):
        return False  # a person is awaited or holds the conversation: the handler is not called
    handler = turns.handler_for(turns.link_of(channel.link), handlers)
    if handler is None or not answers(handler):
        return False
    await turns.take_turn(
        conn, channel, thread, handler, _neutral(event), state, now, before=message_id
    )
    return True


async def _echo(
    conn: AsyncConnection, thread: store.Thread, event: EchoEvent, our_app_id: str, now: float
) -> int | None:
    """File an echo whose mid no message has (`note_echo_time` came first); the id of the
    message it stored, None when it was our send."""
    # Ours: sent by the operator's app, or by the channel's own app (a manual setup, or a
    # workspace's own app); only then is its `metadata` our tag.
    ours = event.app_id is not None and (
        event.app_id == our_app_id or event.app_id == await hooks.app_id_of(conn, thread.channel_id)
    )
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


def _asks_for_human(event: MessageEvent | PostbackEvent, keywords: Sequence[str]) -> str | None:
    """What the customer said to ask for a person ("human", a HUMAN button, or another of the
    channel's `keywords`), or None."""
    if isinstance(event, MessageEvent):
        candidates = [event.text, event.quick_reply_payload]
        said = event.text
    else:
        candidates = [event.payload, event.title]
        said = event.title
    for candidate in candidates:
        if candidate and is_human_request(candidate, keywords):
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


def job_handlers(
    our_app_id: str = "",
    *,
    sender: sending.Sender | None = None,
    handlers: Mapping[LinkKind, Handler] | None = None,
    enricher: enrich.Enricher | None = None,
    doctor: checkup.Checkup | None = None,
    caller: WebCaller | None = None,
    pusher: botprofile.Pusher | None = None,
) -> dict[str, JobHandler]:
    """Every job kind a worker runs. Without a `sender` no `send` job runs, and without an
        `enricher` no profiles are fetched nor attachments downloaded (nor enqueued), without a
        `doctor` no channel is re-examined: composition roots always give all three (tests of
        intake alone need none). Without a `caller`, a bot's HTTP calls fail with that reason;
    without a `pusher`, no bot's Messenger profile is pushed."""
    chosen = default_handlers() if handlers is None else handlers
    kinds = {
        "event": event_job(our_app_id, chosen, enriching=enricher is not None),
        turns.RESUME: turns.resume_job(chosen, caller),
        handing.TIMEOUT: handing.timeout_job(),
        snoozing.WAKE: snoozing.wake_job(),
        erase.ERASE: erase.erase_job(),
    }
    if sender is not None:
        kinds[sending.SEND] = sending.send_job(sender)
        kinds[turns.TYPING] = turns.typing_job(sender)
        kinds[presence.SENDER_ACTION] = presence.presence_job(sender)
    if enricher is not None:
        kinds[enrich.PROFILE] = enrich.profile_job(enricher)
        kinds[enrich.MEDIA] = enrich.media_job(enricher)
    if doctor is not None:
        kinds[checkup.DOCTOR] = checkup.doctor_job(doctor)
        kinds[notices.NOTICE] = notices.notice_job(doctor.notifier)
    if pusher is not None:
        kinds[botprofile.PUSH] = botprofile.push_job(pusher)
    return kinds
