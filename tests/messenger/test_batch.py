"""Sends that wait together go as one Graph batch request (`messenger.batch`): against the
emulator, each call gets what it would have got alone; against broken answers, each fails typed."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from frontdesk.emulator import psid_for
from frontdesk.messenger import (
    BadRequest,
    RetryLater,
    SendClient,
    SendResult,
    TokenBroken,
    TransportError,
    UserUnreachable,
    app_token,
    messages,
)
from frontdesk.messenger.batch import Batching
from frontdesk.messenger.transport import GraphTransport

from .conftest import (
    ANA,
    ANA_PSID,
    APP_ID,
    APP_SECRET,
    GRAPH,
    JOAO,
    JOAO_PSID,
    PAGE2,
    Wire,
    act,
    outbox,
    page_token,
)


@pytest.fixture
async def token(control: httpx.AsyncClient) -> str:
    """The Page token, João and Ana in conversation (their windows open)."""
    value = await page_token(control)
    await act(control, "message", text="Hi!")
    await act(control, "message", person_id=ANA, text="Hello")
    return value


@pytest.fixture
def batched(http: httpx.AsyncClient) -> SendClient:
    return SendClient(http, GRAPH, batch=True)


def batch_requests(wire: Wire) -> list[list[dict[str, Any]]]:
    """The items of each batch request sent, each item's body decoded."""
    found = []
    for request in wire.requests:
        if request.url.path.rstrip("/") == "/v25.0":
            items = json.loads(request.content)["batch"]
            found.append([{**item, "body": parse_qs(item["body"])} for item in items])
    return found


async def test_sends_waiting_together_go_in_one_request_and_each_arrives(
    batched: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    texts = [f"reply {n}" for n in range(6)]
    results = await asyncio.gather(
        *(
            batched.send_message(token, JOAO_PSID if n % 2 else ANA_PSID, messages.text(text))
            for n, text in enumerate(texts)
        )
    )

    assert all(r.message_id for r in results)
    assert len({r.message_id for r in results}) == len(texts)
    [items] = batch_requests(wire)
    assert [item["relative_url"] for item in items] == ["me/messages"] * len(texts)
    assert {item["body"]["access_token"][0] for item in items} == {token}
    first = items[0]["body"]
    assert json.loads(first["message"][0]) == {"text": "reply 0"}
    assert first["messaging_type"] == ["RESPONSE"]  # a string parameter as itself
    assert wire.to("/messages") == []  # no call went alone
    assert [m["text"] for m in await outbox(control)] == [
        "reply 1",
        "reply 3",
        "reply 5",
    ]
    assert [m["text"] for m in await outbox(control, ANA)] == [
        "reply 0",
        "reply 2",
        "reply 4",
    ]


async def test_one_refused_call_fails_alone_with_its_own_typed_error(
    batched: SendClient, token: str
) -> None:
    outcomes = await asyncio.gather(
        batched.send_message(token, JOAO_PSID, messages.text("fine")),
        batched.send_message(token, "7999999999999999", messages.text("nobody")),
        batched.sender_action(token, ANA_PSID, "typing_on"),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], UserUnreachable)
    assert (outcomes[1].code, outcomes[1].subcode) == (100, 2018001)
    assert outcomes[2].recipient_id == ANA_PSID  # type: ignore[union-attr]


async def test_a_send_alone_is_a_plain_call(batched: SendClient, wire: Wire, token: str) -> None:
    result = await batched.send_message(token, JOAO_PSID, messages.text("just one"))

    assert result.message_id
    assert len(wire.to("/me/messages")) == 1
    assert batch_requests(wire) == []


async def test_more_than_a_batch_holds_goes_in_several_requests_few_at_a_time(
    http: httpx.AsyncClient, wire: Wire, token: str
) -> None:
    batching = Batching(GraphTransport(http, GRAPH, "v25.0"), most=4, in_flight=1)
    body = {"recipient": {"id": JOAO_PSID}, "messaging_type": "RESPONSE"}
    answers = await asyncio.gather(
        *(
            batching.post("me/messages", token=token, json={**body, "message": {"text": str(n)}})
            for n in range(9)
        )
    )

    assert [len(items) for items in batch_requests(wire)] == [4, 4]
    assert len(wire.to("/me/messages")) == 1  # the ninth, alone
    assert batching.requests == 3
    assert all(answer.body["message_id"] for answer in answers)


