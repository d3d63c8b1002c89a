"""Signed Messenger webhook bodies for the benchmarks: one text message each, a unique mid."""

from __future__ import annotations

import hashlib
import hmac
import json

APP_SECRET = "bench-app-secret-0123456789abcdef"  # noqa: S105 - signs bench bodies only
PAGE_ID = "104857600099999"
PSIDS = 500
"""Distinct people writing: the worker runs one job per conversation at a time."""


def psid(n: int) -> str:
    return f"{7_200_000_000_000_000 + n % PSIDS}"


def mid(run: str, n: int) -> str:
    return f"m_{run}_{n}"


def body(run: str, n: int, sent_ms: int = 1_795_000_000_000) -> bytes:
    """The n-th message of a run, as Meta would send it (compact JSON, one entry, one event)."""
    sender = psid(n)
    event = {
        "sender": {"id": sender},
        "recipient": {"id": PAGE_ID},
        "timestamp": sent_ms,
        "message": {"mid": mid(run, n), "text": f"Hello, is the blue tee in stock? #{n}"},
    }
    envelope = {"object": "page", "entry": [{"id": PAGE_ID, "time": sent_ms, "messaging": [event]}]}
    return json.dumps(envelope, separators=(",", ":")).encode()


def signature(payload: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
