"""The outbox's two ends: `queue_reply` stores a reply and enqueues its send in the caller's
transaction; the `send` job sends it to Messenger, in order, under the send policy and the rules
Meta's errors call for (digest §9, §10).

Order. A `send` job is keyed by conversation (`send:<channel>:<conversation>`), and it sends
that conversation's OLDEST queued message, whichever message it was enqueued for: the order is
the messages' own and survives retries, holds and pauses. Every queued message has a job ahead
of it: `queue_reply` enqueues one per message, a job that finished a message makes sure another
waits when more remain, and a job that must wait enqueues its own successor. Extra jobs are
harmless: they find nothing queued, or the next message.

Outcomes, by Meta's answer:
- accepted: the `mid` is stored, status sent. A job that finds a `mid` on a queued message (an
  earlier attempt got through) never sends it again.
- RetryLater, or a TransportError that provably never reached Meta: tried again after Meta's
  `retry_after`, else an exponential backoff; throttling codes (4, 17, 32, 613, 80001, 80006)
  hold the whole Page, anything else the conversation. After MAX_TRIES the message fails.
- no answer (a timeout, a reset, a worker killed during the call): the outcome is unknown, and
  only the echo can tell (every send carries `metadata` "fd:<id>"; the `event` job files our
  echo onto the message with its `mid`). Without an echo within ECHO_GRACE the message fails
  with a plain reason and is never sent again on its own: see `_settle_unknown`.
- TokenBroken: the channel is flagged `reconnect_needed` with the reason and its outbox PAUSES:
  messages stay queued and jobs stop without calling Meta. `reconnect` stores the new token and
  restarts the sends, in order.
- UserUnreachable: the contact is marked unreachable and the message fails.
- WindowClosed, PermissionProblem, BadRequest: the message fails with a plain reason; a
  restricted Page also flags the channel.

Meta is called OUTSIDE any database transaction (the job returns a `loop.Outside`): on SQLite a
transaction holds the one write lock, hence the webhook intake, and a Send API call may take
seconds. The first transaction marks the message (`attempt_started`) before the call, the
second records the answer; a job that finds the mark without an answer knows the outcome is
unknown rather than guessing.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.core.models import Author, FailureCode, MessageStatus, QuickReply, Reply
from frontdesk.core.policy import Allowed, Blocked, decide
from frontdesk.messenger import (
    BadRequest,
    GraphError,
    PermissionProblem,
    RetryLater,
    SendClient,
    SendResult,
    TokenBroken,
    TransportError,
    UserUnreachable,
    WindowClosed,
)
from frontdesk.store import outbox
from frontdesk.store.channels import REMOVED
from frontdesk.store.prepared import Prepared
from frontdesk.store.secrets import SecretError, Secrets
from frontdesk.store.tables import jobs, not_taken

from . import queue
from .loop import JobHandler, Outside, PermanentFailure
from .queue import Job

log = logging.getLogger("frontdesk.sending")

SEND = "send"
MAX_TRIES = 10
""""Try later" answers before a message fails: with the backoff alone, some six to eight
minutes; longer when Meta says how long to wait."""
PAGE_RATE = 50
"""Sends per second per Page and process unless told (`FRONTDESK_SENDS_PER_SECOND`); Meta
allows 300 (digest §10)."""
PAGE_THROTTLES = frozenset({4, 17, 32, 613, 80001, 80006})
"""Throttling that concerns the Page (or the app) rather than one conversation."""
METADATA_PREFIX = "fd:"
ECHO_GRACE = 30.0
"""Seconds after a send whose outcome is unknown to wait for its echo before giving up on it."""


def send_key(channel_id: int, conversation_id: int) -> str:
    return f"send:{channel_id}:{conversation_id}"


def _channel_of(key: str | None) -> int | None:
    """The channel a send job's key names (`send_key`): no need to look it up."""
    kind, _, rest = (key or "").partition(":")
    channel, _, _ = rest.partition(":")
    return int(channel) if kind == "send" and channel.isascii() and channel.isdigit() else None


def _channel_keys(channel_id: int) -> str:
    return f"send:{channel_id}:%"


def metadata_for(message_id: int) -> str:
    """The `metadata` sent with a message; its echo brings it back (digest §5.3)."""
    return f"{METADATA_PREFIX}{message_id}"


