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

Ordering is not the batch's business: the send job sends one message per conversation at a
time, so one batch never holds two messages of one conversation.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import GraphError, RetryLater, TokenBroken, TransportError, classify
from .transport import Answer, GraphTransport
from .usage import parse_usage

MOST = 50
"""Calls per batch request: Graph's limit."""
IN_FLIGHT = 4
"""Requests out at once per Page; its further calls wait for one of them to end."""


@dataclass
class _Call:
    path: str
    token: str = field(repr=False)
    json: Mapping[str, Any] = field(repr=False)
    answer: asyncio.Future[Answer] = field(repr=False)


class Batching:
    """POST calls of a `GraphTransport`, batched when several wait; see the module."""

    def __init__(
        self, transport: GraphTransport, *, most: int = MOST, in_flight: int = IN_FLIGHT
    ) -> None:
        if not 1 <= most <= MOST:
            raise ValueError(f"a Graph batch holds 1 to {MOST} calls, not {most}")
        if in_flight < 1:
            raise ValueError("at least one request must be allowed out")
        self.transport = transport
        self.most = most
        self.in_flight = in_flight
        self._waiting: list[_Call] = []
        self._out: dict[str, set[asyncio.Task[None]]] = {}
        """Requests out, by Page token: one slow Page must not hold up the others."""
        self._scheduled = False
        self.requests = 0
        """HTTP requests made so far (for tests and figures)."""

    async def post(self, path: str, *, token: str, json: Mapping[str, Any]) -> Answer:
        """As `GraphTransport.call("POST", path, token=token, json=json)`."""
        loop = asyncio.get_running_loop()
        call = _Call(path, token, json, loop.create_future())
        self._waiting.append(call)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)  # calls made in this turn of the loop go together
        return await call.answer

    def _start(self) -> None:
        self._scheduled = False
        # A caller that stopped waiting (cancelled) before its call left: it is not made.
        by_token: dict[str, list[_Call]] = {}
        for call in self._waiting:
            if not call.answer.done():
                by_token.setdefault(call.token, []).append(call)
        self._waiting = []
        # One Page per batch: a batch also needs a token of its own, and Meta's handling of one
        # that stopped working while its items' tokens work is unconfirmed; with the same token
        # everywhere, a dead token fails only the calls it would fail anyway.
        for token, calls in by_token.items():
            out = self._out.setdefault(token, set())
            while calls and len(out) < self.in_flight:
                batch, calls = calls[: self.most], calls[self.most :]
                task = asyncio.get_running_loop().create_task(self._send(batch))
                out.add(task)
                task.add_done_callback(functools.partial(self._ended, token))
            self._waiting += calls

    def _ended(self, token: str, task: asyncio.Task[None]) -> None:
        out = self._out.get(token, set())
        out.discard(task)
        if not out:
            self._out.pop(token, None)
        if self._waiting and not self._scheduled:
            self._start()

    async def _send(self, calls: list[_Call]) -> None:
        self.requests += 1
        try:
            await self._answer(calls)
        finally:
            for call in calls:  # only if this task was cancelled (the process is stopping)
                _settle(call, TransportError(f"POST {call.path}: stopped while sending"))

    async def _answer(self, calls: list[_Call]) -> None:
        if len(calls) == 1:
            [call] = calls
            try:
                answer = await self.transport.call(
                    "POST", call.path, token=call.token, json=call.json
                )
            except Exception as err:  # the caller's to see, not this task's
                _settle(call, err)
            else:
                _settle(call, answer)
            return
        try:
            answer = await self.transport.call(
                "POST",
                "",
                token=calls[0].token,
                json={"batch": [_item(call) for call in calls]},
            )
            results = answer.body
            if not isinstance(results, list) or len(results) != len(calls):
                raise TransportError(
                    f"batch of {len(calls)}: the answer is not a list of {len(calls)} results"
                )
        except Exception as err:  # every call of the batch fails with it
            if not isinstance(err, RetryLater | TokenBroken):
                # Refused as a batch (a proxy's 413, Graph's 400 for the request): says nothing
                # about each message, which alone may well go through.
                err = RetryLater(f"batch of {len(calls)} refused: {err}")
            for call in calls:
                _settle(call, err)
            return
        for call, result in zip(calls, results, strict=True):
            _settle(call, _answer_of(call.path, result))


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
