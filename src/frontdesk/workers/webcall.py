"""The HTTP calls a bot makes (its `call` action), to addresses a tenant wrote: made safely.

A tenant's URL is hostile until shown otherwise (SSRF): only http(s); the host must resolve to
public addresses, unless the operator's Graph URL is itself local (development against the
emulator, where the whole world is local); no redirect is followed (a 3xx is an answer, and
fails the call); the answer is read up to MAX_BYTES within the call's timeout. Whatever goes
wrong comes back as a CallResult with the reason in plain words, for the bot's `on_error`.
Known gap, as for downloads: the address is checked when resolved, and httpx resolves again to
connect (DNS rebinding is not stopped here).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import httpx

from frontdesk.core.handlers import CallResult, HttpCall

from .addresses import is_public, literal

MAX_BYTES = 256 * 1024
USER_AGENT = "Frontdesk-RuleBot/1"

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class WebCaller:
    """Makes a bot's calls over `http`; `allow_private` lifts the public-address rule."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.http = http
        self.allow_private = allow_private
        self._resolve = resolve

    async def call(self, request: HttpCall) -> CallResult:
        try:
            async with asyncio.timeout(request.timeout):
                return await self._call(request)
        except TimeoutError:
            return CallResult(error=f"no answer within {request.timeout:g} seconds")

    async def _call(self, request: HttpCall) -> CallResult:
        try:
            url = httpx.URL(request.url)
        except httpx.InvalidURL:
            return CallResult(error="the address is not a valid URL")
        refused = await self._refused(url)
        if refused is not None:
            return CallResult(error=refused)
        headers = {"user-agent": USER_AGENT, "accept": "application/json", **dict(request.headers)}
        try:
            async with self.http.stream(
                request.method,
                url,
                json=request.body,
                headers=headers,
                follow_redirects=False,
                timeout=request.timeout,
            ) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        return CallResult(
                            response.status_code,
                            error=f"the answer is over {MAX_BYTES // 1024} KiB",
                        )
        except httpx.HTTPError as err:
            return CallResult(error=f"the endpoint could not be reached ({type(err).__name__})")
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):
            parsed = None
        return CallResult(response.status_code, parsed)

    async def _refused(self, url: httpx.URL) -> str | None:
        if url.scheme not in ("http", "https"):
            return "only http and https addresses are called"
        if not url.host:
            return "the address names no server"
        if self.allow_private:
            return None
        given = literal(url.host)
        try:
            addresses = [given] if given else await self._resolve(url.host, url.port or 443)
        except OSError:
            return f"the address of {url.host} could not be found"
        if not addresses:
            return f"the address of {url.host} could not be found"
        if not all(is_public(address) for address in addresses):
            return "the address is on a private or local network, which bots may not call"
        return None