async def four_sends_to_two_pages(
    client: SendClient, control: httpx.AsyncClient, token: str, *, same_app: bool
) -> str:
    """João and Ana on the first Page, João twice on the second; that Page's token."""
    other = await page_token(control, PAGE2)
    await act(control, "message", page_id=PAGE2, text="Hi other page")
    joao_there = psid_for(PAGE2, JOAO)
    results = await asyncio.gather(
        client.send_message(token, JOAO_PSID, messages.text("a"), same_app=same_app),
        client.send_message(other, joao_there, messages.text("b"), same_app=same_app),
        client.send_message(token, ANA_PSID, messages.text("c"), same_app=same_app),
        client.send_message(other, joao_there, messages.text("d"), same_app=same_app),
    )
    assert all(result.message_id for result in results)
    assert [m["text"] for m in await outbox(control)] == ["a"]
    assert [m["text"] for m in await outbox(control, ANA)] == ["c"]
    assert [m["text"] for m in await outbox(control, page_id=PAGE2)] == ["b", "d"]
    return other


def batch_tokens(wire: Wire) -> list[str]:
    """The token of each batch request itself."""
    found = []
    for request in wire.requests:
        if request.url.path.rstrip("/") == "/v25.0":
            found.append(request.headers["authorization"].removeprefix("Bearer "))
    return found


