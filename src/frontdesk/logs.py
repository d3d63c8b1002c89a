"""Structured logs: one JSON object per line on stderr, with every secret redacted first.

Only the composition roots (`frontdesk.cli`) call `configure`; library code just logs through
`logging.getLogger(__name__)` and may pass fields with `extra={...}`. Redaction happens in a
handler filter, so it covers every logger that propagates to the root, third-party ones included,
and it rewrites the record itself: the message, its arguments, the extra fields, the exception and
the stack text. It works on patterns (Meta tokens, `access_token=`-style values, Authorization
headers, Fernet keys) and on the literal secrets the process was configured with.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[REDACTED]"

# Names whose values are credentials wherever they appear: a URL query, a form, a JSON body, a
# dict's repr, `key=value` log fields. The value ends at a quote, separator or space.
_SECRET_NAMES = (
    "access_token",
    "client_secret",
    "app_secret",
    "appsecret_proof",
    "fb_exchange_token",
    "input_token",
    "verify_token",
    "hub.verify_token",
    "page_token",
    "secret_key",
    "password",
)
_KEY_VALUE = re.compile(
    r"(?i)((?<![\w.])(?:" + "|".join(re.escape(n) for n in _SECRET_NAMES) + r")"
    r"[\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;)}\]]+)"
)
# `Authorization: Bearer x`, `'authorization': 'Basic x'`, and a bare `Bearer x`.
_AUTHORIZATION = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[=:]\s*[\"']?(?:(?:bearer|basic|oauth)\s+)?)"
    r"([^\s\"',;)}\]]+)"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=|-]+)")
_WHOLE = (
    re.compile(r"EAA[A-Za-z0-9_-]{10,}"),  # Meta user and Page access tokens
    re.compile(r"(?<![A-Za-z0-9])AQ[A-Za-z0-9_-]{40,}"),  # Login codes, one exchange from a token
    re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}="),  # Fernet keys (32 url-safe bytes)
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet tokens: a secret at rest, still not for logs
)
# An app token is `{app-id}|{app-secret}`: keep the id, hide the secret.
_APP_TOKEN = re.compile(r"(\b\d{5,}\|)([A-Za-z0-9_-]{8,})")
# A password inside a URL: postgresql://user:password@host/db.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")
# Fields (extra= keys, mapping keys) whose whole value is a credential.
_SECRET_FIELDS = frozenset({*_SECRET_NAMES, "authorization", "proxy-authorization", "token"})

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}
QUIET_LOGGERS = ("httpx", "httpcore", "alembic")
"""Libraries kept at WARNING whatever the level: their INFO lines are per request or per query
(and httpx's name every URL it calls)."""


class RedactSecrets(logging.Filter):
    """Rewrites each record so that no credential reaches any handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is hidden whole. Short values would
        # hide ordinary words; every real secret here is far longer.
        literal = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(s) for s in literal)) if literal else None
        self._exceptions = logging.Formatter()

    def redact(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        text = _KEY_VALUE.sub(rf"\1{REDACTED}", text)
        text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
        text = _BEARER.sub(rf"\1{REDACTED}", text)
        text = _APP_TOKEN.sub(rf"\1{REDACTED}", text)
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
        for pattern in _WHOLE:
            text = pattern.sub(REDACTED, text)
        return text

    def scrub(self, value: Any, depth: int = 0) -> Any:
        """A JSON-ready copy of an extra field, with every string in it redacted."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth < 8 and isinstance(value, Mapping):
            return {
                self.redact(str(k)): (
                    REDACTED if str(k).lower() in _SECRET_FIELDS else self.scrub(v, depth + 1)
                )
                for k, v in value.items()
            }
        if depth < 8 and isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(v, depth + 1) for v in value]
        return self.redact(value if isinstance(value, str) else str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that don't fit the format: keep both
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exceptions.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name in extra_fields(record):
            value = record.__dict__[name]
            secret = name.lower() in _SECRET_FIELDS
            record.__dict__[name] = REDACTED if secret else self.scrub(value)
        return True


def extra_fields(record: logging.LogRecord) -> list[str]:
    return [name for name in record.__dict__ if name not in _STANDARD and not name.startswith("_")]


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra fields, "exception"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in extra_fields(record):
            entry.setdefault(name, record.__dict__[name])
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # default=str: an extra field of any type still makes a line (the filter already turned
        # fields into redacted JSON values; this is for handlers installed without it).
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(
    level: str, *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record, redacted, as a JSON line to `stream` (stderr); returns the handler.

    Replaces a handler installed by an earlier call, so configuring twice does not log twice.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name("frontdesk-json")
    handler.addFilter(RedactSecrets(secrets))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "frontdesk-json"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
