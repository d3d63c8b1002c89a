"""A handler's turn in a conversation, and what its Outcome makes happen.

Before the turn, the worker loads what the link uses: the conversation's memory (handler
state, the contact's fields and tags) and, for `rules`, the channel's bot (compiled once per
definition: versions are immutable and keyed by digest). After it, in the same transaction:
replies into the outbox, memory changes, the conversation resolved, the handoff, and a
continuation when the handler asked for one (`core.Later`):

- `resume` job, keyed like the conversation's events so nothing the contact sends overtakes it
  (and nothing it sends first is overtaken): due after the wait, or at once for an HTTP call,
  which it makes outside any transaction (`loop.Outside`) before the turn goes on in a second.
- `typing` job for a wait, keyed like the conversation's sends so the indicator comes after
  the replies already queued: a cosmetic sender action, whose failure is logged, not retried.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.handlers import (
    NO_MEMORY,
    CallResult,
    Handler,
    HistoryLine,
    HttpCall,
    InboundEvent,
    Later,
    Outcome,
    Resumed,
    Turn,
)
from frontdesk.core.handoff import (
    HandlerRequestedHandoff,
    HandoffEvent,
    HandoffState,
    handler_may_answer,
)
from frontdesk.core.models import EventKind, LinkKind
from frontdesk.core.rules import Bot, BotInvalid, build
from frontdesk.messenger import MessengerError
from frontdesk.store import bots, outbox
from frontdesk.store import conversations as store
from frontdesk.store import memory as remembered

from . import handing, queue, sending, unanswered
from .loop import JobHandler, Outside
from .queue import Job
from .webcall import WebCaller

log = logging.getLogger("frontdesk.turns")

RESUME = "resume"
TYPING = "typing"
HISTORY = 20
"""Earlier messages a handler gets with each turn..."""
HISTORY_OF = {LinkKind.RULES: 1}
"""...but those that use fewer: the rule bot only asks whether there was an earlier message
(Get Started and welcome rules answer a conversation's first)."""
REMEMBERING = frozenset({LinkKind.RULES})
"""Links whose turns get the conversation's memory (loading it costs a query)."""
_COMPILED: OrderedDict[str, Bot] = OrderedDict()
_COMPILED_MOST = 256
_LATEST = 2**62


def link_of(value: str) -> LinkKind:
    try:
        return LinkKind(value)
    except ValueError:
        return LinkKind.INBOX  # an unknown link answers nothing, as `inbox` does


def handler_for(link: LinkKind, handlers: Mapping[LinkKind, Handler]) -> Handler | None:
    """A link kind whose handler does not exist yet behaves as `inbox`: stored, not answered."""
    return handlers.get(link) or handlers.get(LinkKind.INBOX)


async def bot_for(conn: AsyncConnection, channel_id: int) -> Bot | None:
    """The channel's bot as it is now, compiled; None when it has none. Raises BotInvalid when
    its version cannot run (saved versions were valid when saved; only a stricter Frontdesk
    makes one invalid)."""
    running = await bots.running(conn, channel_id)
    if running is None:
        return None
    version_id, digest = running
    bot = _COMPILED.get(digest)
    if bot is not None:
        _COMPILED.move_to_end(digest)
        return bot
    bot = build(await bots.definition(conn, version_id), digest)
    _COMPILED[digest] = bot
    if len(_COMPILED) > _COMPILED_MOST:
        _COMPILED.popitem(last=False)
    return bot


async def take_turn(
    conn: AsyncConnection,
    channel: store.Channel,
    thread: store.Thread,
    handler: Handler,
    event: InboundEvent,
    handoff: HandoffState,
    now: float,
    *,
    before: int = _LATEST,
    resumed: Resumed | None = None,
) -> None:
    """Build the turn, call the handler and apply its Outcome. `before` is the id of the
    message the turn answers (history is what came before it)."""
    link = link_of(channel.link)
    memory = NO_MEMORY
    if link in REMEMBERING:
        memory = await remembered.load(conn, thread.conversation_id, thread.contact_id)
    lines = HISTORY_OF.get(link, HISTORY)
    history = await store.history(conn, thread.conversation_id, before, lines)
    bot = None
    if link is LinkKind.RULES:
        try:
            bot = await bot_for(conn, channel.id)
        except BotInvalid as err:
            why = unanswered.invalid(err)
            await unanswered.could_not_answer(conn, channel, thread, why, now)
            return
    turn = Turn(
        channel_id=str(channel.id),
        conversation_id=str(thread.conversation_id),
        contact=thread.contact or await store.contact(conn, thread.contact_id),
        event=event,
        history=tuple(HistoryLine(author, text) for author, text in history),
        now=datetime.fromtimestamp(now, UTC),
        memory=memory,
        bot=bot,
        resumed=resumed,
    )
    try:
        outcome = await handler.handle(turn)
    except Exception as err:
        # The protocol's contract: an exception means "no answer this time". The message is
        # stored and shows in the inbox, with a line saying why; the traceback goes to the log.
        log.exception(
            "the %s handler failed on conversation %s; no answer this time",
            link.value,
            thread.conversation_id,
        )
        why = unanswered.crashed(link.value, err)
        await unanswered.could_not_answer(conn, channel, thread, why, now)
        return
    await apply(conn, channel, thread, link, outcome, handoff, now)
    await unanswered.answered(conn, channel, now)


async def apply(
    conn: AsyncConnection,
    channel: store.Channel,
    thread: store.Thread,
    link: LinkKind,
    outcome: Outcome,
    handoff: HandoffState,
    now: float,
) -> None:
    """Everything the Outcome asks, in the caller's transaction; the handoff last, so a
    reply can announce it."""
    for reply in outcome.replies:
        await sending.queue_reply(conn, thread.conversation_id, reply, link.author, now)
    if outcome.state is not None:
        await remembered.save_state(conn, thread.conversation_id, outcome.state, now)
    if outcome.fields:
        await remembered.set_fields(conn, thread.contact_id, outcome.fields, now)
    if outcome.add_tags or outcome.remove_tags:
        await remembered.change_tags(
            conn, thread.contact_id, outcome.add_tags, outcome.remove_tags, now
        )
    if outcome.resolve:
        await remembered.resolve(conn, thread.conversation_id)
    if outcome.later is not None:
        await _schedule(conn, channel, thread, outcome.later, now)
    if outcome.handoff is not None:
        await hand_off(conn, thread, handoff, HandlerRequestedHandoff(outcome.handoff), now)


async def hand_off(
    conn: AsyncConnection,
    thread: store.Thread,
    state: HandoffState,
    event: HandoffEvent,
    now: float,
) -> HandoffState:
    """Apply one handoff event with the channel's handoff settings (`handing`); the new state."""
    return await handing.hand_off(conn, thread, state, event, now)


# --- continuations ---------------------------------------------------------------------------


def conversation_key(page_id: str, psid: str) -> str:
    """The key of a conversation's event jobs (as the intake writes it)."""
    return f"{page_id}:{psid}"


async def _schedule(
    conn: AsyncConnection, channel: store.Channel, thread: store.Thread, later: Later, now: float
) -> None:
    psid = (thread.contact or await store.contact(conn, thread.contact_id)).psid
    payload: dict[str, Any] = {"page_id": channel.page_id, "psid": psid, "token": later.token}
    if later.call is not None:
        call = later.call
        payload["call"] = {
            "method": call.method,
            "url": call.url,
            "headers": [list(pair) for pair in call.headers],
            "body": call.body,
            "timeout": call.timeout,
        }
    await queue.enqueue(
        conn,
        RESUME,
        payload,
        key=conversation_key(channel.page_id, psid),
        now=now,
        run_at=now + later.delay,
    )
    if later.delay > 0:
        await queue.enqueue(
            conn,
            TYPING,
            {"conversation_id": thread.conversation_id, "channel_id": channel.id, "psid": psid},
            key=sending.send_key(channel.id, thread.conversation_id),
            now=now,
        )


def resume_job(handlers: Mapping[LinkKind, Handler], caller: WebCaller | None) -> JobHandler:
    """Continue a turn the handler paused: at once after a wait, or once its call is made."""

    async def resume(conn: AsyncConnection, job: Job, now: float) -> Outside[Any] | None:
        payload = job.payload
        token = str(payload["token"])
        spec = payload.get("call")
        if spec is None:
            await _go_on(conn, handlers, payload, Resumed(token), now)
            return None
        call = HttpCall(
            str(spec["method"]),
            str(spec["url"]),
            tuple((str(k), str(v)) for k, v in spec.get("headers", ())),
            spec.get("body"),
            float(spec.get("timeout", 5.0)),
        )

        async def make() -> CallResult:
            if caller is None:
                return CallResult(error="this worker is not set up to make HTTP calls")
            return await caller.call(call)

        async def record(conn: AsyncConnection, result: CallResult, now: float) -> None:
            await _go_on(conn, handlers, payload, Resumed(token, result), now)

        return Outside(make, record)

    return resume


async def _go_on(
    conn: AsyncConnection,
    handlers: Mapping[LinkKind, Handler],
    payload: Mapping[str, Any],
    resumed: Resumed,
    now: float,
) -> None:
    channel = await store.channel_for_page(conn, str(payload["page_id"]))
    if channel is None:
        return  # the Page was removed meanwhile
    thread = await store.thread_for(conn, channel.id, str(payload["psid"]), now)
    handoff = await store.handoff_of(conn, thread.conversation_id)
    if not handler_may_answer(handoff):
        return  # a person took the conversation meanwhile: the bot stays silent
    handler = handler_for(link_of(channel.link), handlers)
    if handler is None:
        return
    event = InboundEvent(EventKind.RESUME)
    await take_turn(conn, channel, thread, handler, event, handoff, now, resumed=resumed)


def typing_job(sender: sending.Sender) -> JobHandler:
    """Show the typing indicator during a bot's wait (best effort: see the module)."""

    async def typing(conn: AsyncConnection, job: Job, now: float) -> Outside[Any] | None:
        channel = await outbox.sending_channel(conn, int(job.payload["channel_id"]))
        if channel is None or channel.paused or channel.page_token is None:
            return None
        token = sender.secrets.decrypt(channel.page_token)
        psid = str(job.payload["psid"])

        async def show() -> str | None:
            try:
                await sender.client.sender_action(token, psid, "typing_on")
            except MessengerError as err:
                return f"{type(err).__name__}: {err}"
            return None

        async def record(conn: AsyncConnection, problem: str | None, now: float) -> None:
            if problem is not None:
                log.warning("typing indicator for %s not shown: %s", channel.page_id, problem)

        return Outside(show, record)

    return typing