def message_of_metadata(metadata: str | None) -> int | None:
    """The outgoing message an echo's `metadata` names, if it is one of our tags."""
    if not metadata or not metadata.startswith(METADATA_PREFIX):
        return None
    number = metadata.removeprefix(METADATA_PREFIX)
    return int(number) if number.isascii() and number.isdigit() and len(number) < 19 else None


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _decide(
    author: Author, last_user_at: float | None, now: float, has_human_agent: bool
) -> Allowed | Blocked:
    return decide(
        author,
        _moment(last_user_at),
        datetime.fromtimestamp(now, UTC),
        channel_has_human_agent=has_human_agent,
    )


# --- storing a reply -------------------------------------------------------------------------


def _quick_reply(chip: QuickReply) -> dict[str, Any]:
    if chip.content_type != "text":
        return {"content_type": chip.content_type}
    out: dict[str, Any] = {"content_type": "text", "title": chip.title, "payload": chip.payload}
    if chip.image_url is not None:
        out["image_url"] = chip.image_url
    return out


def message_of(reply: Reply) -> dict[str, Any]:
    """The Send API `message` object for a reply (without `metadata`: the send job adds it)."""
    message: dict[str, Any]
    if reply.text is not None:
        message = {"text": reply.text}
    elif reply.attachment is not None:
        media = reply.attachment
        payload = {"url": media.url} if media.url is not None else {}
        if media.attachment_id is not None:
            payload["attachment_id"] = media.attachment_id
        message = {"attachment": {"type": media.kind, "payload": payload}}
    else:
        # Through JSON: tuples become lists and the stored copy shares nothing with the reply.
        template = json.loads(json.dumps(reply.template))
        message = {"attachment": {"type": "template", "payload": template}}
    if reply.quick_replies:
        message["quick_replies"] = [_quick_reply(chip) for chip in reply.quick_replies]
    return message


def _shown(reply: Reply) -> tuple[str | None, list[dict[str, Any]] | None]:
    """What the inbox shows of a reply: its text, and its media."""
    if reply.attachment is not None:
        media = reply.attachment
        return None, [{"type": media.kind, "url": media.url, "attachment_id": media.attachment_id}]
    if reply.template is not None:
        text = reply.template.get("text")
        return (text if isinstance(text, str) else None), None
    return reply.text, None


async def queue_reply(
    conn: AsyncConnection, conversation_id: int, reply: Reply, author: Author, now: float
) -> int:
    """Store `reply` by `author` as an outgoing message and enqueue its send, in the caller's
    transaction; returns the message id.

    The send policy decides now and again right before sending (time passes). Refused now, the
    message is stored `blocked` with the reason and nothing is enqueued. Raises LookupError for
    an unknown conversation and ValueError for an author Frontdesk never sends as.
    """
    where = await outbox.conversation(conn, conversation_id)
    if where is None:
        raise LookupError(f"no conversation {conversation_id}")
    decision = _decide(author, where.last_user_at, now, where.has_human_agent)
    text, attachments = _shown(reply)
    common: dict[str, Any] = {"text": text, "attachments": attachments, "metadata": reply.metadata}
    if isinstance(decision, Blocked):
        message_id = await outbox.add(
            conn,
            where,
            author,
            message_of(reply),
            now,
            status=MessageStatus.BLOCKED,
            failure_reason=decision.reason,
            failure_code=FailureCode(decision.code.value),
            **common,
        )
        log.info("message %s blocked before sending: %s", message_id, decision.code.value)
        return message_id
    message_id = await outbox.add(
        conn,
        where,
        author,
        message_of(reply),
        now,
        status=MessageStatus.QUEUED,
        messaging_type=decision.messaging_type,
        tag=decision.tag,
        **common,
    )
    await queue.enqueue(
        conn,
        SEND,
        {"conversation_id": conversation_id, "message_id": message_id},
        key=send_key(where.channel_id, conversation_id),
        now=now,
    )
    return message_id


async def resume(conn: AsyncConnection, channel_id: int, now: float) -> int:
    """Restart the sends of a channel's queued messages (each conversation in its own order);
    returns how many conversations had something waiting."""
    waiting = await outbox.conversations_with_queued(conn, channel_id)
    for conversation_id in waiting:
        await queue.enqueue(
            conn,
            SEND,
            {"conversation_id": conversation_id},
            key=send_key(channel_id, conversation_id),
            now=now,
        )
    return len(waiting)


