"""Kept media, served: attachments and contact pictures to the workspace's people, and the files
agents send to Meta's fetcher at an unguessable signed address.

Files come from customers, so they are served as inert: the type their bytes show (never the
type anyone claimed), `nosniff`, a Content-Security-Policy that sandboxes them and allows
nothing, and anything but plain media as a download (`store.media`'s docstring).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from frontdesk.store import inbox, transcripts
from frontdesk.store.media import MediaStore, digest_of
from frontdesk.web.access import NotFound, access_conversation
from frontdesk.workers.download import SNIFF_BYTES, content_type_of, safe_name

from .context import Ask, Console
from .inbox import Inbox

SHOWN_INLINE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/aac",
        "audio/wav",
    }
)
FILE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "referrer-policy": "no-referrer",
}
_DIGEST = re.compile(r"[0-9a-f]{64}")


def signature(key: bytes, sha256: str) -> str:
    return hmac.new(key, sha256.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def public_url(box: Inbox, base: str, sha256: str, name: str) -> str:
    """Where Meta fetches a file an agent sends (it has no session: the address is the key)."""
    named = quote(safe_name(name), safe="")
    return f"{base}/files/{sha256}/{signature(box.files_key, sha256)}/{named}"


def _serve(
    media: MediaStore,
    sha256: str,
    content_type: str,
    name: str,
    *,
    private: bool = True,
    inline: frozenset[str] = SHOWN_INLINE,
) -> Response:
    try:
        path = media.path_of(sha256)
    except ValueError as err:
        raise NotFound("file") from err
    if not path.is_file():
        raise NotFound("file")
    shown = content_type in inline
    disposition = "inline" if shown else "attachment"
    headers = {
        **FILE_HEADERS,
        "cache-control": "private, max-age=3600" if private else "public, max-age=86400",
        "content-disposition": f'{disposition}; filename="{safe_name(name)}"',
    }
    served_as = content_type if shown else "application/octet-stream"
    return FileResponse(path, media_type=served_as, headers=headers)


async def attachment(box: Inbox, console: Console, ask: Ask) -> Response:
    """Attachment `index` of a message, when it was kept."""
    params = ask.request.path_params
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, params["conversation_id"])
        found = await transcripts.message(conn, ref.id, params["message_id"])
    if found is None or not 0 <= params["index"] < len(found.attachments):
        raise NotFound("attachment")
    stored: Any = found.attachments[params["index"]].get("stored")
    if not isinstance(stored, dict) or not isinstance(stored.get("sha256"), str):
        raise NotFound("attachment")
    return _serve(
        box.media,
        stored["sha256"],
        str(stored.get("content_type") or "application/octet-stream"),
        str(stored.get("name") or "file"),
    )


async def picture(box: Inbox, console: Console, ask: Ask) -> Response:
    """The contact's profile picture, as kept when the profile was looked up."""
    async with console.engine.begin() as conn:
        ref = await access_conversation(conn, ask.user, ask.request.path_params["conversation_id"])
        detail = await inbox.detail(conn, ref.id)
        kept = await inbox.picture_of(conn, detail.contact_id)
    digest = digest_of(kept) if kept else None
    if digest is None:
        raise NotFound("picture")
    with box.media.open(digest) as file:
        head = file.read(SNIFF_BYTES)
    # Only ever shown as an <img> (where an SVG runs nothing), and sandboxed if opened alone.
    return _serve(
        box.media,
        digest,
        content_type_of(head, None),
        "picture",
        inline=SHOWN_INLINE | {"image/svg+xml"},
    )


async def sent_file(box: Inbox, request: Request) -> Response:
    """A file an agent sent, for Meta to fetch: only at its signed address."""
    sha256 = str(request.path_params["sha256"])
    given = str(request.path_params["signature"])
    expected = signature(box.files_key, sha256) if _DIGEST.fullmatch(sha256) else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return Response("Not found", status_code=404, headers=FILE_HEADERS)
    try:
        with box.media.open(sha256) as file:
            head = file.read(SNIFF_BYTES)
    except FileNotFoundError:
        return Response("Not found", status_code=404, headers=FILE_HEADERS)
    content_type = content_type_of(head, None)
    return _serve(box.media, sha256, content_type, str(request.path_params["name"]), private=False)
