"""A conversation's transcript as people read it: its messages (whoever wrote them, their marks,
quotes, reactions, media and the choices the customer saw) and its notes, in order. Callers own
the transaction and check access first.

The conversation view reads the newest PAGE items and pages back by message id; an export reads
them all (`everything`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import messages, notes

PAGE = 100


@dataclass(frozen=True)
class Quote:
    """The message a reply quotes (Messenger's reply-to)."""

    author: str
    text: str


@dataclass(frozen=True)
class Card:
    """One card of a generic template, as the customer saw it."""

    title: str
    subtitle: str = ""
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    id: int
    direction: str
    author: str
    agent_name: str | None
    text: str | None
    attachments: tuple[Mapping[str, Any], ...]
    quick_replies: tuple[str, ...]
    """The chips offered under an outgoing message."""
    buttons: tuple[str, ...]
    """The buttons of an outgoing button template."""
    cards: tuple[Card, ...]
    tapped: str | None
    """The payload of the chip or button an incoming message came from."""
    tapped_via: str | None
    """`quick_reply` or `postback` (a button, the menu, Get Started)."""
    status: str
    failure_reason: str | None
    messaging_type: str | None
    tag: str | None
    quote: Quote | None
    reaction: str | None
    created_at: float
    sent_at: float | None
    delivered_at: float | None
    read_at: float | None
    outgoing: Mapping[str, Any] = field(default_factory=dict, repr=False)
    kind: str = "message"

    @property
    def retryable(self) -> bool:
        """A failed send a person may send again (as a new message)."""
        return self.direction == "outbound" and self.status == "failed" and bool(self.outgoing)


@dataclass(frozen=True)
class Note:
    id: int
    kind: str
    """`note` (an agent's, never sent) or `system`."""
    text: str
    user_name: str | None
    created_at: float


Item = Message | Note


@dataclass(frozen=True)
class Transcript:
    items: list[Item]
    earlier: int | None
    """The id of the oldest message shown, when older ones exist (page back before it)."""


_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.channel_id,
    messages.c.direction,
    messages.c.author,
    messages.c.agent_name,
    messages.c.text,
    messages.c.attachments,
    messages.c.outgoing,
    messages.c.status,
    messages.c.failure_reason,
    messages.c.messaging_type,
    messages.c.tag,
    messages.c.reply_to_mid,
    messages.c.reactions,
    messages.c.created_at,
    messages.c.sent_at,
    messages.c.delivered_at,
    messages.c.read_at,
)


