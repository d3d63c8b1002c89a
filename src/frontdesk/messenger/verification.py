"""The webhook verification handshake (digest §1): echo `hub.challenge` only to the right token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

MODE = "hub.mode"
VERIFY_TOKEN = "hub.verify_token"  # noqa: S105 - a parameter name, not a secret
CHALLENGE = "hub.challenge"


def verify_subscription(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to answer with `200` (as the whole plain-text body), or None for `403`.

    `query` is the raw query string's parameters: the names keep their dots (`hub.mode`).
    An empty configured `verify_token` never verifies, so a missing setting cannot be guessed.
    The token is compared in constant time, so its prefix cannot be probed by timing.
    """
    if not verify_token:
        return None
    mode, given, challenge = query.get(MODE), query.get(VERIFY_TOKEN), query.get(CHALLENGE)
    if mode != "subscribe" or not isinstance(given, str) or not challenge:
        return None
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), verify_token.encode()):
        return None
    return challenge
