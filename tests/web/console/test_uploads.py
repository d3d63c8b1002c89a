"""The composer's upload against hostile browsers: the session, the Origin and the form's token
are checked before a byte of the file is written (the body is read as it comes, and a form
refused is not read to its end); oversized, malformed and strangely named uploads are refused
with the reason, and nothing is left behind, on disk or in the database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk.store.tables import messages

from .agents import Agents, agents_at_work, sent_messages
from .conftest import ORIGIN, Browser, csrf_of

pytestmark = pytest.mark.db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
BOUNDARY = "frontdesk-test-boundary"
MIB = 1024 * 1024


@pytest.fixture
async def team(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Agents]:
    async with agents_at_work(database_url, engine, tmp_path) as made:
        await made.member("ana@example.com", "Ana Lima")
        yield made


def part(disposition: bytes, content: bytes, *, kind: bytes | None = None) -> bytes:
    head = b"Content-Disposition: form-data; " + disposition + b"\r\n"
    if kind is not None:
        head += b"Content-Type: " + kind + b"\r\n"
    return b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n" + content + b"\r\n"


def token_part(token: str) -> bytes:
    return part(b'name="csrf_token"', token.encode())


def file_part(content: bytes = PNG, name: bytes = b"tee.png") -> bytes:
    return part(b'name="file"; filename="' + name + b'"', content, kind=b"image/png")


END = b"--" + BOUNDARY.encode() + b"--\r\n"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


class Body:
    """A request body handed over a chunk at a time, counting what the server asked for."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.pulled = 0

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


async def upload(
    browser: Browser,
    conversation_id: int,
    body: Body | bytes,
    *,
    origin: str = ORIGIN,
    content_type: str = MULTIPART,
    length: int | None = None,
) -> tuple[int, str]:
    content = body if isinstance(body, Body) else Body(body)
    answer = await browser.client.post(
        f"/inbox/{conversation_id}/upload",
        content=content,
        headers={
            "origin": origin,
            "content-type": content_type,
            "content-length": str(content.size if length is None else length),
        },
    )
    return answer.status_code, unescape(answer.text)


def media_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@dataclass
class Scene:
    """Ana, signed in, on João's conversation: her form token, and the media kept so far (his
    profile picture)."""

    team: Agents
    ana: Browser
    conversation_id: int
    token: str
    kept: set[Path]

    async def post(self, body: Body | bytes, **kwargs: Any) -> tuple[int, str]:
        return await upload(self.ana, self.conversation_id, body, **kwargs)

    async def left_behind(self) -> tuple[list[Path], int]:
        """Files added under the media store (kept or half-written), and outgoing messages."""
        root = self.team.desk.app.state.inbox.media.root
        added = sorted(media_files(root) - self.kept)
        async with self.team.desk.engine.connect() as conn:
            outgoing = (
                await conn.execute(
                    select(func.count())
                    .select_from(messages)
                    .where(messages.c.direction == "outbound")
                )
            ).scalar_one()
        return added, int(outgoing)


@pytest.fixture
async def scene(team: Agents) -> Scene:
    await team.desk.say("Can you show me the tee?")
    ana = await team.signed_in("ana@example.com")
    conversation_id = await team.desk.conversation_id()
    page = (await ana.get(f"/inbox/{conversation_id}")).text
    kept = media_files(team.desk.app.state.inbox.media.root)
    return Scene(team, ana, conversation_id, csrf_of(page), kept)


async def test_the_page_s_own_upload_goes_through(scene: Scene) -> None:
    status, _ = await scene.post(token_part(scene.token) + file_part() + END)
    assert status == 303
    files, outgoing = await scene.left_behind()
    assert [p.parent.parent.name for p in files] == ["media"]  # kept by digest, nothing else
    assert outgoing == 1


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing", "the form's token did not come before its file"),
        ("wrong", "the form is out of date or was not made by Frontdesk"),
        ("after the file", "the form's token did not come before its file"),
        ("another site", "the form was sent from another site"),
    ],
)
async def test_a_forged_upload_writes_nothing_and_is_not_read_to_its_end(
    scene: Scene, case: str, problem: str
) -> None:
    good = scene.token
    first = {
        "missing": b"",
        "wrong": token_part("x" * 43),
        "after the file": b"",
        "another site": token_part(good),
    }[case]
    # 20 MiB of file after the form's first part: a refused form is not read that far.
    chunks = [first, file_part(b"\x89PNG\r\n\x1a\n" + b"x" * MIB).removesuffix(b"\r\n")]
    chunks += [b"y" * MIB] * 20
    chunks.append(b"\r\n" + (token_part(good) if case == "after the file" else b"") + END)
    body = Body(*chunks)
    origin = "https://evil.test" if case == "another site" else ORIGIN
    status, text = await scene.post(body, origin=origin)
    assert status == 403
    assert problem in text
    assert body.pulled <= 2
    assert await scene.left_behind() == ([], 0)


