"""Webhook signatures (digest §2): HMAC-SHA256 of the raw bytes, constant time.

The main proof is end to end: the emulator signs real webhook bytes and the receiver in
conftest.py checks them with `verify_headers` over the raw body, in Meta's escaped encoding
and in raw UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from frontdesk.emulator import Emulator
from frontdesk.messenger import (
    GraphClient,
    MessageEvent,
    app_token,
    sign,
    verify_headers,
    verify_signature,
)

from .conftest import (
    ALL_FIELDS,
    APP_ID,
    APP_SECRET,
    CALLBACK,
    JOAO_PSID,
    PAGE,
    VERIFY_TOKEN,
    Receiver,
    act,
    ok,
    page_token,
    payload,
)

SECRET = "s3cr3t"
BODY = payload("text_unicode_escaped")


def hmac_hex(body: bytes, secret: str = SECRET, algorithm: str = "sha256") -> str:
    """Written out from the digest (§2.1), not taken from the adapter."""
    return hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


# --- verify_signature ---------------------------------------------------------------------------


def test_sign_matches_a_plain_hmac() -> None:
    assert sign(BODY, SECRET) == "sha256=" + hmac_hex(BODY)
    assert sign(BODY, SECRET, "sha1") == "sha1=" + hmac_hex(BODY, algorithm="sha1")


@pytest.mark.parametrize(
    "body",
    [
        BODY,  # \u escapes and \/ as Meta sends them
        "Olá 😀 äöå / 50% off".encode(),  # raw UTF-8
        payload("fallback"),
        payload("reaction_react"),
        b"",
    ],
)
def test_a_correct_signature_verifies_over_the_exact_bytes(body: bytes) -> None:
    assert verify_signature(body, "sha256=" + hmac_hex(body), SECRET)


def test_the_re_encoded_body_does_not_verify() -> None:
    """Parsing and re-serialising changes the bytes: the classic bug (§12, pitfall 3)."""
    decoded = json.dumps(json.loads(BODY), ensure_ascii=False).encode()
    assert decoded != BODY
    assert not verify_signature(decoded, "sha256=" + hmac_hex(BODY), SECRET)


def test_any_tampered_byte_fails() -> None:
    header = "sha256=" + hmac_hex(BODY)
    for i in range(0, len(BODY), 7):
        tampered = BODY[:i] + bytes([BODY[i] ^ 1]) + BODY[i + 1 :]
        assert not verify_signature(tampered, header, SECRET), i
    assert not verify_signature(BODY + b" ", header, SECRET)
    assert not verify_signature(BODY, header, SECRET + "x")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        hmac_hex(BODY),  # no prefix
        "sha1=" + hmac_hex(BODY),
        "sha512=" + hmac_hex(BODY),
        "sha256=" + hmac_hex(BODY)[:-1],
        "sha256=" + hmac_hex(BODY) + "0",
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,
        "sha256:" + hmac_hex(BODY),
    ],
)
def test_missing_or_garbled_headers_fail(header: str | None) -> None:
    assert not verify_signature(BODY, header, SECRET)


def test_case_and_surrounding_space_of_a_correct_header_are_tolerated() -> None:
    assert verify_signature(BODY, " SHA256=" + hmac_hex(BODY).upper() + " ", SECRET)


def test_an_empty_app_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        verify_signature(BODY, "sha256=" + hmac.new(b"", BODY, "sha256").hexdigest(), "")


def test_sha1_counts_only_when_enabled_and_the_sha256_header_is_absent() -> None:
    sha1 = "sha1=" + hmac_hex(BODY, algorithm="sha1")
    assert not verify_signature(BODY, None, SECRET, legacy_header=sha1)
    assert verify_signature(BODY, None, SECRET, legacy_header=sha1, allow_sha1=True)
    wrong_256 = "sha256=" + "0" * 64
    assert not verify_signature(BODY, wrong_256, SECRET, legacy_header=sha1, allow_sha1=True)
    assert not verify_signature(BODY, None, SECRET, legacy_header="sha256=x", allow_sha1=True)


def test_verify_headers_finds_the_headers_in_any_case() -> None:
    good = "sha256=" + hmac_hex(BODY)
    assert verify_headers(BODY, {"x-hub-signature-256": good}, SECRET)
    assert verify_headers(BODY, {"X-HUB-SIGNATURE-256": good}, SECRET)
    assert verify_headers(BODY, httpx.Headers({"X-Hub-Signature-256": good}), SECRET)
    assert not verify_headers(BODY, {}, SECRET)
    sha1 = {"X-Hub-Signature": "sha1=" + hmac_hex(BODY, algorithm="sha1")}
    assert not verify_headers(BODY, sha1, SECRET)
    assert verify_headers(BODY, sha1, SECRET, allow_sha1=True)


# --- end to end: the emulator signs, the adapter verifies -----------------------------------------


async def connect(graph: GraphClient, control: httpx.AsyncClient) -> str:
    """App subscription (Meta runs the handshake against the receiver) and Page subscription."""
    await graph.subscribe_app(
        APP_ID, app_token(APP_ID, APP_SECRET), CALLBACK, VERIFY_TOKEN, ALL_FIELDS
    )
    token = await page_token(control)
    await graph.subscribe_page(PAGE, token, ALL_FIELDS)
    return token


TEXTS = ["Olá! Do you ship to Porto? 👕", 'a/b \\ "quoted" \' <tag> &amp; %25', "日本語 🇵🇹 ∑"]


@pytest.mark.parametrize("escape_unicode", [True, False])
async def test_the_emulators_webhooks_verify_and_parse(
    emulator: Emulator,
    graph: GraphClient,
    control: httpx.AsyncClient,
    receiver: Receiver,
    escape_unicode: bool,
) -> None:
    await ok(
        control.patch("/_emulator/settings", json={"webhooks": {"escape_unicode": escape_unicode}})
    )
    await connect(graph, control)
    for text in TEXTS:
        await act(control, "message", text=text)
    await ok(control.post("/_emulator/drain"))

    assert len(receiver.posts) == len(TEXTS)
    assert all(post["valid"] for post in receiver.posts)
    raws = [post["raw"] for post in receiver.posts]
    assert all(raw.isascii() for raw in raws) is escape_unicode
    assert b"a\\/b" in raws[1]  # the slash arrives as Meta's \/ in both encodings
    events = [event for batch in receiver.batches for event in batch]
    assert all(isinstance(e, MessageEvent) for e in events)
    assert [(e.page_id, e.psid, getattr(e, "text", None)) for e in events] == [
        (PAGE, JOAO_PSID, text) for text in TEXTS
    ]


async def test_a_receiver_with_the_wrong_secret_rejects_every_post(
    emulator: Emulator, graph: GraphClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.secret = "not-the-app-secret"
    await connect(graph, control)
    await act(control, "message", text="hello")
    await ok(control.post("/_emulator/drain"))
    assert receiver.posts
    assert not any(post["valid"] for post in receiver.posts)


async def test_the_legacy_sha1_header_verifies_only_when_enabled(
    emulator: Emulator, graph: GraphClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await connect(graph, control)
    await act(control, "message", text="sha1?")
    await ok(control.post("/_emulator/drain"))
    [post] = receiver.posts
    raw, headers = post["raw"], post["headers"]
    legacy = headers["x-hub-signature"]
    assert legacy == "sha1=" + hmac_hex(raw, APP_SECRET, "sha1")
    assert verify_signature(raw, None, APP_SECRET, legacy_header=legacy, allow_sha1=True)
    assert not verify_signature(raw, None, APP_SECRET, legacy_header=legacy)
