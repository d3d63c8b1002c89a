"""Downloading a file from a URL that came from outside, safely, into the media store.

The URLs are Meta's (attachment CDN links, profile pictures), but they arrive in webhooks and
redirect wherever their server says, so each one is treated as hostile (SSRF):

- Only `http` and `https`. Redirects are never followed blindly: at most MAX_REDIRECTS, and
  every hop passes the same checks as the first URL.
- The host must resolve to public addresses only: loopback, private, link-local (the cloud
  metadata address 169.254.169.254), carrier-grade NAT, multicast and reserved ranges are
  refused. Two exceptions, both decided by the Graph URL the operator configured: a URL on the
  Graph API's own host and port is Meta itself (or the emulator) and is trusted; and when the
  Graph API is itself on a loopback or private address (development against the emulator,
  `frontdesk dev`), private addresses are allowed, since the whole world is local then.
- Known gap: the addresses are checked when resolved, and httpx resolves again to connect, so
  a DNS server that answers differently the second time (rebinding) is not stopped here.
- At most `max_bytes` (25 MiB, the Send API's own limit), counted as the body arrives (after
  decompression, so a compressed bomb counts in full); a larger Content-Length is refused
  before reading. The whole download has a deadline, so a trickling server cannot hold a
  worker.
- The recorded content type is what the first bytes show (PNG, JPEG, PDF, MP4…), never the
  server's word alone; anything unrecognised is `application/octet-stream`. The server's own
  type is kept beside it when it differs. The file name shown is the server's or the URL's
  last segment reduced to a safe alphabet; it never becomes a path (files are named by
  digest).

Failures come in two kinds: `DownloadRefused` (permanent: expired link, gone, too large, a
forbidden address) and `DownloadFailed` (transient: network, timeout, server error).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote

import httpx

from frontdesk.store.media import MediaStore, TooLarge

from .addresses import is_local_host, is_public, literal

MAX_BYTES = 25 * 1024 * 1024
MAX_REDIRECTS = 3
DEADLINE_SECONDS = 30.0
"""For one whole download; well inside the default job lease (60 s)."""
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CHUNK = 64 * 1024
SNIFF_BYTES = 512
NAME_LIMIT = 100

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""A host and port → the addresses it resolves to (the DNS seam)."""


class DownloadRefused(Exception):  # noqa: N818 - named for what happened
    """Never worth trying again; the message says why in plain words."""


class DownloadFailed(Exception):  # noqa: N818 - named for what happened
    """Perhaps next time (network, timeout, a server error); the message says what happened."""


@dataclass(frozen=True)
class Downloaded:
    sha256: str
    size: int
    content_type: str
    """What the bytes are, as far as their first bytes show."""
    declared_type: str | None
    """What the server said, when it said something else."""
    name: str

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "name": self.name,
        }
        if self.declared_type is not None:
            out["declared_type"] = self.declared_type
        return out


async def resolve_host(host: str, port: int) -> list[str]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise DownloadFailed(f"the address of {host} could not be found ({err})") from err
    return [str(info[4][0]) for info in found]