async def reconnect(
    conn: AsyncConnection, secrets: Secrets, channel_id: int, page_token: str, now: float
) -> int:
    """A new Page token: store it, make the channel active, and send what waited while paused."""
    await outbox.replace_page_token(conn, secrets, channel_id, page_token, now)
    return await resume(conn, channel_id, now)


# --- pacing ----------------------------------------------------------------------------------


class PageLimiter:
    """Per-Page pacing in this process: at most `per_second` sends in any one second, and holds
    set after Meta throttled the Page. Times are the worker clock's.

    How Meta counts its 300 calls a second (digest §10) is unconfirmed: a window that
    slides, rather than a bucket that refills, never lets more than `per_second` through in
    any second, however Meta cuts its seconds. A bucket of 300 let 600 through in one: the
    answers of a burst come in clumps, and Meta refused hundreds (613) at 80 sends a second
    on average."""

    def __init__(self, per_second: int = PAGE_RATE) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.per_second = per_second
        self._sent: dict[str, deque[float]] = {}
        self._holds: dict[str, float] = {}

    def hold(self, page_id: str, until: float) -> None:
        self._holds[page_id] = max(until, self._holds.get(page_id, until))

    def wait(self, page_id: str, now: float) -> float:
        """Seconds to wait before sending to this Page; 0 means go (and counts one send)."""
        held = self._holds.get(page_id)
        if held is not None:
            if now < held:
                return held - now
            del self._holds[page_id]
        sent = self._sent.get(page_id)
        if sent is None or (sent and now < sent[-1]):
            # First send, or the clock stepped back: what was counted is no guide any more.
            sent = self._sent[page_id] = deque()
        while sent and sent[0] <= now - 1:
            sent.popleft()
        if len(sent) == self.per_second:
            return sent[0] + 1 - now
        sent.append(now)
        return 0.0


class Sender:
    """What the `send` job needs from the composition root."""

    def __init__(
        self, client: SendClient, secrets: Secrets, *, limiter: PageLimiter | None = None
    ) -> None:
        self.client = client
        self.secrets = secrets
        self.limiter = limiter or PageLimiter()


# --- the send job ----------------------------------------------------------------------------


class _Step(enum.Enum):
    DONE = "done"  # the message reached an outcome: the next one may go
    WAITING = "waiting"  # a successor job will try again later
    PAUSED = "paused"  # the channel stopped sending until it is reconnected


def send_job(sender: Sender) -> JobHandler:
    async def send(conn: AsyncConnection, job: Job, now: float) -> Outside[Any] | None:
        conversation_id = int(job.payload["conversation_id"])
        channel_id = _channel_of(job.key)
        if channel_id is None:
            raise PermanentFailure(f"a send job is keyed by its channel, not {job.key!r}")
        channel = await outbox.sending_channel(conn, channel_id)
        if channel is None or channel.paused:
            return None  # messages stay queued; `reconnect` restarts them
        key = send_key(channel.id, conversation_id)
        item = await outbox.oldest_queued(conn, conversation_id)
        if item is None:
            return None  # all sent, or the conversation was deleted: nothing left to send
        if item.mid is not None:
            # An earlier attempt got through (its record or its echo says so): never twice.
            await outbox.record_sent(conn, item.id, item.mid, now)
            step = _Step.DONE
        elif item.attempt_started is not None:
            step = await _settle_unknown(conn, item, item.attempt_started, key, now)
        elif channel.status == REMOVED:
            # Its token is gone on purpose: nothing to reconnect, nothing will ever go out.
            await _fail(conn, item, CHANNEL_REMOVED, FailureCode.CHANNEL_REMOVED)
            step = _Step.DONE
        else:
            ready = await _prepare(conn, sender, channel, item, key, now)
            if isinstance(ready, _Call):
                await outbox.record_attempt(conn, item, now)
                return Outside(ready.send, ready.record)
            step = ready
        await _after(conn, step, conversation_id, key, now)
        return None

    return send


