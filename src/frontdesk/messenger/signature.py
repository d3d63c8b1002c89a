"""Webhook signatures (digest §2): HMAC of the raw body bytes with the app secret, constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"

Algorithm = Literal["sha256", "sha1"]
_HEX_LENGTH = {"sha256": 64, "sha1": 40}


def sign(body: bytes, secret: str, algorithm: Algorithm = "sha256") -> str:
    """The header value Meta would send for `body`: `sha256=<hex>` (or `sha1=<hex>`)."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


def _matches(body: bytes, header: str, secret: str, algorithm: Algorithm) -> bool:
    prefix, _, given = header.strip().partition("=")
    if prefix.lower() != algorithm or not given.isascii():
        return False
    given = given.lower()
    if len(given) != _HEX_LENGTH[algorithm]:
        return False
    expected = sign(body, secret, algorithm).partition("=")[2]
    return hmac.compare_digest(expected.encode(), given.encode())


def verify_signature(
    body: bytes,
    header: str | None,
    app_secret: str,
    *,
    legacy_header: str | None = None,
    allow_sha1: bool = False,
) -> bool:
    """True only if `header` (`X-Hub-Signature-256`) is `sha256=` + the HMAC of `body`.

    `body` must be the bytes exactly as received: parsing and re-serialising changes Meta's
    escaping and breaks the digest. The legacy SHA-1 `legacy_header` (`X-Hub-Signature`) counts
    only when `allow_sha1` is set and the SHA-256 header is absent; a present but wrong SHA-256
    header is never rescued by SHA-1.

    Raises ValueError for an empty `app_secret`: that is a configuration error, and an empty key
    would make every forged signature trivially computable.
    """
    if not app_secret:
        raise ValueError("the app secret is empty")
    if header is not None:
        return _matches(body, header, app_secret, "sha256")
    if allow_sha1 and legacy_header is not None:
        return _matches(body, legacy_header, app_secret, "sha1")
    return False


def verify_headers(
    body: bytes, headers: Mapping[str, str], app_secret: str, *, allow_sha1: bool = False
) -> bool:
    """`verify_signature` with both headers looked up case-insensitively in `headers`."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in (SIGNATURE_HEADER.lower(), LEGACY_SIGNATURE_HEADER.lower()):
            found.setdefault(lowered, value)
    return verify_signature(
        body,
        found.get(SIGNATURE_HEADER.lower()),
        app_secret,
        legacy_header=found.get(LEGACY_SIGNATURE_HEADER.lower()),
        allow_sha1=allow_sha1,
    )
