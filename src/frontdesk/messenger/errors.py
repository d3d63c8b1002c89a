"""The adapter's typed errors, and `classify`: Graph errors sorted by code and subcode (digest §9).

The message text Meta prints is kept for people to read but never decides anything: it changes
without notice and is localised. Only `code`, `error_subcode`, the HTTP status (for 5xx) and
Meta's own `is_transient` flag do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .usage import Usage, parse_usage


class MessengerError(Exception):
    """Anything this adapter raises on purpose."""


class MalformedPayload(MessengerError, ValueError):  # noqa: N818 - named for the action it asks for
    """A webhook body that is not JSON, or not a JSON object: there is nothing to parse."""


class GraphError(MessengerError):
    """Graph refused a call, or the call never got an answer.

    `code` is None only when no Graph error envelope was read (a transport failure, a proxy's
    HTML page, a check made locally before calling).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        type: str | None = None,  # noqa: A002 - Meta's field name
        fbtrace_id: str | None = None,
        is_transient: bool | None = None,
        http_status: int | None = None,
        usage: Usage | None = None,
        user_title: str | None = None,
        user_message: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.type = type
        self.fbtrace_id = fbtrace_id
        self.is_transient = is_transient
        self.http_status = http_status
        self.usage = usage
        self.user_title = user_title
        self.user_message = user_message
        self.error = error
        """Meta's `error` object as received, for logs and support tickets."""

    def __str__(self) -> str:
        where = "" if self.code is None else f"({self.code}/{self.subcode or '-'}) "
        return where + self.message


