"""Send API calls that wait at the same moment go to Meta together, as one Graph batch request.

Graph takes up to 50 calls in one `POST /` (`batch=[{method, relative_url, body}, ...]`, digest
§5) and answers each as if it had come alone: `{code, headers, body}`, the body a JSON string.
Under load a worker has dozens of sends in flight, and an HTTP request per send is most of what
a send costs, here and at Meta's end; batched, each send's share is small.

Nothing waits to fill a batch: a call goes out at the loop's next turn, alone if it is alone
(then as a plain call, exactly as without batching), and calls that arrive while `IN_FLIGHT`
requests are out wait for the first to end. So a quiet Page's sends leave at once, and a busy
Page's leave many at a time. Each call gets the answer or the typed error it would have got
alone; should the batch request itself fail, every call in it fails the same way (with
`may_have_arrived` as for the request).

Given the app's access token, the sends of all its Pages share batches: each item carries its
own Page's token and the request itself the app's (Meta's batch reference: a batch request needs
a token of its own, which serves the items that name none; an item's own token wins). Many
Pages each answering a few customers then still make few requests, and a shared request counts
against the requests in flight of each Page in it. Should Graph refuse a request under the app's
token (the token, the app's own rate limit), nothing is said of the Pages: their calls go again
in batches of one Page each, under that Page's token, as without the app's token, and so do
later ones (until a restart).

Ordering is not the batch's business: the send job sends one message per conversation at a
time, so one batch never holds two messages of one conversation.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import GraphError, RetryLater, TokenBroken, TransportError, classify
from .transport import Answer, GraphTransport
from .usage import parse_usage

log = logging.getLogger("frontdesk.messenger.batch")

MOST = 50
"""Calls per batch request: Graph's limit."""
IN_FLIGHT = 4
"""Requests out at once per Page (shared requests: this many per Page waiting); further calls
wait for one of them to end."""


@dataclass
class _Call:
    path: str
    token: str = field(repr=False)
    json: Mapping[str, Any] = field(repr=False)
    answer: asyncio.Future[Answer] = field(repr=False)
    same_app: bool = False
    """The Page token was issued to the app whose token the batching holds."""


@dataclass(frozen=True)
class _Group:
    """Calls that go in the same requests: under one Page's token, or shared under the app's."""

    token: str = field(repr=False)
    shared: bool


class Batching:
    """POST calls of a `GraphTransport`, batched when several wait; see the module."""

    def __init__(
        self,
        transport: GraphTransport,
        *,
        most: int = MOST,
        in_flight: int = IN_FLIGHT,
        app_token: str | None = None,
    ) -> None:
        if not 1 <= most <= MOST:
            raise ValueError(f"a Graph batch holds 1 to {MOST} calls, not {most}")
        if in_flight < 1:
            raise ValueError("at least one request must be allowed out")
        self.transport = transport
        self.most = most
        self.in_flight = in_flight
        self._app_token = app_token
        """The requests' own token while the Pages share batches; None: one Page per batch."""
        self._waiting: list[_Call] = []
        self._out: dict[_Group, set[asyncio.Task[None]]] = {}
        """Requests out by group: a slow Page must not hold up the others."""
        self._scheduled = False
        self.requests = 0
        """HTTP requests made so far (for tests and figures)."""

    @property
    def shares(self) -> bool:
        """Whether the Pages of the app share batches (until Graph refuses its token)."""
        return self._app_token is not None

    async def post(
        self, path: str, *, token: str, json: Mapping[str, Any], same_app: bool = False
    ) -> Answer:
        """As `GraphTransport.call("POST", path, token=token, json=json)`. With `same_app`,
        the Page token was issued to the app whose token this batching holds, so the call may
        share a batch with other Pages' (a Page of another app's never does: whether Graph
        takes an item under one app's token in a request under another's is unconfirmed)."""
        loop = asyncio.get_running_loop()
        call = _Call(path, token, json, loop.create_future(), same_app)
        self._waiting.append(call)
        self._schedule()
        return await call.answer

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            # Calls made in this turn of the loop go together.
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        # Calls go in groups by the token of their requests: their Page's, or the app's for
        # those that share (chosen here, once). Without the app's token, one Page per batch: a
        # batch needs a token of its own, and Meta's handling of one that stopped working while
        # its items' tokens work is unconfirmed; with the same token everywhere, a dead token
        # fails only the calls it would fail anyway.
        groups: dict[_Group, list[_Call]] = {}
        for call in self._waiting:
            if call.answer.done():
                continue  # its caller stopped waiting (cancelled) before it left: not made
            app_token = self._app_token
            if app_token is not None and call.same_app:
                group = _Group(app_token, shared=True)
            else:
                group = _Group(call.token, shared=False)
            groups.setdefault(group, []).append(call)
        self._waiting = []
        for group, calls in groups.items():
            out = self._out.setdefault(group, set())
            # A shared request counts for each Page waiting, as each Page's own would.
            most_out = self.in_flight * (len({c.token for c in calls}) if group.shared else 1)
            while calls and len(out) < most_out:
                batch, calls = calls[: self.most], calls[self.most :]
                task = asyncio.get_running_loop().create_task(self._send(batch, group))
                out.add(task)
                task.add_done_callback(functools.partial(self._ended, group))
            self._waiting += calls

    def _ended(self, group: _Group, task: asyncio.Task[None]) -> None:
        out = self._out.get(group, set())
        out.discard(task)
        if not out:
            self._out.pop(group, None)
        if self._waiting and not self._scheduled:
            self._start()

    async def _send(self, calls: list[_Call], group: _Group) -> None:
        self.requests += 1
        requeued = False
        try:
            requeued = await self._answer(calls, group)
        except Exception:
            log.exception("a batch of %d calls failed unexpectedly", len(calls))
        finally:
            if not requeued:
                # Only a call left unanswered: the process is stopping, or the above.
                for call in calls:
                    _settle(call, TransportError(f"POST {call.path}: stopped while sending"))

    async def _answer(self, calls: list[_Call], group: _Group) -> bool:
        """Make the calls and settle each; True when they were put back to go again instead."""
        if len(calls) == 1:  # alone, under its Page's token, whatever its group
            [call] = calls
            try:
                answer = await self.transport.call(
                    "POST", call.path, token=call.token, json=call.json
                )
            except Exception as err:  # the caller's to see, not this task's
                _settle(call, err)
            else:
                _settle(call, answer)
            return False
        try:
            answer = await self.transport.call(
                "POST", "", token=group.token, json={"batch": [_item(call) for call in calls]}
            )
            results = answer.body
            if not isinstance(results, list) or len(results) != len(calls):
                raise TransportError(
                    f"batch of {len(calls)}: the answer is not a list of {len(calls)} results"
                )
        except Exception as err:  # every call of the batch fails with it
            if group.shared and _refused_by_graph(err):
                # Graph refused the request under the app's token (the token, the app's own
                # rate limit, a permission): nothing is said of the Pages. Their calls go
                # again, each Page's in batches of its own under its own token, from now on.
                self._stop_sharing(err)
                self._requeue(calls)
                return True
            if not isinstance(err, RetryLater | TokenBroken):
                # Refused as a batch (a proxy's 413, Graph's 400 for the request): says nothing
                # about each message, which alone may well go through.
                err = RetryLater(f"batch of {len(calls)} refused: {err}")
            for call in calls:
                _settle(call, err)
            return False
        for call, result in zip(calls, results, strict=True):
            _settle(call, _answer_of(call.path, result))
        return False

    def _stop_sharing(self, err: Exception) -> None:
        if self._app_token is None:
            return  # another shared request was refused first
        log.warning(
            "Graph refused a batch request under the app's token (%s); sends go in batches of "
            "one Page each from now on",
            err,
        )
        self._app_token = None

    def _requeue(self, calls: list[_Call]) -> None:
        """Calls that did not go: they wait for the next requests."""
        self._waiting += calls
        self._schedule()


