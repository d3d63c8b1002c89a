"""The webhook verification handshake (digest §1): the challenge only for the right token."""

from __future__ import annotations

import pytest

from frontdesk.messenger import verify_subscription

from .conftest import VERIFY_TOKEN


def hub(mode: str = "subscribe", token: str = VERIFY_TOKEN, challenge: str = "837465012") -> dict:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def test_the_right_token_gets_the_challenge_back_verbatim() -> None:
    assert verify_subscription(hub(), VERIFY_TOKEN) == "837465012"


@pytest.mark.parametrize(
    "query",
    [
        hub(token="wrong"),
        hub(token=VERIFY_TOKEN + " "),
        hub(token=""),
        hub(mode="unsubscribe"),
        hub(challenge=""),
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub_mode": "subscribe", "hub_verify_token": VERIFY_TOKEN, "hub_challenge": "1"},
        hub(token="s3cr3t-vérify"),
    ],
)
def test_anything_else_is_refused(query: dict) -> None:
    assert verify_subscription(query, VERIFY_TOKEN) is None


def test_an_unconfigured_verify_token_never_verifies() -> None:
    assert verify_subscription(hub(token=""), "") is None
