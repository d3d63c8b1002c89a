"""The `profile` and `media` jobs against the emulator, and against hostile file servers: a
contact gets its real name (or stays "Messenger user ·1234"), attachments are kept locally by
sha256, and no oversized, expired, redirected, mislabelled or badly named file gets past the
rules of `workers.download`."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from frontdesk.emulator import PAGE_INBOX_APP_ID, psid_for
from frontdesk.messenger import GraphClient, SendClient, sign
from frontdesk.store import conversations as store
from frontdesk.store.media import MediaStore, digest_of
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, contacts, jobs
from frontdesk.workers import queue
from frontdesk.workers.download import (
    MAX_BYTES,
    Downloader,
    DownloadFailed,
)
from frontdesk.workers.enrich import PROFILE_REFRESH, Enricher
from frontdesk.workers.jobs import job_handlers
from frontdesk.workers.loop import Worker
from frontdesk.workers.sending import Sender
from tests.flows.harness import APP_ID, APP_SECRET, CHLOE, JOAO, NOW, PAGE, Desk, connected

pytestmark = pytest.mark.db

DAY = 24 * 3600.0
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
HTML = b"<!doctype html><html><script>fetch('/api/keys')</script></html>"
HOSTILE = "cdn.hostile.example"
OTHER = "cdn2.hostile.example"
INTERNAL = "intranet.example"
DNS = {
    HOSTILE: ["157.240.22.35"],
    OTHER: ["2a03:2880:f12f:83:face:b00c:0:25de"],
    INTERNAL: ["10.0.0.7"],
    "mixed.example": ["157.240.22.36", "127.0.0.1"],
    "mapped.example": ["::ffff:192.168.1.1"],
}
DEFAULT_PERMISSIONS = {
    "pages_show_list": "advanced",
    "pages_messaging": "advanced",
    "pages_manage_metadata": "advanced",
    "pages_read_engagement": "advanced",
    "business_management": "standard",
    "business_asset_user_profile_access": "advanced",
}


async def dns(host: str, port: int) -> list[str]:
    """The DNS seam: these names, and no other."""
    if host not in DNS:
        raise DownloadFailed(f"the address of {host} could not be found")
    return DNS[host]


# --- a hostile file server, and a witness for requests that must never be made ----------------


@dataclass
class Recorder:
    """An ASGI app that notes every request it gets, then lets `app` answer it."""

    app: Any = None
    requests: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode()
            self.requests.append(f"{host}{scope['path']}")
        if self.app is None:
            await Response("nothing here should have been asked", 200)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def hostile_app(flaky: dict[str, int]) -> Starlette:
    async def cat(request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    async def named(request: Request) -> Response:
        return Response(
            PNG,
            media_type="image/png",
            headers={"content-disposition": 'attachment; filename="../../../etc/passwd"'},
        )

    async def lie(request: Request) -> Response:
        return Response(HTML, media_type="image/jpeg")

    async def png_said_jpeg(request: Request) -> Response:
        return Response(PNG, media_type="image/jpeg")

    async def huge(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            chunk = b"\xff\xd8\xff" + b"\x00" * (1024 * 1024 - 3)
            for _ in range(MAX_BYTES // len(chunk)):
                yield chunk
            yield b"\x00"  # one byte over the cap

        return StreamingResponse(body(), media_type="image/jpeg")

    async def says_huge(request: Request) -> Response:
        return Response(PNG, media_type="image/png", headers={"content-length": str(MAX_BYTES + 1)})

    async def exactly_the_cap(request: Request) -> Response:
        return Response(b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_BYTES - 8), media_type="image/png")

    async def gone(request: Request) -> Response:
        return Response("Not Found", status_code=404)

    async def unavailable(request: Request) -> Response:
        name = request.path_params["name"]
        flaky[name] = flaky.get(name, 0) + 1
        if name == "once" and flaky[name] > 1:
            return Response(PNG, media_type="image/png")
        return Response("try later", status_code=503)

    async def never_ends(request: Request) -> Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    redirects = {
        "internal": f"http://{INTERNAL}/secret",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "loopback6": "http://[::1]/admin",
        "mixed": "http://mixed.example/x.png",
        "mapped": "http://mapped.example/x.png",
        "file": "file:///etc/passwd",
        "gopher": "gopher://cdn.hostile.example/_x",
        "public": f"http://{OTHER}/cat.png",
        "loop": "/redirect/loop",
        "broken": "http://[::1",
    }

    async def redirect(request: Request) -> Response:
        return RedirectResponse(redirects[request.path_params["name"]], status_code=302)

    return Starlette(
        routes=[
            Route("/cat.png", cat),
            Route("/files/{rest:path}", cat),
            Route("/named", named),
            Route("/lie.jpg", lie),
            Route("/png-said-jpeg", png_said_jpeg),
            Route("/huge.jpg", huge),
            Route("/says-huge.png", says_huge),
            Route("/exactly-the-cap.png", exactly_the_cap),
            Route("/gone.png", gone),
            Route("/unavailable/{name}", unavailable),
            Route("/never-ends.png", never_ends),
            Route("/redirect/{name}", redirect),
        ]
    )


@dataclass
class World:
    desk: Desk
    hostile: Recorder
    stray: Recorder
    media: MediaStore
    flaky: dict[str, int]


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with connected(database_url, engine, tmp_path) as connected_desk:
        yield connected_desk


def build_worker(desk: Desk, http: httpx.AsyncClient, media: MediaStore, **download: Any) -> Worker:
    """A worker like the app's, whose HTTP client also reaches the hostile servers."""
    base = desk.emulator.base_url
    enricher = Enricher(
        GraphClient(http, base),
        desk.secrets,
        Downloader(http, media, graph_url=base, resolve=dns, **download),
    )
    sender = Sender(SendClient(http, base), desk.secrets)
    return Worker(
        desk.engine, job_handlers(APP_ID, sender=sender, enricher=enricher), clock=desk.clock.now
    )