async def _after(
    conn: AsyncConnection, step: _Step, conversation_id: int, key: str, now: float
) -> None:
    """The next message needs a job of its own unless one already waits."""
    if step is _Step.DONE and await _NEXT_NEEDED.scalar(
        conn, conversation_id=conversation_id, key=key
    ):
        await queue.enqueue(conn, SEND, {"conversation_id": conversation_id}, key=key, now=now)


async def _prepare(
    conn: AsyncConnection,
    sender: Sender,
    channel: outbox.SendingChannel,
    item: outbox.Outgoing,
    key: str,
    now: float,
) -> _Step | _Call:
    """Everything decided before calling Meta: the policy (again), the token, the pacing."""
    decision = _decide(item.author, item.last_user_at, now, channel.has_human_agent)
    if isinstance(decision, Blocked):
        await outbox.record_failure(
            conn, item.id, MessageStatus.BLOCKED, decision.reason, FailureCode(decision.code.value)
        )
        log.info("message %s blocked at send time: %s", item.id, decision.code.value)
        return _Step.DONE
    token = await _page_token(conn, sender.secrets, channel, now)
    if token is None:
        return _Step.PAUSED
    wait = sender.limiter.wait(channel.page_id, now)
    if wait > 0:
        await _retry_at(conn, key, item.conversation_id, now + wait, page_wide=None)
        return _Step.WAITING
    return _Call(sender, channel, item, key, decision, token)


@dataclass(frozen=True)
class _Call:
    """One Send API call, made outside the database transaction, and the recording of its
    answer in the next one."""

    sender: Sender
    channel: outbox.SendingChannel
    item: outbox.Outgoing
    key: str
    decision: Allowed
    token: str

    async def send(self) -> SendResult | GraphError:
        try:
            return await self.sender.client.send_message(
                self.token,
                self.item.psid,
                self.item.message,
                messaging_type=self.decision.messaging_type,
                tag=self.decision.tag,
                metadata=metadata_for(self.item.id),
                same_app=not self.channel.own_app,
            )
        except GraphError as err:
            return err

    async def record(
        self, conn: AsyncConnection, answer: SendResult | GraphError, now: float
    ) -> None:
        step = await _record(conn, self, answer, now)
        await _after(conn, step, self.item.conversation_id, self.key, now)


async def _record(
    conn: AsyncConnection, call: _Call, answer: SendResult | GraphError, now: float
) -> _Step:
    channel, item = call.channel, call.item
    if isinstance(answer, TransportError) and answer.may_have_arrived:
        # Meta may have delivered it: sending again could make a duplicate. The echo decides.
        log.warning("message %s: outcome unknown (%s); waiting for its echo", item.id, answer)
        return await _settle_unknown(conn, item, now, call.key, now)
    if isinstance(answer, RetryLater):
        return await _try_later(conn, call.sender, channel, item, call.key, answer, now)
    if isinstance(answer, TokenBroken):
        await outbox.record_try(conn, item.id, item.tries)  # not sent: the attempt is settled
        reason = token_problem(answer)
        await outbox.flag_channel(conn, channel.id, outbox.RECONNECT_NEEDED, reason, now)
        log.warning("channel %s paused, reconnect needed: %s", channel.id, reason)
        return _Step.PAUSED
    if isinstance(answer, UserUnreachable):
        why = unreachable(answer)
        await outbox.mark_unreachable(conn, item.contact_id, why)
        await _fail(conn, item, f"Not delivered: {why}", failure_code(answer))
    elif isinstance(answer, WindowClosed):
        await _fail(conn, item, WINDOW_CLOSED, failure_code(answer))
    elif isinstance(answer, PermissionProblem):
        if answer.page_restricted:
            await outbox.flag_channel(conn, channel.id, outbox.RESTRICTED, RESTRICTED_PAGE, now)
        await _fail(conn, item, permission_problem(answer), failure_code(answer))
    elif isinstance(answer, BadRequest):
        await _fail(
            conn,
            item,
            f"Not sent: Messenger does not accept this message: {answer}",
            failure_code(answer),
        )
    elif isinstance(answer, GraphError):  # no other kind exists today; it must still end visibly
        await _fail(conn, item, f"Not sent: {answer}", failure_code(answer))
    else:
        await outbox.record_sent(
            conn,
            item.id,
            answer.message_id,
            now,
            messaging_type=call.decision.messaging_type,
            tag=call.decision.tag,
        )
        if channel.status == outbox.RESTRICTED:  # a send got through: Meta lifted it
            await outbox.flag_channel(conn, channel.id, outbox.ACTIVE, None, now)
    return _Step.DONE


