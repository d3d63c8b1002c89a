"""One Graph API call over the injected httpx client: the URL, the token, the typed error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import TransportError, classify
from .usage import Usage, parse_usage

_VERSION = re.compile(r"v\d+\.\d+")
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
"""Failures before any byte of the request went out: Meta cannot have acted on it."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful Graph response: its JSON body and the usage headers it carried."""

    body: Any
    usage: Usage | None


class GraphTransport:
    """Calls `{graph_url}/{version}/{path}` with the token in an `Authorization: Bearer` header.

    The header rather than `access_token=` in the query: URLs end up in access logs, proxy logs,
    httpx's own request log and exception messages, and a Page token must never be logged.
    Graph accepts both (digest §5.1).
    """

    def __init__(self, http: httpx.AsyncClient, graph_url: str, version: str) -> None:
        if version and not _VERSION.fullmatch(version):
            raise ValueError(f"a Graph API version looks like v25.0, not {version!r}")
        self.http = http
        self.graph_url = graph_url.rstrip("/")
        self.version = version

    def url(self, path: str) -> str:
        prefix = f"/{self.version}" if self.version else ""
        return f"{self.graph_url}{prefix}/{path.lstrip('/')}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Answer:
        """The parsed answer; raises a `GraphError` subclass for any failure.

        A success status whose body is not JSON is a TransportError: nothing usable came back.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.http.request(
                method,
                self.url(path),
                params=params,
                json=json,
                data=data,
                headers=headers,
            )
        except httpx.RequestError as err:
            # The path, never the URL: the query may hold a client secret or an input token.
            raise TransportError(
                f"{method} {path}: {type(err).__name__}: {err}",
                may_have_arrived=not isinstance(err, _NEVER_SENT),
            ) from err
        usage = parse_usage(response.headers)
        try:
            body: Any = response.json()
        except (ValueError, RecursionError):
            body = None
        failed = not response.is_success or (isinstance(body, dict) and "error" in body)
        if failed:
            raise classify(response.status_code, body, response.headers)
        if body is None:
            raise TransportError(
                f"{method} {path}: HTTP {response.status_code} with a body that is not JSON",
                http_status=response.status_code,
                usage=usage,
            )
        return Answer(body, usage)


def unexpected(path: str, problem: str) -> TransportError:
    """Graph said yes in a shape we don't know: treat it as no usable answer.

    The body itself is not quoted: it may hold tokens.
    """
    return TransportError(f"{path}: unexpected answer: {problem}")