@pytest.fixture
async def world(desk: Desk, tmp_path: Path) -> AsyncIterator[World]:
    flaky: dict[str, int] = {}
    hostile = Recorder(hostile_app(flaky))
    stray = Recorder()
    mounts = {
        "all://emulator.test": httpx.ASGITransport(app=desk.emulator.app),
        f"all://{HOSTILE}": httpx.ASGITransport(app=hostile),
        f"all://{OTHER}": httpx.ASGITransport(app=hostile),
        # Anything else would be a request that the rules should have stopped: noted, never sent.
        "all://": httpx.ASGITransport(app=stray),
    }
    media = MediaStore(tmp_path / "media")
    async with httpx.AsyncClient(mounts=mounts) as http:
        desk.worker = build_worker(desk, http, media)
        yield World(desk, hostile, stray, media, flaky)


# --- helpers ---------------------------------------------------------------------------------


async def upload(desk: Desk, content: bytes, name: str, content_type: str) -> dict[str, Any]:
    """A person attaches a file in the emulator's Messenger: it goes to the emulator's CDN."""
    response = await desk.meta.post(
        "/_emulator/act/upload", files={"file": (name, content, content_type)}
    )
    assert response.status_code == 200, response.text
    attachment: dict[str, Any] = response.json()
    return attachment


async def send(desk: Desk, *attachments: dict[str, Any], person: str = JOAO) -> None:
    await desk.act("message", person, attachments=list(attachments))
    await desk.settle()


async def stored_attachments(desk: Desk, person: str = JOAO) -> list[dict[str, Any]]:
    """The attachments of the person's latest message, as Frontdesk stored them."""
    inbound = [m for m in await desk.messages(person) if m["attachments"]]
    found: list[dict[str, Any]] = inbound[-1]["attachments"]
    return found


def image(url: str, kind: str = "image") -> dict[str, Any]:
    return {"type": kind, "payload": {"url": url}}


async def job_states(desk: Desk, kind: str) -> list[str]:
    async with desk.engine.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.state).where(jobs.c.kind == kind).order_by(jobs.c.id)
        )
        return list(rows.scalars())


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


async def kept_files(world: World) -> list[Path]:
    """Every file in the media folder (incoming/ too) but the contacts' pictures."""
    async with world.desk.engine.connect() as conn:
        pictures = (await conn.execute(select(contacts.c.profile_pic))).scalars().all()
    theirs = {world.media.path_of(d) for d in map(digest_of, filter(None, pictures)) if d}
    found = files_in(world.media.root) if world.media.root.exists() else set()
    return sorted(found - theirs)


