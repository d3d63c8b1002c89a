"""Threads between a Page and a person: the transcript, the 24-hour window and thread control."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["in", "out"]

WINDOW = 24 * 3600
HUMAN_AGENT_WINDOW = 7 * 24 * 3600
THREAD_CONTROL_TTL = 24 * 3600


def new_mid() -> str:
    return "m_" + secrets.token_urlsafe(33)


@dataclass
class Message:
    """One message in a thread, as the person's Messenger app would show it."""

    mid: str
    direction: Direction
    timestamp: int
    """ms since the epoch, emulated clock."""
    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    quick_replies: list[dict[str, Any]] = field(default_factory=list)
    quick_reply_payload: str | None = None
    reply_to: str | None = None
    app_id: str | None = None
    """For Page messages: the app that sent it (Page Inbox for humans)."""
    metadata: str | None = None
    messaging_type: str | None = None
    tag: str | None = None
    persona_id: str | None = None
    reactions: dict[str, str] = field(default_factory=dict)
    """who ("user" or "page") → emoji."""
    edits: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "mid": self.mid,
            "direction": self.direction,
            "timestamp": self.timestamp,
            "text": self.text,
            "attachments": self.attachments,
            "quick_replies": self.quick_replies,
            "quick_reply_payload": self.quick_reply_payload,
            "reply_to": self.reply_to,
            "app_id": self.app_id,
            "metadata": self.metadata,
            "messaging_type": self.messaging_type,
            "tag": self.tag,
            "persona_id": self.persona_id,
            "reactions": dict(self.reactions),
            "edits": self.edits,
        }


@dataclass
class Thread:
    page_id: str
    person_id: str
    psid: str
    messages: list[Message] = field(default_factory=list)
    last_user_at: float | None = None
    """When the person last did something that opens the window (seconds)."""
    owner_app_id: str | None = None
    owner_expires_at: float = 0
    typing: bool = False
    typing_until: float = 0
    delivered_watermark: int = 0
    """Page messages up to this ms timestamp reached the person's device."""
    read_watermark: int = 0
    """Page messages up to this ms timestamp were read by the person."""
    seen_watermark: int = 0
    """The Page marked the person's messages up to here as seen (`mark_seen`)."""

    @property
    def started(self) -> bool:
        """The person has reached the Page, so their PSID is known to it."""
        return self.last_user_at is not None or any(m.direction == "in" for m in self.messages)

    def window_open(self, now: float) -> bool:
        return self.last_user_at is not None and now - self.last_user_at < WINDOW

    def human_agent_open(self, now: float) -> bool:
        return self.last_user_at is not None and now - self.last_user_at < HUMAN_AGENT_WINDOW

    def owner(self, now: float) -> str | None:
        """The app that controls the thread, or None when idle (control lapses after 24 h)."""
        if self.owner_app_id is not None and now >= self.owner_expires_at:
            self.owner_app_id = None
        return self.owner_app_id

    def set_owner(self, app_id: str | None, now: float, ttl: float = THREAD_CONTROL_TTL) -> None:
        self.owner_app_id = app_id
        self.owner_expires_at = now + ttl if app_id else 0

    def find(self, mid: str) -> Message | None:
        return next((m for m in self.messages if m.mid == mid), None)

    def view(self, now: float) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "person_id": self.person_id,
            "psid": self.psid,
            "window_open": self.window_open(now),
            "last_user_at": self.last_user_at,
            "thread_owner": self.owner(now),
            "typing": self.typing and now < self.typing_until,
            "delivered_watermark": self.delivered_watermark,
            "read_watermark": self.read_watermark,
            "seen_watermark": self.seen_watermark,
            "messages": [m.view() for m in self.messages],
        }
