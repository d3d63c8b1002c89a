"""Files agents send: the composer's upload, read as it streams in, within limits, kept by content.

The console's gate reads every POST before its view runs; this is its reader for the one form
that carries a file (`multipart/form-data`). The gate has checked the session and the Origin
before a byte of the body is read. The body is then parsed as it arrives, never buffered whole
nor spooled anywhere: the form's CSRF token must come before the file (the page puts it first,
and browsers send fields in page order), and it is checked when it ends, so a forged or
cross-site form writes nothing at all. Only then does the file stream into the media store's
`incoming/` folder (`store.media`), at most MAX_FILE bytes. The view keeps it (by sha256) once
it knows the conversation is the agent's; a file not kept is removed after the response
(`discarding`). Its type is what its bytes show, never what the browser claimed; its name is
cut to a safe one, and a name with control characters is refused.

The size is checked before anything is read: a request without a Content-Length is refused (a
browser always sends one), and so is one that sends more than it said.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from frontdesk.store.media import Incoming, MediaStore, TooLarge
from frontdesk.workers.download import SNIFF_BYTES, content_type_of, safe_name

from .context import Ask, Console
from .forms import FormReader, FormTooLarge, MalformedForm, TokenCheck, read_form
from .gate import CSRF_FIELD, CsrfRejected
from .inbox import Inbox

MAX_FILE = 25 * 1024 * 1024
"""Messenger takes attachments up to 25 MB."""
FILE_FIELD = "file"
MAX_PARTS = 10
"""Fields and the file together: the form has two."""
MAX_HEADER_BYTES = 2048
"""Per header line of a part (a Content-Disposition carries the file's name)."""
NAME_LIMIT = 255
"""Characters of a file's name as sent (what is kept is cut shorter: `safe_name`)."""

# Meta's attachment types, by what the bytes are; anything else goes as a file.
IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEOS = frozenset({"video/mp4", "video/quicktime", "video/3gpp", "video/webm"})
AUDIO = frozenset({"audio/mpeg", "audio/mp4", "audio/ogg", "audio/aac", "audio/wav"})

# Characters that make a name say something else than it shows: line breaks, and the marks
# that reverse the direction of the text ("invoice", U+202E, "fdp.exe" shows as "invoiceexe.pdf").
_BIDI_MARKS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class Uploaded:
    sha256: str
    size: int
    content_type: str
    name: str

    @property
    def kind(self) -> str:
        """How Messenger is to show it: image, video, audio, or file."""
        if self.content_type in IMAGES:
            return "image"
        if self.content_type in VIDEOS:
            return "video"
        if self.content_type in AUDIO:
            return "audio"
        return "file"

    def stored(self) -> dict[str, object]:
        """As a message's attachment records a kept file (`store.attachments`)."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "name": self.name,
        }


@dataclass
class Received:
    """A file read whole, after the form's token was checked, and not kept yet: the view
    `keep`s it, or it is removed with the request (`discarding`)."""

    incoming: Incoming
    head: bytes
    """Its first bytes, for what they show it is."""
    declared: str | None
    """The type the browser claimed (only believed for plain text the bytes agree with)."""
    name: str

    async def keep(self) -> Uploaded:
        """Into the media store by its sha256 (durable before this returns)."""
        kept = await asyncio.to_thread(self.incoming.keep)
        return Uploaded(
            kept.sha256, kept.size, content_type_of(self.head, self.declared), self.name
        )

    def discard(self) -> None:
        self.incoming.discard()


def received(request: Request) -> Received | None:
    """The upload's file, once the gate has read the form; None when the form had none."""
    found = getattr(request.state, "upload", None)
    return found if isinstance(found, Received) else None


View = Callable[[Inbox, Console, Ask], Awaitable[Response]]


def discarding(view: View) -> View:
    """The upload's `view`, after which a file read but not kept (the view refused the form, or
    failed) is removed, whatever happened."""

    async def run(box: Inbox, console: Console, ask: Ask) -> Response:
        try:
            return await view(box, console, ask)
        finally:
            left = received(ask.request)
            if left is not None:
                await asyncio.to_thread(left.discard)

    return run


def reader(media: MediaStore, max_file: int = MAX_FILE) -> FormReader:
    """The gate's reader for the upload form; the file it reads is in `received(request)`."""

    async def read_upload(request: Request, max_fields: int, token: TokenCheck) -> dict[str, str]:
        kind, options = parse_options_header(request.headers.get("content-type", ""))
        if kind == b"application/x-www-form-urlencoded":
            return await read_form(request, max_fields)  # a form without its file
        if kind != b"multipart/form-data":
            raise MalformedForm("the file was not sent as multipart/form-data")
        declared = request.headers.get("content-length")
        if declared is None or not declared.isascii() or not declared.isdigit():
            raise FormTooLarge("the upload did not say how large it is")
        if int(declared) > max_file + max_fields:
            raise FormTooLarge(f"the file is larger than {max_file // (1024 * 1024)} MiB")
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedForm("the upload has no boundary between its parts")
        parts = _Parts(media, max_file, max_fields, token)
        try:
            await parts.read(request, boundary, int(declared))
        except BaseException:
            parts.discard()
            raise
        request.state.upload = parts.file
        return parts.fields

    return read_upload


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    """A field's value (a file's bytes go to disk)."""


class _Parts:
    """A multipart body, parsed as it streams in: fields kept in memory (at most `max_fields`
    bytes), the one file written to disk once the token has been checked."""

    def __init__(
        self, media: MediaStore, max_file: int, max_fields: int, token: TokenCheck
    ) -> None:
        self.media = media
        self.max_file = max_file
        self.max_fields = max_fields
        self.token = token
        self.fields: dict[str, str] = {}
        self.file: Received | None = None
        self._events: list[tuple[str, bytes]] = []
        self._header = [b"", b""]
        self._headers: dict[bytes, bytes] = {}
        self._part = _Part()
        self._count = 0
        self._field_bytes = 0
        self._token_checked = False
        self._writing: Incoming | None = None
        self._head = b""
        self._ended = False

    # The parser's callbacks run inside its (synchronous) write: they only note what came, and
    # `_handle` acts on it, awaiting the disk where needed.
    def _note(self, kind: str) -> Callable[[], None]:
        def noted() -> None:
            self._events.append((kind, b""))

        return noted

    def _note_data(self, kind: str) -> Callable[[bytes, int, int], None]:
        def noted(data: bytes, start: int, end: int) -> None:
            self._events.append((kind, data[start:end]))

        return noted

    async def read(self, request: Request, boundary: bytes, declared: int) -> None:
        try:
            parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._note("begin"),
                    "on_header_field": self._note_data("name"),
                    "on_header_value": self._note_data("value"),
                    "on_header_end": self._note("header"),
                    "on_headers_finished": self._note("headers"),
                    "on_part_data": self._note_data("data"),
                    "on_part_end": self._note("end"),
                    "on_end": self._note("done"),
                },
                max_header_count=4,
                max_header_size=MAX_HEADER_BYTES,
            )
        except FormParserError as err:
            raise MalformedForm("the upload's boundary is not one") from err
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > declared:
                    raise MalformedForm("the upload is longer than it said")
                try:
                    parser.write(chunk)
                except FormParserError as err:
                    raise MalformedForm("the upload could not be read") from err
                await self._handle()
        except ClientDisconnect as err:
            raise MalformedForm("the browser went away while sending the file") from err
        parser.finalize()
        await self._handle()
        if not self._ended:
            raise MalformedForm("the upload was cut short")

    async def _handle(self) -> None:
        events, self._events = self._events, []
        for kind, data in events:
            if kind == "begin":
                self._part, self._headers = _Part(), {}
                self._count += 1
                if self._count > MAX_PARTS:
                    raise MalformedForm("the upload has too many parts")
            elif kind == "name":
                self._header[0] += data
            elif kind == "value":
                self._header[1] += data
            elif kind == "header":
                self._headers[self._header[0].strip().lower()] = self._header[1].strip()
                self._header = [b"", b""]
            elif kind == "headers":
                await self._start_part()
            elif kind == "data":
                await self._take(data)
            elif kind == "end":
                await self._end_part()
            elif kind == "done":
                self._ended = True

    async def _start_part(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedForm("a part of the upload does not say which field it is")
        part = self._part
        part.name = _text(options[b"name"], "a field's name")
        if b"filename" not in options:
            return
        if part.name != FILE_FIELD or self.file is not None or self._writing is not None:
            raise MalformedForm("the upload carries a file where the form has none")
        if not self._token_checked:
            # Nothing of a file is written before the form is known to be ours.
            raise CsrfRejected("the form's token did not come before its file")
        part.filename = _file_name(options[b"filename"])
        claimed = self._headers.get(b"content-type")
        part.content_type = (
            parse_options_header(claimed)[0].decode("latin-1").lower() if claimed else None
        )

    async def _take(self, data: bytes) -> None:
        part = self._part
        if part.filename is None:
            self._field_bytes += len(data)
            if self._field_bytes > self.max_fields:
                raise FormTooLarge(f"the form is larger than {self.max_fields // 1024} KiB")
            part.data += data
            return
        if not data:
            return
        if self._writing is None:
            self._writing = await asyncio.to_thread(self.media.incoming, self.max_file)
        if len(self._head) < SNIFF_BYTES:
            self._head += data[: SNIFF_BYTES - len(self._head)]
        try:
            await asyncio.to_thread(self._writing.write, data)
        except TooLarge as err:
            raise FormTooLarge(
                f"the file is larger than {self.max_file // (1024 * 1024)} MiB"
            ) from err

    async def _end_part(self) -> None:
        part = self._part
        if part.filename is not None:
            if self._writing is not None:  # an empty file (none chosen) is no file
                self.file = Received(
                    self._writing, self._head, part.content_type, part.filename or "file"
                )
                self._writing = None
            return
        value = _text(bytes(part.data), f"the field {part.name[:40]!r}")
        if part.name in self.fields:
            raise MalformedForm(f"the field {part.name[:40]!r} was sent twice")
        self.fields[part.name] = value
        if part.name == CSRF_FIELD:
            self.token(value)  # raises CsrfRejected
            self._token_checked = True

    def discard(self) -> None:
        for left in (self._writing, self.file.incoming if self.file else None):
            if left is not None:
                left.discard()
        self._writing, self.file = None, None


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedForm(f"{what} is not UTF-8 text") from err


def _file_name(raw: bytes) -> str:
    """The name to keep for the file (its last path segment, made safe: `safe_name`), or
    MalformedForm for a name that is not text or would show as something else."""
    name = _text(raw, "the file's name")
    if len(name) > NAME_LIMIT:
        raise MalformedForm(
            f"the file's name is longer than {NAME_LIMIT} characters: rename the file"
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI_MARKS for c in name):
        raise MalformedForm(
            "the file's name has control characters in it: rename the file and send it again"
        )
    return safe_name(name) if name else ""
