"""What a message carries besides text: attachments, the quoted message, the referral (§3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import reader as read


@dataclass(frozen=True, kw_only=True, slots=True)
class Coordinates:
    """A legacy location attachment's point; Meta names the longitude `long`."""

    lat: float
    long: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Attachment:
    """One attachment, from the current shape or the legacy one (`title`/`url` beside `type`).

    Stickers arrive twice until 2026-08-30 (as `sticker` and as the legacy `image`, both with
    `sticker_id`); both are kept, as received.
    """

    kind: str
    """Meta's `type`: image, audio, video, file, sticker, fallback, template, location, reel..."""
    url: str | None = None
    title: str | None = None
    sticker_id: str | None = None
    coordinates: Coordinates | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    """The payload as received (`{}` when null or absent), for kinds with more fields."""

    @property
    def template_type(self) -> str | None:
        """For a `template` (echoed structured message): button, generic, media, ..."""
        value = self.payload.get("template_type")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplyTo:
    """The message quoted; `is_self_reply` when the person quotes their own."""

    mid: str
    is_self_reply: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Referral:
    """Where a conversation came from: an m.me link, an ad, a QR code, a plugin."""

    ref: str | None = None
    source: str | None = None
    kind: str | None = None
    """Meta's `type`: OPEN_THREAD, LEAD_COMPLETE, ..."""
    ad_id: str | None = None
    ads_context_data: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def attachment(value: Any, where: str) -> Attachment:
    item = read.obj(value, where)
    payload = read.opt_obj(item.get("payload"), f"{where}.payload") or {}
    # Current shape: url/title inside payload. Legacy (pre-v6, still in echoes): beside type.
    url = payload.get("url", item.get("url"))
    title = payload.get("title", item.get("title"))
    coordinates = None
    point = read.opt_obj(payload.get("coordinates"), f"{where}.payload.coordinates")
    if point is not None:
        coordinates = Coordinates(
            lat=read.number(point.get("lat"), f"{where}.payload.coordinates.lat"),
            long=read.number(point.get("long"), f"{where}.payload.coordinates.long"),
        )
    return Attachment(
        kind=read.text(item.get("type"), f"{where}.type"),
        url=read.opt_text(url, f"{where}.url"),
        title=read.opt_text(title, f"{where}.title"),
        sticker_id=read.opt_ident(payload.get("sticker_id"), f"{where}.payload.sticker_id"),
        coordinates=coordinates,
        payload=payload,
    )


def attachments(value: Any, where: str) -> tuple[Attachment, ...]:
    return tuple(attachment(a, f"{where}[{i}]") for i, a in enumerate(read.items(value, where)))


def reply_to(value: Any, where: str) -> ReplyTo | None:
    quoted = read.opt_obj(value, where)
    if quoted is None:
        return None
    return ReplyTo(
        mid=read.ident(quoted.get("mid"), f"{where}.mid"),
        is_self_reply=read.flag(quoted.get("is_self_reply"), f"{where}.is_self_reply"),
    )


def referral(value: Any, where: str) -> Referral | None:
    ref = read.opt_obj(value, where)
    if ref is None:
        return None
    return Referral(
        ref=read.opt_text(ref.get("ref"), f"{where}.ref"),
        source=read.opt_text(ref.get("source"), f"{where}.source"),
        kind=read.opt_text(ref.get("type"), f"{where}.type"),
        ad_id=read.opt_ident(ref.get("ad_id"), f"{where}.ad_id"),
        ads_context_data=read.opt_obj(ref.get("ads_context_data"), f"{where}.ads_context_data"),
        raw=ref,
    )