def _origin(url: httpx.URL) -> tuple[str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.host, port


class Downloader:
    """Fetches files into `media` under the rules above; `graph_url` is the operator's
    FRONTDESK_GRAPH_URL (what is trusted), `resolve` the DNS seam."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        media: MediaStore,
        *,
        graph_url: str,
        max_bytes: int = MAX_BYTES,
        deadline: float = DEADLINE_SECONDS,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.http = http
        self.media = media
        self.max_bytes = max_bytes
        self.deadline = deadline
        self._resolve = resolve
        graph = httpx.URL(graph_url)
        self._graph = _origin(graph)
        self._private_allowed = is_local_host(graph.host)

    async def fetch(self, url: str) -> Downloaded:
        """Download `url` into the media store. Raises DownloadRefused or DownloadFailed."""
        try:
            async with asyncio.timeout(self.deadline):
                return await self._follow(url)
        except TimeoutError as err:
            raise DownloadFailed(
                f"the download did not finish within {self.deadline:g} seconds"
            ) from err

    async def _follow(self, url: str) -> Downloaded:
        current = _parse(url)
        for _ in range(MAX_REDIRECTS + 1):
            await self._admit(current)
            try:
                async with self.http.stream(
                    "GET", current, follow_redirects=False, timeout=REQUEST_TIMEOUT
                ) as response:
                    if response.is_redirect:
                        # httpx itself rejects a malformed Location (RemoteProtocolError).
                        current = current.join(response.headers["location"])
                        continue
                    _check_status(response.status_code)
                    return await self._keep(response, current)
            except httpx.DecodingError as err:
                raise DownloadRefused("the file's server sent a garbled response") from err
            except httpx.RequestError as err:
                raise DownloadFailed(
                    f"the file's server could not be reached ({type(err).__name__})"
                ) from err
        raise DownloadRefused(f"the link redirected more than {MAX_REDIRECTS} times")

    async def _admit(self, url: httpx.URL) -> None:
        if url.scheme not in ("http", "https"):
            raise DownloadRefused("the link is not a web (http or https) address")
        if not url.host:
            raise DownloadRefused("the link names no server")
        origin = _origin(url)
        if origin == self._graph or self._private_allowed:
            return
        given = literal(url.host)
        addresses = [given] if given else await self._resolve(url.host, origin[1] or 443)
        if not addresses:
            raise DownloadFailed(f"the address of {url.host} could not be found")
        if not all(is_public(address) for address in addresses):
            raise DownloadRefused(
                "the link points to a private or local network address, which Frontdesk "
                "does not download from"
            )

    async def _keep(self, response: httpx.Response, url: httpx.URL) -> Downloaded:
        length = response.headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > self.max_bytes:
            raise DownloadRefused(_too_large(self.max_bytes))
        head = b""
        # Opened here, not in a thread: a deadline that fell while a thread opened it would
        # leave the new file behind with nobody to discard it. Creating a file is microseconds.
        incoming = self.media.incoming(self.max_bytes)
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                await asyncio.to_thread(incoming.write, chunk)
            kept = await asyncio.to_thread(incoming.keep)
        except TooLarge as err:
            raise DownloadRefused(_too_large(self.max_bytes)) from err
        finally:
            incoming.discard()  # nothing once kept; otherwise the partial file goes
        declared = _media_type(response.headers.get("content-type"))
        content_type = content_type_of(head, declared)
        return Downloaded(
            sha256=kept.sha256,
            size=kept.size,
            content_type=content_type,
            declared_type=declared if declared not in (None, content_type) else None,
            name=_name(response.headers.get("content-disposition"), url),
        )


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as err:
        raise DownloadRefused("the link is not a valid web address") from err


def _check_status(status: int) -> None:
    if status == 200:
        return
    if status in (408, 425, 429) or status >= 500:
        raise DownloadFailed(f"the file's server answered HTTP {status}")
    if status in (404, 410):
        raise DownloadRefused(f"the file is no longer there (HTTP {status})")
    if status in (401, 403):
        raise DownloadRefused(
            f"the link was refused, most likely because it had expired (HTTP {status})"
        )
    raise DownloadRefused(f"the file's server answered HTTP {status} instead of the file")


def _too_large(limit: int) -> str:
    return f"the file is larger than {limit / (1024 * 1024):g} MiB, the most Frontdesk keeps"


def _media_type(header: str | None) -> str | None:
    """`image/png; charset=…` → `image/png`; None for nothing or nonsense."""
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    kind, slash, sub = value.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-")
    if not slash or not kind or not sub or not set(kind + sub) <= allowed or len(value) > 100:
        return None
    return value


def safe_name(raw: str) -> str:
    """A file name fit to show and to offer as a download name: its last path segment, letters,
    digits and `._- ` only, no leading dot, at most NAME_LIMIT characters; "file" if nothing
    is left."""
    last = raw.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in last if c.isalnum() or c in "._- ")
    kept = kept.strip(" .")[:NAME_LIMIT].strip(" .")
    return kept or "file"


def _name(disposition: str | None, url: httpx.URL) -> str:
    if disposition:
        header = Message()
        header["content-disposition"] = disposition
        given = header.get_filename()
        if given:
            return safe_name(given)
    return safe_name(unquote(url.path))


# --- what the bytes are ----------------------------------------------------------------------

_PLAIN_TEXT = frozenset({"text/plain", "text/csv"})


def content_type_of(head: bytes, declared: str | None) -> str:
    """The type to record for a file whose first bytes are `head`: recognised from the bytes,
    or plain text when the server says so and the bytes agree, else application/octet-stream.
    A server's word alone never makes a file an image, or HTML."""
    sniffed = _sniff(head, declared)
    if sniffed is not None:
        return sniffed
    if declared in _PLAIN_TEXT and _looks_like_text(head):
        return declared
    return "application/octet-stream"


def _sniff(head: bytes, declared: str | None) -> str | None:
    checks: tuple[tuple[bytes, str], ...] = (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"OggS", "audio/ogg"),
        (b"ID3", "audio/mpeg"),
        (b"fLaC", "audio/flac"),
    )
    for magic, kind in checks:
        if head.startswith(magic):
            return "video/ogg" if kind == "audio/ogg" and declared == "video/ogg" else kind
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12]
        )
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"M4A ":
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm" if declared == "audio/webm" else "video/webm"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame
    if head.startswith(b"PK\x03\x04"):
        # Office documents and EPUBs are zip files; their declared type is the useful one.
        zipped = declared is not None and (
            declared.startswith("application/vnd.") or declared == "application/epub+zip"
        )
        return declared if zipped else "application/zip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "image/svg+xml"
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head or head.lstrip().startswith(b"<"):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sniffed bytes is still text.
        return err.start >= len(head) - 3
    return True
