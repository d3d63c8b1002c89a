"""A bot's HTTP calls: only http(s) to public addresses, no redirects, bounded answers; every
failure comes back in words for the bot's on_error, never as an exception."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from frontdesk.core.handlers import CallResult, HttpCall
from frontdesk.workers.addresses import is_local
from frontdesk.workers.webcall import MAX_BYTES, WebCaller


async def echo(request: Request) -> Response:
    return JSONResponse({"method": request.method, "body": await request.json()})


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * (MAX_BYTES + 1))


async def text(request: Request) -> Response:
    return PlainTextResponse("not json")


async def moved(request: Request) -> Response:
    return RedirectResponse("http://169.254.169.254/latest/meta-data")


SERVICE = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/big", big),
        Route("/text", text),
        Route("/moved", moved),
    ]
)


async def public(host: str, port: int) -> list[str]:
    return {
        "shop.example": ["93.184.216.34"],
        "inside.example": ["10.0.0.7"],
        "garbled.example": ["not-an-address"],  # a resolver answering nonsense
        "mixed.example": ["93.184.216.34", "192.168.1.1"],
    }.get(host, [])


def caller(allow_private: bool = False) -> WebCaller:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=SERVICE))
    return WebCaller(http, allow_private=allow_private, resolve=public)


async def test_a_post_sends_json_and_reads_json() -> None:
    result = await caller().call(HttpCall("POST", "http://shop.example/echo", body={"a": "1"}))
    assert result == CallResult(200, {"method": "POST", "body": {"a": "1"}})


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://shop.example/x", "only http and https addresses are called"),
        ("file:///etc/passwd", "only http and https addresses are called"),
        ("http://127.0.0.1/echo", "private or local network"),
        ("http://169.254.169.254/latest", "private or local network"),
        ("http://[::1]/", "private or local network"),
        ("http://[::ffff:10.0.0.1]/", "private or local network"),
        ("http://inside.example/", "private or local network"),
        ("http://garbled.example/", "private or local network"),
        ("http://mixed.example/", "private or local network"),
        ("http://nowhere.example/", "the address of nowhere.example could not be found"),
        ("http:///nohost", "names no server"),
        ("https://\x00/", "not a valid URL"),
    ],
)
async def test_hostile_addresses_are_refused(url: str, error: str) -> None:
    result = await caller().call(HttpCall("GET", url))
    assert not result.ok
    assert result.error is not None
    assert error in result.error


async def test_redirects_are_not_followed() -> None:
    result = await caller().call(HttpCall("GET", "http://shop.example/moved"))
    assert result.status == 307
    assert not result.ok


async def test_an_oversized_answer_is_refused() -> None:
    result = await caller().call(HttpCall("GET", "http://shop.example/big"))
    assert result.error == "the answer is over 256 KiB"


async def test_an_answer_that_is_not_json_has_no_body() -> None:
    assert await caller().call(HttpCall("GET", "http://shop.example/text")) == CallResult(200)


async def test_an_unreachable_endpoint_is_a_result_not_an_exception() -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused"))
        )
    )
    result = await WebCaller(http, allow_private=True).call(HttpCall("GET", "http://x.test/"))
    assert result.error == "the endpoint could not be reached (ConnectError)"


def test_local_graph_urls() -> None:
    assert is_local("http://127.0.0.1:8081")
    assert is_local("http://localhost:8081")
    assert not is_local("https://graph.facebook.com")