def failed(item: dict[str, Any]) -> str:
    assert "stored" not in item, item
    reason: str = item["failed"]
    return reason


# --- contact profiles ------------------------------------------------------------------------


async def test_a_contact_gets_its_real_name_and_a_local_copy_of_its_picture(
    desk: Desk, tmp_path: Path
) -> None:
    """Through the app's own worker (`create_app`): the data dir is the harness's tmp_path."""
    await desk.say("Hi, a question about my order")
    contact = await desk.contact()
    assert (contact["name"], contact["locale"], contact["profile_checked_at"]) == (
        "Jo\u00e3o Pereira",
        None,  # the app lacks pages_user_locale: Meta leaves it out
        NOW,
    )
    digest = digest_of(contact["profile_pic"])
    assert digest is not None, contact["profile_pic"]
    avatar = (await desk.meta.get("/static/avatar.svg")).content
    assert hashlib.sha256(avatar).hexdigest() == digest
    with MediaStore(tmp_path / "media").open(digest) as file:
        assert file.read() == avatar
    async with desk.engine.connect() as conn:
        assert (await store.contact(conn, contact["id"])).display_name == "Jo\u00e3o Pereira"


async def test_the_locale_comes_with_its_permission(world: World) -> None:
    desk = world.desk
    permissions = {**DEFAULT_PERMISSIONS, "pages_user_locale": "advanced"}
    response = await desk.meta.patch(f"/_emulator/apps/{APP_ID}", json={"permissions": permissions})
    assert response.status_code == 200, response.text
    await desk.say("Ol\u00e1", person=CHLOE)
    contact = await desk.contact(CHLOE)
    assert (contact["name"], contact["locale"]) == ("Chlo\u00e9 Martin", "fr_FR")


async def test_a_profile_meta_refuses_is_asked_once_and_the_name_stays_unknown(
    world: World,
) -> None:
    desk = world.desk
    # Without Business Asset User Profile Access Meta refuses (10/2018247) a non-role person.
    permissions = dict(DEFAULT_PERMISSIONS)
    del permissions["business_asset_user_profile_access"]
    response = await desk.meta.patch(f"/_emulator/apps/{APP_ID}", json={"permissions": permissions})
    assert response.status_code == 200, response.text
    await desk.say("Hello")
    contact = await desk.contact()
    assert (contact["name"], contact["profile_pic"], contact["profile_checked_at"]) == (
        None,
        None,
        NOW,
    )
    async with desk.engine.connect() as conn:
        shown = (await store.contact(conn, contact["id"])).display_name
    assert shown == "Messenger user \u00b7" + psid_for(PAGE, JOAO)[-4:]
    await desk.advance(6 * DAY)
    await desk.say("Anyone there?")
    assert await job_states(desk, "profile") == ["done"]  # not asked again while fresh


async def test_a_phone_made_account_has_no_profile_and_the_conversation_goes_on(
    world: World,
) -> None:
    desk = world.desk
    response = await desk.meta.post(
        "/_emulator/people", json={"name": "Rui", "created_by_phone": True}
    )
    assert response.status_code == 201, response.text
    rui = response.json()["id"]
    await desk.say("Boa tarde", person=rui)
    contact = await desk.contact(rui)
    assert (contact["name"], contact["profile_checked_at"]) == (None, NOW)
    assert [m["text"] for m in await desk.messages(rui)] == ["Boa tarde"]


async def test_a_stale_profile_is_asked_again_and_a_burst_asks_once(world: World) -> None:
    desk = world.desk
    await desk.act("message", text="one")
    await desk.act("message", text="two")
    await desk.act("message", text="three")
    await desk.settle()
    assert await job_states(desk, "profile") == ["done"]
    await desk.advance(PROFILE_REFRESH - 60)
    await desk.say("still here")  # the profile is fresh: nothing asked
    assert await job_states(desk, "profile") == ["done"]
    await desk.advance(120)
    await desk.say("back again")
    assert await job_states(desk, "profile") == ["done", "done"]
    assert (await desk.contact())["profile_checked_at"] == NOW + PROFILE_REFRESH + 60


