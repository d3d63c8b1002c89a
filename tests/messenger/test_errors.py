"""`classify` over every row of digest §9, and the parts of an error it keeps.

The table is the digest's, row by row; the "Action" column maps to a class: R → RetryLater,
T → TokenBroken, U → UserUnreachable, W → WindowClosed, P → PermissionProblem, F → BadRequest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from frontdesk.messenger import (
    BadRequest,
    GraphError,
    PermissionProblem,
    RetryLater,
    TokenBroken,
    TransportError,
    UserUnreachable,
    WindowClosed,
    classify,
    parse_usage,
)

PAGE_ID = "104857600012345"
R, T, U, W, P, F = (
    RetryLater,
    TokenBroken,
    UserUnreachable,
    WindowClosed,
    PermissionProblem,
    BadRequest,
)

# (code, subcode, class) — one line per row of digest §9, in its order.
TABLE: list[tuple[int, int | None, type[GraphError]]] = [
    (1, None, R),
    (1, 99, R),
    (1, 1357046, R),
    (2, None, R),
    (2, 2018344, P),
    (3, None, P),
    (4, None, R),
    (4, 2018022, R),
    (4, 2018354, F),  # drop; skip the person this cycle: retrying now cannot help
    (9, 2018352, R),
    (10, None, P),
    (10, 2018278, W),
    (10, 2534022, W),
    (10, 2018065, W),
    (10, 2018108, U),
    (10, 1893063, P),
    (10, 1893015, U),
    (10, 1404170, U),
    (10, 2018336, U),
    (17, None, R),
    (32, None, R),
    (100, None, F),
    (100, 33, F),
    (100, 2018001, U),
    (100, 2018008, F),
    (100, 2018047, F),
    (100, 2018074, F),
    (100, 2018109, F),
    (100, 2018294, F),
    (100, 2018014, F),
    (100, 2018164, F),
    (100, 2018320, F),
    (100, 2018328, F),
    (100, 2534037, P),  # not the thread owner: take or request control
    (102, None, T),
    (190, None, T),
    (190, 458, T),
    (190, 459, T),
    (190, 460, T),
    (190, 463, T),
    (190, 464, T),
    (190, 467, T),
    (190, 492, T),
    (190, 490, T),
    (190, 2069032, T),
    (200, None, P),
    (299, None, P),
    (250, None, P),
    (200, 2018028, P),
    (200, 2018027, P),
    (200, 2018021, P),
    (200, 1545041, U),
    (200, 2534041, P),
    (230, None, U),
    (341, None, R),
    (368, None, P),
    (551, None, U),
    (551, 1545041, U),
    (613, None, R),
    (613, 2018338, P),  # tag abuse: stop tagged sends to this person
    (613, 1893016, F),  # duplicate opt-in request: drop
    (613, 2534040, R),
    (1200, None, R),
    (2018144, None, R),
    (2018154, None, F),
    (2071025, None, F),
    (2018218, None, F),  # no profile: skip it
    (2018247, None, P),
    (2018300, None, P),
    (2018171, None, P),
    (2018234, None, P),
    (2018321, None, P),
    (2022, None, P),
    (10303, None, F),
    (80001, None, R),
    (80006, None, R),
    (9000001, None, F),
]


def envelope(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": f"(#{code}) something",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
        **extra,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(("code", "subcode", "kind"), TABLE)
def test_every_row_of_the_table(code: int, subcode: int | None, kind: type[GraphError]) -> None:
    error = classify(400, envelope(code, subcode))
    assert type(error) is kind
    assert (error.code, error.subcode) == (code, subcode)


@pytest.mark.parametrize(
    "number", [2018300, 2018171, 2018247, 2018278, 2018001, 1545041, 1893063, 2018028]
)
def test_messenger_numbers_mean_the_same_as_code_or_as_subcode(number: int) -> None:
    as_subcode = classify(400, envelope(10, number))
    as_code = classify(400, envelope(number))
    assert type(as_code) is type(as_subcode)
    if isinstance(as_code, PermissionProblem):
        assert isinstance(as_subcode, PermissionProblem)
        assert (as_code.dev_mode, as_code.page_restricted, as_code.thread_owned_elsewhere) == (
            as_subcode.dev_mode,
            as_subcode.page_restricted,
            as_subcode.thread_owned_elsewhere,
        )


def test_permission_flags() -> None:
    dev = classify(400, envelope(200, 2018028))
    restricted = classify(400, envelope(10, 1893063))
    thread = classify(400, envelope(10, 2018300))
    plain = classify(400, envelope(10))
    assert isinstance(dev, PermissionProblem)
    assert isinstance(restricted, PermissionProblem)
    assert isinstance(thread, PermissionProblem)
    assert isinstance(plain, PermissionProblem)
    flags = [
        (e.dev_mode, e.page_restricted, e.thread_owned_elsewhere)
        for e in (dev, restricted, thread, plain)
    ]
    assert flags == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (False, False, False),
    ]


def test_the_message_text_never_decides() -> None:
    """The same code with Meta's window wording, or a token wording, stays what its code says."""
    window = envelope(100, message="(#10) This message is sent outside of allowed window.")
    token = envelope(2, message="Error validating access token: password changed")
    assert type(classify(400, window)) is BadRequest
    assert type(classify(400, token)) is RetryLater