class RetryLater(GraphError):  # noqa: N818 - named for the action it asks for
    """Transient: throttled or Meta unavailable. Back off and try again (bounded)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        """Seconds Meta suggests waiting (`estimated_time_to_regain_access`), if it said."""


class TransportError(RetryLater):
    """No usable answer: connection refused or reset, timeout, garbled response.

    `may_have_arrived` is False only when the request provably never left (no connection was
    made). Otherwise, after a send, the outcome is unknown: Meta may have delivered the message,
    so a retry can duplicate it. The echo's `metadata` tells which sends really went out.
    """

    def __init__(self, message: str, *, may_have_arrived: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.may_have_arrived = may_have_arrived


class TokenBroken(GraphError):  # noqa: N818 - named for the action it asks for
    """The token no longer works (190/*, 102, 104): the Page must be reconnected."""

    REASONS: ClassVar[dict[int, str]] = {
        458: "app_removed",
        459: "checkpoint",
        460: "password_changed",
        463: "expired",
        464: "unconfirmed",
        467: "logged_out",
        490: "checkpoint",
        492: "role_lost",
        2069032: "missing_permissions",
    }

    @property
    def reason(self) -> str:
        """A stable word for why, from the subcode: `password_changed`, `expired`, ..."""
        if self.code == 104:
            return "missing"
        return self.REASONS.get(self.subcode or 0, "invalid")


class UserUnreachable(GraphError):  # noqa: N818 - named for the action it asks for
    """This person cannot be messaged (blocked the Page, unknown PSID, unavailable)."""


class WindowClosed(GraphError):  # noqa: N818 - named for the action it asks for
    """Outside the 24-hour window (or the tag's): wait for the person to write again."""


class PermissionProblem(GraphError):  # noqa: N818 - named for the action it asks for
    """Permission, app mode, review or Page state: an operator must act; retrying won't help."""

    @property
    def dev_mode(self) -> bool:
        """The app is in development mode / lacks Advanced Access (200/2018028)."""
        return _matches(self, {2018028})

    @property
    def page_restricted(self) -> bool:
        """Meta restricted the Page from sending (10/1893063): pause the Page."""
        return _matches(self, {1893063})

    @property
    def thread_owned_elsewhere(self) -> bool:
        """Another app (or Meta's inbox, or its automated flow) controls this thread."""
        return _matches(self, THREAD_OWNED_ELSEWHERE)


class BadRequest(GraphError):  # noqa: N818 - named for the action it asks for
    """The request itself is wrong (or refused locally before sending): fix it, don't retry."""


def _matches(error: GraphError, numbers: set[int] | frozenset[int]) -> bool:
    return error.subcode in numbers or error.code in numbers


# --- the table of digest §9 ----------------------------------------------------------------------

TOKEN_CODES = frozenset({102, 104, 190})
RETRY_CODES = frozenset({1, 2, 4, 9, 17, 32, 341, 613, 1200, 80001, 80006, 2018144})
USER_CODES = frozenset({230, 551})
PERMISSION_CODES = frozenset({3, 10, 368, 2022, *range(200, 300)})
THREAD_OWNED_ELSEWHERE = frozenset({2018300, 2534037, 2018321})

# Messenger's seven-digit numbers mean the same whether Meta sends them as the subcode or, as a
# few of its pages print them, as the code itself (digest §9 notes).
SUBCODES: dict[int, type[GraphError]] = {
    **dict.fromkeys((2018278, 2534022, 2018065), WindowClosed),
    **dict.fromkeys((2018001, 2018108, 1545041, 1893015, 1404170, 2018336), UserUnreachable),
    **dict.fromkeys(
        (
            2018028,  # development mode: non-role users unreachable
            1893063,  # Page restricted
            *THREAD_OWNED_ELSEWHERE,
            2018171,  # handover: only primary/secondary receivers
            2018234,  # handover: visibility
            2018247,  # insufficient permission for the profile
            2018027,  # phone-number messaging permission
            2018021,  # phone-number messaging fee
            2534041,  # owner disabled message access
            2018344,  # labels: privacy terms not accepted
            2018338,  # tag abuse: stop tagged sends to this person
        ),
        PermissionProblem,
    ),
    **dict.fromkeys((2018022, 2018352, 1357046, 2534040), RetryLater),
    **dict.fromkeys(
        (
            2018008,  # attachment fetch failed
            2018047,  # attachment type mismatch
            2018074,  # bad or expired attachment_id
            2018109,  # attachment too big
            2018294,  # video fetch timeout
            2018014,  # message and sender_action together
            2018164,  # wrong app id
            2018320,  # bad product id
            2018328,  # product template needs v8+
            2018185,  # media template: not a Facebook URL
            2018188,  # media template: not a Facebook URL
            2018218,  # no profile (account made with a phone number)
            2018354,  # marketing message too soon: skip this person this cycle
            1893016,  # duplicate opt-in request
            9000001,  # message deleted
        ),
        BadRequest,
    ),
}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _kind(code: int | None, subcode: int | None) -> type[GraphError] | None:
    if code in TOKEN_CODES:
        return TokenBroken
    for number in (subcode, code):
        if number is not None and number in SUBCODES:
            return SUBCODES[number]
    if code in RETRY_CODES:
        return RetryLater
    if code in USER_CODES:
        return UserUnreachable
    if code in PERMISSION_CODES:
        return PermissionProblem
    return None


def _error_object(body: Any) -> Mapping[str, Any] | None:
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return error
    return None


def _retry_after(headers: Mapping[str, str] | None, usage: Usage | None) -> float | None:
    if usage is not None and usage.regain_access_seconds is not None:
        return usage.regain_access_seconds
    # Meta sends no Retry-After (digest §10), but a proxy in front of it might.
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    seconds = _int(value.strip()) if value else None
    return float(seconds) if seconds is not None else None


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> GraphError:
    """The typed error for a failed Graph response: `body` parsed or raw, `headers` for usage."""
    error = _error_object(body)
    usage = parse_usage(headers)
    fields: dict[str, Any] = {"http_status": status, "usage": usage, "error": error}
    if error is None:
        kind: type[GraphError] = RetryLater if status >= 500 or status == 429 else BadRequest
        return _build(kind, f"HTTP {status} without a Graph error", fields, headers)
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode", error.get("subcode")))
    transient = error.get("is_transient")
    fields.update(
        code=code,
        subcode=subcode,
        type=_text(error.get("type")),
        fbtrace_id=_text(error.get("fbtrace_id")),
        is_transient=transient if isinstance(transient, bool) else None,
        user_title=_text(error.get("error_user_title")),
        user_message=_text(error.get("error_user_msg")),
    )
    kind = _kind(code, subcode) or BadRequest
    # A server error or Meta's own "transient" mark makes an otherwise unexplained error worth
    # another try; explicit token, user, window and permission answers stay what they are.
    if kind is BadRequest and (status >= 500 or transient is True):
        kind = RetryLater
    message = _text(error.get("message")) or f"Graph error {code}"
    return _build(kind, message, fields, headers)


def _build(
    kind: type[GraphError], message: str, fields: dict[str, Any], headers: Mapping[str, str] | None
) -> GraphError:
    if issubclass(kind, RetryLater):
        return kind(message, retry_after=_retry_after(headers, fields["usage"]), **fields)
    return kind(message, **fields)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