async def test_meta_saying_try_later_retries_and_never_holds_up_the_conversation(
    world: World,
) -> None:
    desk = world.desk
    await desk.fault({"endpoint": "profile", "error": {"code": 2, "status": 503}, "count": 1})
    await desk.say("Is my parcel on its way?")
    assert await job_states(desk, "profile") == ["ready"]  # waiting for its backoff
    assert (await desk.contact())["name"] is None
    # The conversation is not held up: an agent's reply goes out meanwhile.
    await desk.reply("It left this morning.")
    await desk.settle()
    assert await desk.outbound() == [("It left this morning.", "delivered")]
    await desk.advance(queue.MAX_DELAY)
    await desk.settle()
    assert await job_states(desk, "profile") == ["done"]
    assert (await desk.contact())["name"] == "Jo\u00e3o Pereira"


async def test_a_broken_token_stops_the_look_up_and_flags_nothing(world: World) -> None:
    desk = world.desk
    error = {"code": 190, "subcode": 460, "message": "Error validating access token"}
    await desk.fault({"endpoint": "profile", "error": error})
    await desk.say("Hello?")
    contact = await desk.contact()
    assert (contact["name"], contact["profile_checked_at"]) == (None, None)
    channel = await desk.channel()
    assert (channel["status"], channel["status_reason"]) == ("active", None)
    assert await job_states(desk, "profile") == ["done"]


async def test_an_unreadable_token_or_a_paused_channel_asks_nothing(world: World) -> None:
    desk = world.desk
    stranger = Secrets((Fernet.generate_key().decode(),))
    async with desk.engine.begin() as conn:
        await conn.execute(update(channels).values(page_token=stranger.encrypt("EAAB-not-ours")))
    await desk.say("Hello?")
    assert (await desk.contact())["profile_checked_at"] is None
    assert (await desk.channel())["status"] == "active"  # the send job's to flag, not ours

    async with desk.engine.begin() as conn:
        await conn.execute(update(channels).values(status="reconnect_needed"))
    await desk.say("Hello?", person=CHLOE)
    assert (await desk.contact(CHLOE))["profile_checked_at"] is None
    assert await job_states(desk, "profile") == ["done", "done"]


# --- attachments from the emulator's CDN -----------------------------------------------------


async def test_an_uploaded_image_is_kept_with_its_sha256(world: World) -> None:
    desk = world.desk
    attachment = await upload(desk, PNG, "tee.png", "image/png")
    await send(desk, attachment)
    [item] = await stored_attachments(desk)
    digest = hashlib.sha256(PNG).hexdigest()
    assert item["url"] == attachment["payload"]["url"]
    assert item["stored"] == {
        "sha256": digest,
        "size": len(PNG),
        "content_type": "image/png",
        "name": "tee.png",
    }
    with world.media.open(digest) as file:
        assert file.read() == PNG
    assert await kept_files(world) == [world.media.path_of(digest)]


async def test_an_expired_link_fails_with_the_reason(world: World) -> None:
    desk = world.desk
    attachment = await upload(desk, PNG, "tee.png", "image/png")
    await desk.act("message", attachments=[attachment])
    await desk.advance(4 * DAY)  # the emulator's CDN links last three days
    await desk.settle()
    [item] = await stored_attachments(desk)
    assert failed(item) == (
        "Not downloaded: the link was refused, most likely because it had expired (HTTP 403)."
    )
    assert await kept_files(world) == []
    assert await job_states(desk, "media") == ["done"]


async def test_a_link_to_nothing_fails_at_once(world: World) -> None:
    desk = world.desk
    await send(desk, image("http://emulator.test/cdn/0123456789abcdef0123/x.png?oe=1&oh=2"))
    [item] = await stored_attachments(desk)
    assert failed(item) == "Not downloaded: the file is no longer there (HTTP 404)."