SERVICE_CODES = frozenset({1, 2})
"""Graph's own trouble ("an unknown error", "service temporarily unavailable"), not a refusal."""


def _refused_by_graph(err: Exception) -> bool:
    """Graph refusing the request itself (its token, the app's rate limit, a permission): not a
    failure on the way (no answer, a proxy's page) nor Graph's own trouble (a 5xx, codes 1 and
    2, an error marked transient), after which the app's token is as good as before."""
    return (
        isinstance(err, GraphError)
        and not isinstance(err, TransportError)
        and err.code is not None
        and err.code not in SERVICE_CODES
        and err.is_transient is not True
        and (err.http_status or 0) < 500
    )


def _item(call: _Call) -> dict[str, str]:
    """One call as a batch item: its parameters form-encoded, each value as JSON (Graph reads
    a parameter's JSON value as the JSON body's would be), and its own Page token."""
    body = {
        name: value if isinstance(value, str) else jsonlib.dumps(value, separators=(",", ":"))
        for name, value in call.json.items()
    }
    body["access_token"] = call.token
    return {"method": "POST", "relative_url": call.path, "body": urlencode(body)}


def _answer_of(path: str, result: Any) -> Answer | GraphError:
    """One item's result as a plain call's answer, or its typed error."""
    if not isinstance(result, Mapping):
        # Graph answers null for a call it did not complete (it timed out inside the batch):
        # whether it took effect is unknown.
        return TransportError(f"POST {path}: no result in the batch's answer")
    status = result.get("code")
    if not isinstance(status, int) or isinstance(status, bool):
        return TransportError(f"POST {path}: a batch result without a status code")
    headers = httpx.Headers(
        [
            (str(h["name"]), str(h["value"]))
            for h in result.get("headers") or ()
            if isinstance(h, Mapping) and "name" in h and "value" in h
        ]
    )
    try:
        body: Any = jsonlib.loads(result.get("body") or "")
    except (TypeError, ValueError, RecursionError):
        body = None
    if not 200 <= status < 300 or (isinstance(body, Mapping) and "error" in body):
        return classify(status, body, headers)
    if body is None:
        return TransportError(
            f"POST {path}: HTTP {status} with a body that is not JSON", http_status=status
        )
    return Answer(body, parse_usage(headers))


def _settle(call: _Call, outcome: Answer | BaseException) -> None:
    if call.answer.done():  # the caller stopped waiting (cancelled)
        return
    if isinstance(outcome, BaseException):
        call.answer.set_exception(outcome)
    else:
        call.answer.set_result(outcome)