@pytest.mark.parametrize(
    ("subcode", "reason"),
    [
        (460, "password_changed"),
        (463, "expired"),
        (458, "app_removed"),
        (467, "logged_out"),
        (492, "role_lost"),
        (None, "invalid"),
    ],
)
def test_token_reasons(subcode: int | None, reason: str) -> None:
    error = classify(400, envelope(190, subcode))
    assert isinstance(error, TokenBroken)
    assert error.reason == reason


def test_unknown_codes_are_bad_requests_unless_the_server_or_meta_says_transient() -> None:
    assert type(classify(400, envelope(31337))) is BadRequest
    assert type(classify(500, envelope(31337))) is RetryLater
    assert type(classify(400, envelope(31337, is_transient=True))) is RetryLater
    assert type(classify(400, envelope(100, is_transient=True))) is RetryLater
    # An explicit answer stays explicit, whatever the status.
    assert type(classify(500, envelope(190, 460))) is TokenBroken
    assert type(classify(503, envelope(10, 2018278))) is WindowClosed
    assert type(classify(403, envelope(200, 2018028))) is PermissionProblem


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (502, b"<html>Bad gateway</html>", RetryLater),
        (503, None, RetryLater),
        (429, b"", RetryLater),
        (400, b"not json", BadRequest),
        (400, {"error": "a string"}, BadRequest),
        (404, {"data": []}, BadRequest),
    ],
)
def test_answers_without_a_graph_error(status: int, body: Any, kind: type[GraphError]) -> None:
    error = classify(status, body)
    assert type(error) is kind
    assert error.code is None
    assert error.http_status == status


def test_everything_meta_sent_is_kept() -> None:
    body = envelope(
        10,
        2018278,
        error_user_title="Message Not Sent",
        error_user_msg="This person isn't receiving messages from you right now.",
        is_transient=False,
    )
    error = classify(400, json.dumps(body).encode())
    assert isinstance(error, WindowClosed)
    assert (error.message, error.type, error.fbtrace_id, error.is_transient) == (
        "(#10) something",
        "OAuthException",
        "AbCdEfGhIjK",
        False,
    )
    assert (error.user_title, error.user_message) == (
        "Message Not Sent",
        "This person isn't receiving messages from you right now.",
    )
    assert error.error == body["error"]
    assert str(error) == "(10/2018278) (#10) something"


def test_codes_as_strings_are_read_too() -> None:
    error = classify(400, {"error": {"code": "190", "error_subcode": "460", "message": "x"}})
    assert isinstance(error, TokenBroken)
    assert (error.code, error.subcode) == (190, 460)


def test_retry_later_carries_metas_delay_from_the_usage_header() -> None:
    usage = {
        PAGE_ID: [
            {
                "type": "messenger",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 20,
                "estimated_time_to_regain_access": 7,
            }
        ]
    }
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(usage),
        "X-App-Usage": '{"call_count": 41, "total_cputime": 3, "total_time": 5}',
    }
    error = classify(400, envelope(80006), headers)
    assert isinstance(error, RetryLater)
    assert error.retry_after == 7 * 60
    assert error.usage is not None
    assert error.usage.app == {"call_count": 41, "total_cputime": 3, "total_time": 5}
    assert error.usage.highest_percent == 100
    assert error.usage.business[0].owner_id == PAGE_ID


def test_retry_after_without_meta_estimate() -> None:
    assert classify(400, envelope(613)).retry_after is None  # type: ignore[attr-defined]
    proxied = classify(503, b"busy", {"Retry-After": "30"})
    assert isinstance(proxied, RetryLater)
    assert proxied.retry_after == 30.0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-App-Usage": "not json"},
        {"X-Business-Use-Case-Usage": "[1, 2]"},
        {"X-Business-Use-Case-Usage": '{"1": "x"}'},
        {"X-App-Usage": '{"call_count": "many"}'},
    ],
)
def test_garbled_usage_headers_are_ignored(headers: dict[str, str]) -> None:
    assert parse_usage(headers) is None


def test_the_tree() -> None:
    assert issubclass(TransportError, RetryLater)
    for kind in (R, T, U, W, P, F):
        assert issubclass(kind, GraphError)