async def test_only_files_are_downloaded_and_a_sticker_once(world: World) -> None:
    desk = world.desk
    await send(
        desk,
        image(f"http://{HOSTILE}/cat.png", "sticker"),
        image(f"http://{HOSTILE}/cat.png"),
        {"type": "fallback", "payload": {"url": f"http://{HOSTILE}/page", "title": "A page"}},
    )
    await desk.act("message", location={"lat": 38.7223, "long": -9.1393})
    await desk.settle()
    sticker, legacy, fallback = (await desk.messages())[0]["attachments"]
    assert sticker["stored"] == legacy["stored"]
    assert sticker["stored"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert set(fallback) == {"type", "url", "title"}
    [location] = await stored_attachments(desk)
    assert set(location) == {"type", "url", "title", "coordinates"}
    assert world.hostile.requests == [f"{HOSTILE}/cat.png"]  # one download for both
    assert await job_states(desk, "media") == ["done", "done"]


async def test_a_page_inbox_echo_with_an_attachment_is_kept(world: World) -> None:
    desk = world.desk
    await desk.say("Can you send a photo of the tee?")
    attachment = await upload(desk, PNG, "photo.png", "image/png")
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE,
                    "time": int(NOW * 1000),
                    "messaging": [
                        {
                            "sender": {"id": PAGE},
                            "recipient": {"id": psid_for(PAGE, JOAO)},
                            "timestamp": int(NOW * 1000) + 5,
                            "message": {
                                "is_echo": True,
                                "app_id": int(PAGE_INBOX_APP_ID),
                                "mid": "m_EchoPhoto0001",
                                "attachments": [attachment],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=desk.app), base_url="http://frontdesk.test"
    ) as frontdesk:
        response = await frontdesk.post(
            "/webhooks/messenger",
            content=body,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": sign(body, APP_SECRET),
            },
        )
    assert response.status_code == 200, response.text
    await desk.settle()
    [echo] = [m for m in await desk.messages() if m["author"] == "page_inbox"]
    [item] = echo["attachments"]
    assert item["stored"]["sha256"] == hashlib.sha256(PNG).hexdigest()


# --- hostile servers -------------------------------------------------------------------------


async def test_a_file_over_the_cap_is_refused_and_nothing_is_kept(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/huge.jpg"), image(f"http://{HOSTILE}/says-huge.png"))
    streamed, declared = await stored_attachments(desk)
    reason = "Not downloaded: the file is larger than 25 MiB, the most Frontdesk keeps."
    assert (failed(streamed), failed(declared)) == (reason, reason)
    assert await kept_files(world) == []  # no partial file left in incoming/ either


async def test_a_file_of_exactly_the_cap_is_kept(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/exactly-the-cap.png"))
    [item] = await stored_attachments(desk)
    assert (item["stored"]["size"], item["stored"]["content_type"]) == (MAX_BYTES, "image/png")


async def test_a_content_type_lie_is_recorded_as_what_the_bytes_are(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/lie.jpg"), image(f"http://{HOSTILE}/png-said-jpeg"))
    html, png = await stored_attachments(desk)
    assert (html["stored"]["content_type"], html["stored"]["declared_type"]) == (
        "application/octet-stream",
        "image/jpeg",
    )
    assert (png["stored"]["content_type"], png["stored"]["declared_type"]) == (
        "image/png",
        "image/jpeg",
    )


async def test_a_file_name_with_dot_dot_never_becomes_a_path(world: World, tmp_path: Path) -> None:
    desk = world.desk
    before = files_in(tmp_path)
    await send(
        desk,
        image(f"http://{HOSTILE}/named"),
        image(f"http://{HOSTILE}/files/..%2F..%2F..%2Fetc%2Fcron.d%2Fevil.png"),
        image(f"http://{HOSTILE}/files/%2E%2E/%2E%2E/"),
    )
    header, encoded, empty = await stored_attachments(desk)
    assert (header["stored"]["name"], encoded["stored"]["name"], empty["stored"]["name"]) == (
        "passwd",
        "evil.png",
        "file",
    )
    digest = hashlib.sha256(PNG).hexdigest()
    picture = digest_of((await desk.contact())["profile_pic"])
    assert picture is not None
    # Nothing new anywhere under the data dir but the file and the contact's picture.
    assert files_in(tmp_path) - before == {
        world.media.path_of(digest),
        world.media.path_of(picture),
    }


@pytest.mark.parametrize(
    "where",
    ["internal", "metadata", "loopback6", "mixed", "mapped", "file", "gopher", "loop"],
)
async def test_a_redirect_is_never_followed_blindly(world: World, where: str) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/redirect/{where}"))
    [item] = await stored_attachments(desk)
    expected = {
        "internal": "the link points to a private or local network address",
        "metadata": "the link points to a private or local network address",
        "loopback6": "the link points to a private or local network address",
        "mixed": "the link points to a private or local network address",
        "mapped": "the link points to a private or local network address",
        "file": "the link is not a web (http or https) address",
        "gopher": "the link is not a web (http or https) address",
        "loop": "the link redirected more than 3 times",
    }[where]
    assert failed(item).startswith("Not downloaded: " + expected), item
    assert world.stray.requests == []  # nothing reached a forbidden address
    assert await kept_files(world) == []


async def test_a_redirect_to_a_malformed_location_is_not_followed(world: World) -> None:
    """httpx refuses the Location itself, as a protocol error: retried like a broken answer."""
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/redirect/broken"))
    [item] = await stored_attachments(desk)
    assert set(item) == {"type", "url"}
    async with desk.engine.connect() as conn:
        error = (
            await conn.execute(select(jobs.c.last_error).where(jobs.c.kind == "media"))
        ).scalar_one()
    assert error == "DownloadFailed: the file's server could not be reached (RemoteProtocolError)"
    assert world.stray.requests == []


async def test_a_redirect_to_another_public_server_is_followed(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/redirect/public"))
    [item] = await stored_attachments(desk)
    assert item["stored"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert world.hostile.requests == [f"{HOSTILE}/redirect/public", f"{OTHER}/cat.png"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"ftp://{HOSTILE}/cat.png", "the link is not a web (http or https) address"),
        ("http:///cat.png", "the link names no server"),
        ("http://10.0.0.7/cat.png", "the link points to a private or local network address"),
        ("http://[fe80::1]/cat.png", "the link points to a private or local network address"),
        ("http://100.64.0.1/cat.png", "the link points to a private or local network address"),
    ],
)
async def test_a_link_that_is_no_public_web_address_is_refused(
    world: World, url: str, reason: str
) -> None:
    desk = world.desk
    await send(desk, image(url))
    [item] = await stored_attachments(desk)
    assert failed(item).startswith(f"Not downloaded: {reason}"), item
    assert world.stray.requests == []


async def test_a_server_error_is_retried_until_it_answers(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/unavailable/once"))
    [item] = await stored_attachments(desk)
    assert set(item) == {"type", "url"}  # not settled yet: waiting for its retry
    assert await job_states(desk, "media") == ["ready"]
    await desk.advance(queue.MAX_DELAY)
    await desk.settle()
    [item] = await stored_attachments(desk)
    assert item["stored"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert world.flaky["once"] == 2


async def test_after_the_last_try_the_failure_is_recorded(world: World) -> None:
    desk = world.desk
    await send(desk, image(f"http://{HOSTILE}/unavailable/always"))
    for _ in range(queue.MAX_ATTEMPTS):
        await desk.advance(queue.MAX_DELAY)
        await desk.settle()
    [item] = await stored_attachments(desk)
    assert failed(item) == (
        f"Not downloaded after {queue.MAX_ATTEMPTS} tries: the file's server answered HTTP 503."
    )
    assert world.flaky["always"] == queue.MAX_ATTEMPTS
    assert await job_states(desk, "media") == ["done"]


async def test_a_server_that_never_finishes_is_given_up_on(world: World, tmp_path: Path) -> None:
    desk = world.desk
    mounts = {
        "all://emulator.test": httpx.ASGITransport(app=desk.emulator.app),
        f"all://{HOSTILE}": httpx.ASGITransport(app=world.hostile),
        "all://": httpx.ASGITransport(app=world.stray),
    }
    async with httpx.AsyncClient(mounts=mounts) as http:
        desk.worker = build_worker(desk, http, world.media, deadline=0.05)
        await send(desk, image(f"http://{HOSTILE}/never-ends.png"))
    assert await job_states(desk, "media") == ["ready"]
    async with desk.engine.connect() as conn:
        error = (
            await conn.execute(select(jobs.c.last_error).where(jobs.c.kind == "media"))
        ).scalar_one()
    assert error == "DownloadFailed: the download did not finish within 0.05 seconds"
    assert await kept_files(world) == []