async def test_without_the_apps_token_pages_never_share_a_batch(
    batched: SendClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    other = await four_sends_to_two_pages(batched, control, token, same_app=True)

    for items in batch_requests(wire):
        assert len({item["body"]["access_token"][0] for item in items}) == 1
    assert sorted(len(items) for items in batch_requests(wire)) == [2, 2]
    assert sorted(batch_tokens(wire)) == sorted([token, other])


async def test_pages_of_the_app_share_a_batch_under_the_apps_token(
    http: httpx.AsyncClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    client = SendClient(http, GRAPH, batch=True, app_token=app_token(APP_ID, APP_SECRET))
    other = await four_sends_to_two_pages(client, control, token, same_app=True)

    [items] = batch_requests(wire)
    assert [item["body"]["access_token"][0] for item in items] == [token, other, token, other]
    assert batch_tokens(wire) == [app_token(APP_ID, APP_SECRET)]


async def test_a_page_of_another_app_never_shares_a_batch(
    http: httpx.AsyncClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    client = SendClient(http, GRAPH, batch=True, app_token=app_token(APP_ID, APP_SECRET))
    other = await four_sends_to_two_pages(client, control, token, same_app=False)

    assert sorted(batch_tokens(wire)) == sorted([token, other])


async def test_a_refused_app_token_sends_each_page_under_its_own_from_then_on(
    http: httpx.AsyncClient,
    wire: Wire,
    control: httpx.AsyncClient,
    token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = SendClient(http, GRAPH, batch=True, app_token=app_token(APP_ID, "not-the-secret"))
    other = await four_sends_to_two_pages(client, control, token, same_app=True)

    # The mixed batch was refused as a whole; each Page's calls went again in its own.
    assert sorted(batch_tokens(wire)) == sorted([app_token(APP_ID, "not-the-secret"), token, other])
    assert [len(items) for items in batch_requests(wire)] == [4, 2, 2]
    assert client.batching is not None
    assert not client.batching.shares
    assert "refused a batch request under the app's token" in caplog.text
    assert "not-the-secret" not in caplog.text
    await asyncio.gather(
        client.send_message(token, JOAO_PSID, messages.text("e"), same_app=True),
        client.send_message(token, ANA_PSID, messages.text("f"), same_app=True),
    )
    assert batch_tokens(wire)[-1] == token


async def test_a_caller_that_stops_waiting_leaves_the_others_their_answers(
    batched: SendClient, control: httpx.AsyncClient, token: str
) -> None:
    gone = asyncio.create_task(batched.send_message(token, JOAO_PSID, messages.text("x")))
    stays = asyncio.create_task(batched.send_message(token, ANA_PSID, messages.text("y")))
    await asyncio.sleep(0)
    gone.cancel()

    assert (await stays).message_id
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert [m["text"] for m in await outbox(control)] == []  # João's never left


# --- answers that are not what Graph gives --------------------------------------------------------


def graph_answering(answer: Any, status: int = 200) -> httpx.MockTransport:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/") != "/v25.0":
            return httpx.Response(200, json={"recipient_id": "1", "message_id": "m_alone"})
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return httpx.Response(status, content=content)

    return httpx.MockTransport(respond)


def result(code: int, body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return {
        "code": code,
        "headers": [{"name": "Content-Type", "value": "text/javascript"}],
        "body": raw,
    }


OK = result(200, {"recipient_id": "1", "message_id": "m_1"})


async def two_sends(transport: httpx.MockTransport) -> list[Any]:
    async with httpx.AsyncClient(transport=transport) as http:
        client = SendClient(http, "https://graph.facebook.com", batch=True)
        return list(
            await asyncio.gather(
                client.send_message("EAAtoken", JOAO_PSID, messages.text("a")),
                client.send_message("EAAtoken", JOAO_PSID, messages.text("b")),
                return_exceptions=True,
            )
        )


@pytest.mark.parametrize(
    ("answer", "status", "kinds"),
    [
        ({"not": "a list"}, 200, (TransportError, TransportError)),
        ([OK], 200, (TransportError, TransportError)),  # fewer results than calls
        ([OK, OK, OK], 200, (TransportError, TransportError)),
        (b"<html>busy</html>", 200, (TransportError, TransportError)),
        (b"", 502, (RetryLater, RetryLater)),
        # Refused as a batch: each message may go alone, so each is tried again later.
        ({"error": {"code": 100, "message": "(#100) bad batch"}}, 400, (RetryLater, RetryLater)),
        (b"<html>Request Entity Too Large</html>", 413, (RetryLater, RetryLater)),
        ([OK, None], 200, (SendResult, TransportError)),  # Graph's null: not completed
        ([OK, {"code": "200"}], 200, (SendResult, TransportError)),
        ([OK, {"code": True, "body": "{}"}], 200, (SendResult, TransportError)),
        ([OK, result(200, "{not json")], 200, (SendResult, TransportError)),
        ([OK, result(200, {"recipient_id": "1"})], 200, (SendResult, TransportError)),
        ([OK, result(500, "")], 200, (SendResult, RetryLater)),
        ([OK, result(400, {"error": {"code": 100}})], 200, (SendResult, BadRequest)),
        (
            [OK, {**result(200, {"error": {"code": 2, "is_transient": True}})}],
            200,
            (SendResult, RetryLater),
        ),
        (
            [OK, {"code": 200, "headers": "nonsense", "body": json.dumps(OK)}],
            200,
            (SendResult, TransportError),
        ),
        (
            [OK, {"code": 200, "headers": [{"name": 1}, 5], "body": OK["body"]}],
            200,
            (SendResult, SendResult),
        ),
    ],
)
async def test_broken_batch_answers_fail_each_call_typed(
    answer: Any, status: int, kinds: tuple[type, type]
) -> None:
    outcomes = await two_sends(graph_answering(answer, status))

    for outcome, kind in zip(outcomes, kinds, strict=True):
        assert isinstance(outcome, kind), outcomes


async def test_a_refused_connection_fails_every_call_as_never_sent() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    outcomes = await two_sends(httpx.MockTransport(refuse))

    assert all(isinstance(o, TransportError) and not o.may_have_arrived for o in outcomes)


@pytest.mark.parametrize(("most", "in_flight"), [(0, 1), (51, 1), (10, 0)])
def test_limits_of_a_batching(most: int, in_flight: int) -> None:
    transport = GraphTransport(httpx.AsyncClient(), GRAPH, "v25.0")
    with pytest.raises(ValueError, match=r"batch holds|at least one"):
        Batching(transport, most=most, in_flight=in_flight)


# --- shared batches against answers in a chosen order ---------------------------------------


class Graph:
    """A Graph that holds each batch request until told, refuses the app's token or a Page's
    as asked, and notes each request's token and its items' tokens."""

    def __init__(self, *, app_refusal: dict[str, Any] | None = None) -> None:
        self.app_refusal = app_refusal
        self.dead_pages: set[str] = set()
        self.seen: list[tuple[str, list[str]]] = []
        self.gates: list[asyncio.Event] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        body = json.loads(request.content)
        if "batch" not in body:
            self.seen.append((token, [token]))
            if token in self.dead_pages:
                return httpx.Response(400, json=DEAD)
            return httpx.Response(200, json={"recipient_id": "1", "message_id": "m_alone"})
        items = [parse_qs(item["body"])["access_token"][0] for item in body["batch"]]
        self.seen.append((token, items))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if token == APP and self.app_refusal is not None:
            return httpx.Response(400, json={"error": self.app_refusal})
        return httpx.Response(
            200, json=[DEAD_ITEM if item in self.dead_pages else OK for item in items]
        )


APP = "900100200300400|secret"
DEAD = {"error": {"code": 190, "error_subcode": 460, "message": "password changed"}}
DEAD_ITEM = {"code": 400, "headers": [], "body": json.dumps(DEAD)}


async def shared_sends(graph: Graph, tokens: list[str], *, in_flight: int = 4) -> list[Any]:
    """Each token's call, all sharing, most two per batch; batches answered newest first."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(graph)) as http:
        batching = Batching(
            GraphTransport(http, GRAPH, "v25.0"), most=2, in_flight=in_flight, app_token=APP
        )
        calls = [
            asyncio.ensure_future(
                batching.post("me/messages", token=t, json={"n": n}, same_app=True)
            )
            for n, t in enumerate(tokens)
        ]
        while not all(call.done() for call in calls):
            await asyncio.sleep(0)
            if graph.gates:
                graph.gates.pop().set()
        return [call.exception() or call.result() for call in calls]


@pytest.mark.parametrize(
    "refusal",
    [
        {"code": 190, "message": "Invalid OAuth access token signature."},
        {"code": 4, "message": "(#4) Application request limit reached"},
        {"code": 200, "message": "(#200) appsecret_proof is required"},
    ],
    ids=["token", "app rate limit", "permission"],
)
async def test_a_refused_shared_batch_never_goes_under_one_pages_token(
    refusal: dict[str, Any],
) -> None:
    graph = Graph(app_refusal=refusal)
    graph.dead_pages.add("PAGE_A")

    outcomes = await shared_sends(graph, ["PAGE_A", "PAGE_B"] * 3)

    # Refused under the app's token, the calls went again, each Page under its own token.
    for token, items in graph.seen:
        assert token == APP or set(items) == {token}, graph.seen
    assert all(isinstance(o, TokenBroken) for o in outcomes[0::2]), outcomes
    assert all(o.body["message_id"] for o in outcomes[1::2]), outcomes


async def test_one_pages_dead_token_in_a_shared_batch_fails_its_call_alone() -> None:
    graph = Graph()
    graph.dead_pages.add("PAGE_A")

    outcomes = await shared_sends(graph, ["PAGE_A", "PAGE_B", "PAGE_C", "PAGE_D"])

    assert isinstance(outcomes[0], TokenBroken)
    assert [o.body["message_id"] for o in outcomes[1:]] == ["m_1"] * 3
    assert {token for token, _ in graph.seen} == {APP}


async def test_sharing_and_lone_pages_in_one_turn_each_go_their_way(
    http: httpx.AsyncClient, wire: Wire, control: httpx.AsyncClient, token: str
) -> None:
    other = await page_token(control, PAGE2)
    await act(control, "message", page_id=PAGE2, text="Hi other page")
    joao_there = psid_for(PAGE2, JOAO)
    client = SendClient(http, GRAPH, batch=True, app_token=app_token(APP_ID, APP_SECRET))
    await asyncio.gather(
        client.send_message(token, JOAO_PSID, messages.text("a"), same_app=True),
        client.send_message(other, joao_there, messages.text("b"), same_app=True),
        client.send_message(token, ANA_PSID, messages.text("c"), same_app=False),
        client.send_message(token, ANA_PSID, messages.text("d"), same_app=False),
    )

    assert sorted(batch_tokens(wire)) == sorted([app_token(APP_ID, APP_SECRET), token])


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, {"code": 2, "message": "Service temporarily unavailable", "is_transient": True}),
        (400, {"code": 1, "message": "An unknown error occurred"}),
        (400, {"code": 100, "message": "(#100) busy", "is_transient": True}),
        (503, {"code": 100, "message": "(#100) busy"}),
    ],
    ids=["service unavailable", "unknown error", "marked transient", "a 5xx"],
)
async def test_graphs_own_trouble_with_a_shared_batch_keeps_sharing(
    status: int, error: dict[str, Any]
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": error})

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as http:
        batching = Batching(GraphTransport(http, GRAPH, "v25.0"), app_token=APP)
        outcomes = await asyncio.gather(
            *(
                batching.post("me/messages", token=page, json={"n": 1}, same_app=True)
                for page in ("PAGE_A", "PAGE_B")
            ),
            return_exceptions=True,
        )

    assert all(isinstance(o, RetryLater) for o in outcomes), outcomes
    assert batching.shares
    assert batching.requests == 1


def test_the_apps_token_needs_batching() -> None:
    with pytest.raises(ValueError, match="batch=True"):
        SendClient(httpx.AsyncClient(), GRAPH, app_token=APP)