async def _settle_unknown(
    conn: AsyncConnection, item: outbox.Outgoing, started: float, key: str, now: float
) -> _Step:
    """A send begun at `started` whose outcome is unknown. Its echo, if Meta accepted it, files
    the `mid` onto the message (then the next job finds it sent). Without an echo after
    ECHO_GRACE the message fails with a plain reason, and is NOT sent again: a customer getting
    a reply twice is worse than a failed message a person can see and retry. An echo that comes
    even later still turns it into sent (`core.models`)."""
    settle_at = started + ECHO_GRACE
    if now < settle_at:
        await _retry_at(conn, key, item.conversation_id, settle_at, page_wide=None)
        return _Step.WAITING
    await _fail(conn, item, OUTCOME_UNKNOWN, FailureCode.OUTCOME_UNKNOWN)
    return _Step.DONE


async def _fail(
    conn: AsyncConnection, item: outbox.Outgoing, reason: str, code: FailureCode
) -> None:
    await outbox.record_failure(conn, item.id, MessageStatus.FAILED, reason, code)
    log.info("message %s failed (%s): %s", item.id, code.value, reason)


async def _page_token(
    conn: AsyncConnection, secrets: Secrets, channel: outbox.SendingChannel, now: float
) -> str | None:
    """The decrypted Page token; None after flagging the channel when there is none to use."""
    problem = None
    if channel.page_token is None:
        problem = "No Page token is stored for this Page. Reconnect the Page."
    else:
        try:
            return secrets.decrypt(channel.page_token)
        except SecretError:
            problem = (
                "The stored Page token was encrypted with a secret key that is no longer "
                "configured. Reconnect the Page (or configure the old key again)."
            )
    await outbox.flag_channel(conn, channel.id, outbox.RECONNECT_NEEDED, problem, now)
    log.warning("channel %s paused, reconnect needed: %s", channel.id, problem)
    return None


async def _try_later(
    conn: AsyncConnection,
    sender: Sender,
    channel: outbox.SendingChannel,
    item: outbox.Outgoing,
    key: str,
    err: RetryLater,
    now: float,
) -> _Step:
    tries = item.tries + 1
    if tries >= MAX_TRIES:
        await _fail(
            conn,
            item,
            f'Not sent: Messenger kept answering "try again later" ({tries} tries). '
            f"Last answer: {err}",
            FailureCode.TRY_LATER,
        )
        return _Step.DONE
    delay = err.retry_after if err.retry_after else queue.backoff(tries)
    until = now + delay
    await outbox.record_try(conn, item.id, tries)
    page_wide = err.code in PAGE_THROTTLES
    if page_wide:
        sender.limiter.hold(channel.page_id, until)
    await _retry_at(
        conn, key, item.conversation_id, until, page_wide=channel.id if page_wide else None
    )
    log.info("message %s: try %s answered %s; again in %.1f s", item.id, tries, err, delay)
    return _Step.WAITING


async def _retry_at(
    conn: AsyncConnection, key: str, conversation_id: int, until: float, *, page_wide: int | None
) -> None:
    """Hold the conversation's waiting send jobs (or all of the Page's, given its channel id)
    until `until`, and enqueue this one's successor then."""
    held = (
        and_(jobs.c.key.like(_channel_keys(page_wide)), jobs.c.state == "ready")
        if page_wide is not None
        else and_(jobs.c.key == key, not_taken())
    )
    await conn.execute(
        update(jobs)
        .where(and_(jobs.c.kind == SEND, held, jobs.c.run_at < until))
        .values(run_at=until)
    )
    await queue.enqueue(
        conn, SEND, {"conversation_id": conversation_id}, key=key, now=until, run_at=until
    )


_NEXT_NEEDED = Prepared(
    select(
        and_(
            exists().where(outbox.QUEUED),
            ~exists().where(and_(jobs.c.kind == SEND, jobs.c.key == bindparam("key"), not_taken())),
        )
    )
)
"""Whether the conversation has a message queued and no send job waiting for it: asked after
every send, one statement."""


# --- what people read ------------------------------------------------------------------------

