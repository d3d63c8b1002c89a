"""The download rules that need no emulator: what the real resolver refuses, the development
exception, what a file's bytes say it is, and the names shown. The rest, against the emulator
and hostile servers, is in test_enrich.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from frontdesk.store.media import MediaStore
from frontdesk.workers.download import Downloader, DownloadRefused, content_type_of, safe_name

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
HTML = b"<!doctype html><html><script>fetch('/api/keys')</script></html>"


def server(asked: list[str]) -> Starlette:
    """Serves /cat.png, and notes every path it is asked for."""

    async def cat(request: Request) -> Response:
        asked.append(request.url.path)
        return (
            Response(PNG, media_type="image/png")
            if request.url.path == "/cat.png"
            else Response(status_code=404)
        )

    return Starlette(routes=[Route("/{path:path}", cat)])


async def test_the_real_resolver_refuses_names_for_this_machine(tmp_path: Path) -> None:
    """No fake DNS: `localhost` and the decimal form of 127.0.0.1 resolve to loopback."""
    asked: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server(asked))) as http:
        downloader = Downloader(
            http, MediaStore(tmp_path / "media"), graph_url="https://graph.facebook.com"
        )
        for url in ("http://localhost/x.png", "http://2130706433/x.png", "http://127.1/x.png"):
            with pytest.raises(DownloadRefused, match="private or local network address"):
                await downloader.fetch(url)
    assert asked == []


async def test_a_local_graph_url_allows_local_addresses(tmp_path: Path) -> None:
    """`frontdesk dev`: the emulator on 127.0.0.1 serves the files, so loopback is allowed."""
    asked: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server(asked))) as http:
        downloader = Downloader(
            http, MediaStore(tmp_path / "media"), graph_url="http://127.0.0.1:8081"
        )
        got = await downloader.fetch("http://127.0.0.1:9/cat.png")
        with pytest.raises(DownloadRefused, match="not a web"):
            await downloader.fetch("file:///etc/passwd")
    assert got.sha256 == hashlib.sha256(PNG).hexdigest()
    assert asked == ["/cat.png"]


@pytest.mark.parametrize(
    ("head", "declared", "recorded"),
    [
        (PNG, "image/png", "image/png"),
        (PNG, None, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/png", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf", "application/pdf"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4", "video/mp4"),
        (b"\x00\x00\x00\x20ftypM4A ", "audio/x-m4a", "audio/mp4"),
        (b"OggS\x00\x02", "audio/ogg", "audio/ogg"),
        (b"ID3\x04\x00", "audio/mpeg", "audio/mpeg"),
        (b"\xff\xf1\x50\x80", "audio/aac", "audio/aac"),
        (b"PK\x03\x04", "application/vnd.ms-excel.sheet", "application/vnd.ms-excel.sheet"),
        (b"PK\x03\x04", "image/png", "application/zip"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', None, "image/svg+xml"),
        (HTML, "image/jpeg", "application/octet-stream"),
        (HTML, "text/html", "application/octet-stream"),
        (HTML, "text/plain", "application/octet-stream"),
        (b"order,size\n1042,M\n", "text/csv", "text/csv"),
        (b"plain words", "text/plain", "text/plain"),
        (b"\x00\x01\x02", "text/plain", "application/octet-stream"),
        (b"\x7fELF\x02\x01", "image/png", "application/octet-stream"),
        (b"", "image/png", "application/octet-stream"),
    ],
)
def test_the_recorded_type_is_what_the_bytes_are(
    head: bytes, declared: str | None, recorded: str
) -> None:
    assert content_type_of(head, declared) == recorded


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("/v/t1.15752-9/123_n.jpg", "123_n.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("a\x00b\nc\r.png", "abc.png"),
        ("<script>.html", "script.html"),
        ("fotografia n\u00ba 1 \u00e7\u00e3o.jpg", "fotografia n\u00ba 1 \u00e7\u00e3o.jpg"),
        ("x" * 300 + ".png", "x" * 100),
        ("", "file"),
    ],
)
def test_a_file_name_is_reduced_to_a_safe_one(raw: str, name: str) -> None:
    assert safe_name(raw) == name