def _titles(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for item in items:
        if isinstance(item, Mapping):
            title = item.get("title")
            if isinstance(title, str) and title:
                out.append(title)
            elif item.get("content_type") == "user_email":
                out.append("Email address")
            elif item.get("content_type") == "user_phone_number":
                out.append("Phone number")
    return tuple(out)


def _template(outgoing: Mapping[str, Any], attachments: Any) -> Mapping[str, Any]:
    """The template payload of an outgoing message (ours, or an echo's), if it has one."""
    message = outgoing.get("message")
    if isinstance(message, Mapping):
        attachment = message.get("attachment")
        if isinstance(attachment, Mapping) and attachment.get("type") == "template":
            payload = attachment.get("payload")
            return payload if isinstance(payload, Mapping) else {}
    if isinstance(attachments, list):
        for item in attachments:
            if isinstance(item, Mapping) and item.get("type") == "template":
                payload = item.get("payload")
                return payload if isinstance(payload, Mapping) else {}
    return {}


def _cards(template: Mapping[str, Any]) -> tuple[Card, ...]:
    if template.get("template_type") != "generic":
        return ()
    elements = template.get("elements")
    if not isinstance(elements, list):
        return ()
    cards = []
    for element in elements:
        if isinstance(element, Mapping) and isinstance(element.get("title"), str):
            subtitle = element.get("subtitle")
            cards.append(
                Card(
                    str(element["title"]),
                    subtitle if isinstance(subtitle, str) else "",
                    _titles(element.get("buttons")),
                )
            )
    return tuple(cards)


def _message(row: Any, quotes: Mapping[str, Quote]) -> Message:
    outgoing = row.outgoing if isinstance(row.outgoing, Mapping) else {}
    sent = outgoing.get("message")
    sent = sent if isinstance(sent, Mapping) else {}
    template = _template(outgoing, row.attachments)
    attachments = tuple(
        item
        for item in (row.attachments if isinstance(row.attachments, list) else ())
        if isinstance(item, Mapping) and item.get("type") != "template"
    )
    via = next((key for key in ("quick_reply", "postback") if outgoing.get(key)), None)
    tapped = outgoing.get(via) if via else None
    reactions = row.reactions if isinstance(row.reactions, Mapping) else {}
    reaction = reactions.get("contact")
    return Message(
        id=int(row.id),
        direction=str(row.direction),
        author=str(row.author),
        agent_name=row.agent_name,
        text=row.text,
        attachments=attachments,
        quick_replies=_titles(sent.get("quick_replies")),
        buttons=_titles(template.get("buttons")),
        cards=_cards(template),
        tapped=tapped if isinstance(tapped, str) else None,
        tapped_via=via if isinstance(tapped, str) else None,
        status=str(row.status),
        failure_reason=row.failure_reason,
        messaging_type=row.messaging_type,
        tag=row.tag,
        quote=quotes.get(row.reply_to_mid) if row.reply_to_mid else None,
        reaction=reaction if isinstance(reaction, str) else None,
        created_at=float(row.created_at),
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        outgoing=outgoing if row.direction == "outbound" else {},
    )


async def _quotes(conn: AsyncConnection, rows: Sequence[Any]) -> dict[str, Quote]:
    wanted = {row.reply_to_mid for row in rows if row.reply_to_mid}
    if not wanted:
        return {}
    channel_id = rows[0].channel_id
    found = await conn.execute(
        select(messages.c.mid, messages.c.author, messages.c.text, messages.c.attachments).where(
            and_(messages.c.channel_id == channel_id, messages.c.mid.in_(sorted(wanted)))
        )
    )
    out = {}
    for row in found:
        text = row.text or ("[attachment]" if row.attachments else "")
        out[str(row.mid)] = Quote(str(row.author), text)
    return out


def _note(row: Any) -> Note:
    return Note(int(row.id), str(row.kind), str(row.text), row.user_name, float(row.created_at))


def _merge(found: list[Message], written: list[Note]) -> list[Item]:
    """In time order; a note written at the same moment as a message comes after it."""
    keyed: list[tuple[float, int, int, Item]] = [(m.created_at, 0, m.id, m) for m in found]
    keyed += [(n.created_at, 1, n.id, n) for n in written]
    return [item for *_, item in sorted(keyed, key=lambda entry: entry[:3])]


async def page(
    conn: AsyncConnection, conversation_id: int, *, before: int | None = None, size: int = PAGE
) -> Transcript:
    """The newest `size` messages (before message `before`, when paging back) with the notes
    written among them."""
    query = select(*_MESSAGE_COLUMNS).where(messages.c.conversation_id == conversation_id)
    if before is not None:
        query = query.where(messages.c.id < before)
    rows = list(
        reversed((await conn.execute(query.order_by(messages.c.id.desc()).limit(size + 1))).all())
    )
    more = len(rows) > size
    rows = rows[1:] if more else rows
    quotes = await _quotes(conn, rows)
    found = [_message(row, quotes) for row in rows]
    where = [notes.c.conversation_id == conversation_id]
    if more and found:
        where.append(notes.c.created_at >= found[0].created_at)
    if before is not None:
        upper = (
            await conn.execute(select(messages.c.created_at).where(messages.c.id == before))
        ).scalar()
        if upper is not None:
            where.append(notes.c.created_at < upper)
    written = [
        _note(row) for row in await conn.execute(select(notes).where(*where).order_by(notes.c.id))
    ]
    return Transcript(_merge(found, written), found[0].id if more and found else None)


async def everything(conn: AsyncConnection, conversation_id: int) -> list[Item]:
    """The whole transcript, for an export."""
    rows = (
        await conn.execute(
            select(*_MESSAGE_COLUMNS)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id)
        )
    ).all()
    quotes = await _quotes(conn, rows)
    written = await conn.execute(
        select(notes).where(notes.c.conversation_id == conversation_id).order_by(notes.c.id)
    )
    return _merge([_message(row, quotes) for row in rows], [_note(row) for row in written])


async def message(conn: AsyncConnection, conversation_id: int, message_id: int) -> Message | None:
    """One message of the conversation (None if it is not one of its own)."""
    row = (
        await conn.execute(
            select(*_MESSAGE_COLUMNS).where(
                messages.c.id == message_id, messages.c.conversation_id == conversation_id
            )
        )
    ).first()
    if row is None:
        return None
    return _message(row, await _quotes(conn, [row]))


async def note(conn: AsyncConnection, conversation_id: int, note_id: int) -> Note | None:
    row = (
        await conn.execute(
            select(notes).where(notes.c.id == note_id, notes.c.conversation_id == conversation_id)
        )
    ).first()
    return None if row is None else _note(row)