CHANNEL_REMOVED = "Not sent: this Page was removed from Frontdesk."
OUTCOME_UNKNOWN = (
    "Maybe not sent: Frontdesk was interrupted while handing this message to Messenger, and "
    "Messenger never confirmed it. It was not sent again, so that the customer never gets it "
    "twice; send it again if it did not arrive."
)
WINDOW_CLOSED = (
    "Not sent: outside the 24-hour window. Messenger accepts replies only within 24 hours of "
    "the customer's last message; the customer must write again first."
)
RESTRICTED_PAGE = (
    "Meta has temporarily restricted this Page from sending messages (10/1893063). Sends fail "
    "until Meta lifts the restriction."
)

_TOKEN_PROBLEMS = {
    "password_changed": "the password of the person who connected the Page was changed",
    "expired": "it expired",
    "logged_out": "the person who connected the Page logged out of Facebook",
    "app_removed": "the app was removed, from the Page or by the person who connected it",
    "checkpoint": "Facebook wants the person who connected the Page to log in on facebook.com",
    "role_lost": "the person who connected the Page no longer has a role on it",
    "missing_permissions": "permissions the Page needs were taken away",
    "unconfirmed": "the account of the person who connected the Page is not confirmed",
    "missing": "no token was sent",
    "invalid": "Meta no longer accepts it",
}


def _codes(err: GraphError) -> str:
    return f"{err.code}/{err.subcode}" if err.subcode is not None else f"{err.code}"


def token_problem(err: TokenBroken) -> str:
    """E.g. "The Page token stopped working: the password of the person who connected the Page
    was changed (190/460). Reconnect the Page." """
    why = _TOKEN_PROBLEMS.get(err.reason, _TOKEN_PROBLEMS["invalid"])
    return f"The Page token stopped working: {why} ({_codes(err)}). Reconnect the Page."


_UNREACHABLE = {
    2018001: "Messenger knows no such person for this Page (no matching user)",
    2018108: "this person can't receive the Page's messages right now",
    1545041: "this person isn't available right now (they may have blocked the Page or "
    "deactivated their account)",
    551: "this person isn't receiving the Page's messages (they may have blocked the Page or "
    "deactivated their account)",
    1893015: "this person stopped messages on this topic from the Page",
    1404170: "this person restricted messages from the Page",
    2018336: "this person restricted messages from the Page",
    230: "Messenger does not allow messages to this person",
}


def unreachable(err: UserUnreachable) -> str:
    for number in (err.subcode, err.code):
        if number in _UNREACHABLE:
            return f"{_UNREACHABLE[number]} ({_codes(err)})."
    return f"Messenger says this person can't be messaged ({_codes(err)})."


def failure_code(err: GraphError) -> FailureCode:
    """The code stored with a message Meta refused, from the typed error (never its text)."""
    if isinstance(err, PermissionProblem):
        if err.dev_mode:
            return FailureCode.DEV_MODE
        if err.page_restricted:
            return FailureCode.PAGE_RESTRICTED
        if err.thread_owned_elsewhere:
            return FailureCode.THREAD_ELSEWHERE
        return FailureCode.PERMISSION
    kinds: tuple[tuple[type[GraphError], FailureCode], ...] = (
        (TokenBroken, FailureCode.TOKEN_BROKEN),
        (UserUnreachable, FailureCode.USER_UNREACHABLE),
        (WindowClosed, FailureCode.WINDOW_CLOSED),
        (BadRequest, FailureCode.BAD_REQUEST),
        (RetryLater, FailureCode.TRY_LATER),
    )
    return next((code for kind, code in kinds if isinstance(err, kind)), FailureCode.OTHER)


def permission_problem(err: PermissionProblem) -> str:
    if err.dev_mode:
        return (
            "Not sent: the Meta app is in development mode or lacks Advanced Access for "
            "pages_messaging, so it may only message people with a role on the app "
            f"({_codes(err)})."
        )
    if err.page_restricted:
        return "Not sent: " + RESTRICTED_PAGE
    if err.thread_owned_elsewhere:
        return (
            "Not sent: another app, or a person in Meta's Page Inbox, controls this "
            f"conversation right now ({_codes(err)})."
        )
    return f"Not sent: Meta refused for lack of a permission: {err}"
