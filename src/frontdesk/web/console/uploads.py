"""Files agents send: the composer's upload, read within limits and kept by content.

The console's gate reads every POST before its view runs; this is its reader for the one form
that carries a file (`multipart/form-data`). The size is checked before anything is read (a
request without a Content-Length is refused: a browser always sends one); the file is written
to the media store (`store.media`, by sha256) and its type is what its bytes show, never what
the browser claimed. The view finds it in `request.state.upload`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request

from frontdesk.store.media import MediaStore, TooLarge
from frontdesk.workers.download import SNIFF_BYTES, content_type_of, safe_name

from .forms import FormTooLarge, MalformedForm, read_form
from .routes import FormReader

MAX_FILE = 25 * 1024 * 1024
"""Messenger takes attachments up to 25 MB."""
CHUNK = 64 * 1024

# Meta's attachment types, by what the bytes are; anything else goes as a file.
IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEOS = frozenset({"video/mp4", "video/quicktime", "video/3gpp", "video/webm"})
AUDIO = frozenset({"audio/mpeg", "audio/mp4", "audio/ogg", "audio/aac", "audio/wav"})


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


def reader(media: MediaStore, max_file: int = MAX_FILE) -> FormReader:
    """The gate's reader for the upload form; keeps the file before the view runs."""

    async def read_upload(request: Request, max_fields: int) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            return await read_form(request, max_fields)  # a form without its file
        if kind != "multipart/form-data":
            raise MalformedForm("the file was not sent as multipart/form-data")
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            raise FormTooLarge("the upload did not say how large it is")
        if int(declared) > max_file + max_fields:
            raise FormTooLarge(f"the file is larger than {max_file // (1024 * 1024)} MiB")
        try:
            form = await request.form(max_files=1, max_fields=10, max_part_size=max_fields)
        except (MultiPartException, ClientDisconnect) as err:
            raise MalformedForm("the upload could not be read") from err
        try:
            fields: dict[str, str] = {}
            upload: UploadFile | None = None
            for name, value in form.multi_items():
                if name in fields or (isinstance(value, UploadFile) and upload is not None):
                    raise MalformedForm(f"the field {name[:40]!r} was sent twice")
                if isinstance(value, UploadFile):
                    upload = value
                else:
                    fields[name] = value
            if upload is not None and upload.size:
                try:
                    request.state.upload = await _keep(media, upload, max_file)
                except TooLarge as err:
                    raise FormTooLarge(
                        f"the file is larger than {max_file // (1024 * 1024)} MiB"
                    ) from err
            return fields
        finally:
            await form.close()

    return read_upload


async def _keep(media: MediaStore, upload: UploadFile, max_file: int) -> Uploaded:
    head = b""
    with media.incoming(max_file) as incoming:
        while chunk := await upload.read(CHUNK):
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            await asyncio.to_thread(incoming.write, chunk)
        kept = await asyncio.to_thread(incoming.keep)
    return Uploaded(
        kept.sha256,
        kept.size,
        content_type_of(head, (upload.content_type or "").split(";")[0].strip().lower() or None),
        safe_name(upload.filename or "file"),
    )