async def test_without_a_session_nothing_is_read(scene: Scene) -> None:
    transport = httpx.ASGITransport(app=scene.team.desk.app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        body = Body(token_part(scene.token), file_part(), END)
        status, _ = await upload(Browser(client), scene.conversation_id, body)
    assert status == 303  # to the login page
    assert body.pulled == 0
    assert await scene.left_behind() == ([], 0)


@pytest.mark.parametrize(
    ("body", "length", "status", "problem"),
    [
        # Said to be larger than a file may be: refused before a byte is read.
        (b"", 30 * MIB, 413, "The file is larger than 25 MiB."),
        # Said to be small, and then more.
        (b"x" * 1000, 10, 400, "The upload is longer than it said."),
    ],
)
async def test_an_oversized_upload_is_refused(
    scene: Scene, body: bytes, length: int, status: int, problem: str
) -> None:
    got, text = await scene.post(token_part(scene.token) + body, length=length)
    assert (got, problem in text) == (status, True)
    assert await scene.left_behind() == ([], 0)


async def test_a_file_over_25_mib_is_refused_and_its_part_removed(scene: Scene) -> None:
    head = token_part(scene.token) + part(
        b'name="file"; filename="big.mp4"', b"", kind=b"video/mp4"
    )
    head = head.removesuffix(b"\r\n")  # the file's bytes follow
    body = Body(head, *([b"z" * MIB] * 25), b"z", b"\r\n" + END)
    status, text = await scene.post(body)
    assert status == 413
    assert "The file is larger than 25 MiB." in text
    assert await scene.left_behind() == ([], 0)


@pytest.mark.parametrize(
    ("build", "content_type", "problem"),
    [
        (lambda t: token_part(t) + file_part() + END, "multipart/form-data", "no boundary"),
        (lambda t: b"not a multipart body at all", MULTIPART, "could not be read"),
        (lambda t: token_part(t) + file_part(), MULTIPART, "was cut short"),
        (lambda t: token_part(t) + part(b'filename="x.png"', PNG) + END, MULTIPART, "which field"),
        (
            lambda t: token_part(t) + file_part() + file_part() + END,
            MULTIPART,
            "a file where the form has none",
        ),
        (
            lambda t: token_part(t) + part(b'name="photo"; filename="x.png"', PNG) + END,
            MULTIPART,
            "a file where the form has none",
        ),
        (
            lambda t: token_part(t) + part(b'name="a"', b"1") + part(b'name="a"', b"2") + END,
            MULTIPART,
            "sent twice",
        ),
        (
            lambda t: token_part(t) + part(b'name="note"', b"\xff\xfe") + file_part() + END,
            MULTIPART,
            "is not UTF-8 text",
        ),
        (
            lambda t: (
                token_part(t)
                + b"".join(part(f'name="f{n}"'.encode(), b"1") for n in range(12))
                + END
            ),
            MULTIPART,
            "too many parts",
        ),
        (
            lambda t: token_part(t) + file_part(name=b"a" * 3000) + END,
            MULTIPART,
            "could not be read",  # a header line over 2 KiB
        ),
        (lambda t: token_part(t) + part(b'name="note"', b"n" * 70_000) + END, MULTIPART, "KiB"),
    ],
)
async def test_a_malformed_upload_is_refused_with_the_reason(
    scene: Scene, build: Callable[[str], bytes], content_type: str, problem: str
) -> None:
    status, text = await scene.post(build(scene.token), content_type=content_type)
    assert status in (400, 413)
    assert "This form cannot be read" in text
    assert problem in text
    assert await scene.left_behind() == ([], 0)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (b"invoice\xe2\x80\xaefdp.exe", "control characters"),  # shows as "invoiceexe.pdf"
        (b"tee\x00.png", "control characters"),
        (b"tee\x1b[31m.png", "control characters"),
        (b"\xff\xfe.png", "is not UTF-8 text"),
        (b"t" * 300 + b".png", "longer than 255 characters"),
    ],
)
async def test_a_file_name_that_would_lie_or_break_things_is_refused(
    scene: Scene, name: bytes, problem: str
) -> None:
    status, text = await scene.post(token_part(scene.token) + file_part(name=name) + END)
    assert status == 400
    assert problem in text
    assert await scene.left_behind() == ([], 0)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        (b"../../../etc/passwd", "passwd"),
        (b"..", "file"),
        ("Camisola verde ❤.png".encode(), "Camisola verde .png"),
    ],
)
async def test_a_path_in_a_file_name_is_dropped_and_only_the_digest_names_the_file(
    scene: Scene, name: bytes, kept: str
) -> None:
    status, _ = await scene.post(token_part(scene.token) + file_part(name=name) + END)
    assert status == 303
    await scene.team.desk.settle()
    [sent] = sent_messages(scene.team.desk)
    assert sent["message"]["attachment"]["payload"]["url"].endswith("/" + kept.replace(" ", "%20"))
    files, _ = await scene.left_behind()
    root = scene.team.desk.app.state.inbox.media.root
    [path] = files
    assert path.parent.parent == root
    assert re.fullmatch(r"[0-9a-f]{64}", path.name)
    assert path.parent.name == path.name[:2]
