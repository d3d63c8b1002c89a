"""Structured logs: one JSON object per line, and no secret ever written, wherever it hides."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from frontdesk import logs
from frontdesk.settings import SettingsError, load_settings

PAGE_TOKEN = "EAAGm0PX4ZCpsBAKZCZAhJ7xZBq9ZA3bZCmGVZCkZBqZAFmPcRZB8lq0ZAeZB2ZCZA1kZD"
APP_SECRET = "demo-app-secret-0123456789abcdef"
FERNET_KEY = Fernet.generate_key().decode()
LOGIN_CODE = "AQ" + "Dk3x_9fPq2" * 6


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """`logs.configure` at debug into a buffer; the logging set-up is restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    stream = io.StringIO()
    logs.configure("debug", secrets=[APP_SECRET, FERNET_KEY], stream=stream)
    yield stream
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_extra_fields(output: io.StringIO) -> None:
    log = logging.getLogger("frontdesk.test")
    log.info("page %s connected", "104857600012345", extra={"page_id": "104857600012345"})
    log.warning("two\nlines", extra={"attempt": 3, "fields": ["messages", "standby"]})
    first, second = lines(output)
    assert set(first) == {"time", "level", "logger", "message", "page_id"}
    assert first["time"].endswith("Z")
    assert (first["level"], first["logger"], first["message"]) == (
        "info",
        "frontdesk.test",
        "page 104857600012345 connected",
    )
    assert first["page_id"] == "104857600012345"
    assert (second["message"], second["attempt"], second["fields"]) == (
        "two\nlines",
        3,
        ["messages", "standby"],
    )
    assert len(output.getvalue().splitlines()) == 2  # the newline stayed inside its string


def test_configuring_again_replaces_the_handler(output: io.StringIO) -> None:
    again = io.StringIO()
    logs.configure("info", stream=again)
    logging.getLogger("frontdesk.test").info("once")
    logging.getLogger("frontdesk.test").debug("below the level")
    assert output.getvalue() == ""
    assert [entry["message"] for entry in lines(again)] == ["once"]


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        (f"GET /v25.0/me?access_token={PAGE_TOKEN}&fields=id", PAGE_TOKEN),
        (f"the Page token is {PAGE_TOKEN}", PAGE_TOKEN),
        ("GET /oauth/access_token?client_id=1&client_secret=s3cr3t-value&code=1", "s3cr3t-value"),
        ('{"access_token": "opaque-token-without-prefix", "token_type": "bearer"}', "opaque-token"),
        ("headers: {'authorization': 'Bearer opaque-bearer-123'}", "opaque-bearer-123"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        (f"app token 900100200300400|{APP_SECRET}", APP_SECRET),
        ("app token 900100200300400|an0ther-app-s3cret", "an0ther-app-s3cret"),
        (f"the app secret {APP_SECRET} was given", APP_SECRET),
        (f"key {FERNET_KEY}", FERNET_KEY),
        (f"another key {Fernet.generate_key().decode()}", "="),
        ("postgresql://frontdesk:pg-passw0rd@db.internal/frontdesk", "pg-passw0rd"),
        (f"redirected with code={LOGIN_CODE}", LOGIN_CODE),
        ("hub.verify_token=my-verify-token&hub.challenge=1", "my-verify-token"),
    ],
)
def test_secrets_in_a_message_are_redacted(output: io.StringIO, message: str, secret: str) -> None:
    logging.getLogger("frontdesk.test").info(message)
    [entry] = lines(output)
    assert secret not in entry["message"]
    assert logs.REDACTED in entry["message"]


def test_what_is_not_a_secret_is_left_alone(output: io.StringIO) -> None:
    text = (
        "job 42 for Page 104857600012345 failed: (#190) Error validating access token, "
        "code 190, subcode 460; retry in 2.0 s"
    )
    logging.getLogger("frontdesk.test").warning(text)
    assert lines(output)[0]["message"] == text


def test_a_token_in_the_arguments_is_redacted(output: io.StringIO) -> None:
    logging.getLogger("frontdesk.test").info(
        "sending with %s to %s", PAGE_TOKEN, "7100000000000001"
    )
    [entry] = lines(output)
    assert entry["message"] == f"sending with {logs.REDACTED} to 7100000000000001"


def test_a_token_in_an_exception_is_redacted(output: io.StringIO) -> None:
    log = logging.getLogger("frontdesk.test")
    try:
        try:
            raise ValueError(f"Graph refused access_token={PAGE_TOKEN}")
        except ValueError as err:
            raise RuntimeError(f"sending failed with {PAGE_TOKEN}") from err
    except RuntimeError:
        log.exception("send job failed")
    [entry] = lines(output)
    assert entry["message"] == "send job failed"
    assert "RuntimeError: sending failed with [REDACTED]" in entry["exception"]
    assert "ValueError: Graph refused access_token=[REDACTED]" in entry["exception"]
    assert PAGE_TOKEN not in output.getvalue()


def test_a_token_in_the_stack_text_is_redacted(output: io.StringIO) -> None:
    token = PAGE_TOKEN  # a local in the frame: stack_info shows source lines, not values
    logging.getLogger("frontdesk.test").info("where am I, %s", token, stack_info=True)
    [entry] = lines(output)
    assert "Stack (most recent call last)" in entry["stack"]
    assert PAGE_TOKEN not in output.getvalue()


def test_secrets_in_extra_fields_are_redacted(output: io.StringIO) -> None:
    logging.getLogger("frontdesk.test").info(
        "graph call",
        extra={
            "access_token": "anything-at-all",
            "url": f"https://graph.facebook.com/v25.0/me?access_token={PAGE_TOKEN}",
            "headers": {"Authorization": "Bearer xyz-opaque", "Accept": "application/json"},
            "tokens": [PAGE_TOKEN, {"page_token": "p-opaque-123"}],
            "secret_keys": (FERNET_KEY,),
            "object": Fernet,  # not JSON: written as its str()
        },
    )
    [entry] = lines(output)
    assert entry["access_token"] == logs.REDACTED
    assert entry["url"] == f"https://graph.facebook.com/v25.0/me?access_token={logs.REDACTED}"
    assert entry["headers"] == {"Authorization": logs.REDACTED, "Accept": "application/json"}
    assert entry["tokens"] == [logs.REDACTED, {"page_token": logs.REDACTED}]
    assert entry["secret_keys"] == [logs.REDACTED]
    assert "Fernet" in entry["object"]
    for secret in ("anything-at-all", PAGE_TOKEN, "xyz-opaque", "p-opaque-123", FERNET_KEY):
        assert secret not in output.getvalue()


def test_the_record_itself_is_rewritten_for_every_other_handler(output: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        logging.getLogger("frontdesk.test").info("token %s", PAGE_TOKEN)
    finally:
        logging.getLogger().removeHandler(keep)
    assert [r.getMessage() for r in seen] == [f"token {logs.REDACTED}"]


async def test_httpx_stays_at_warning_whatever_the_level(output: io.StringIO) -> None:
    async def me(request: Any) -> PlainTextResponse:
        return PlainTextResponse("{}")

    app = Starlette(routes=[Route("/v25.0/me", me)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://graph.test"
    ) as client:
        answer = await client.get("/v25.0/me", params={"access_token": PAGE_TOKEN})
    assert answer.status_code == 200
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    assert [e for e in lines(output) if e["logger"].startswith(("httpx", "httpcore"))] == []


def test_the_level_comes_from_frontdesk_log_level(tmp_path: Any) -> None:
    base = {"FRONTDESK_DATA_DIR": str(tmp_path)}
    assert load_settings(base).log_level == "info"
    assert load_settings({**base, "FRONTDESK_LOG_LEVEL": "DEBUG"}).log_level == "debug"
    with pytest.raises(SettingsError, match="FRONTDESK_LOG_LEVEL must be one of"):
        load_settings({**base, "FRONTDESK_LOG_LEVEL": "loud"})


def test_below_the_level_nothing_is_written(output: io.StringIO) -> None:
    logs.configure("warning", stream=output)
    log = logging.getLogger("frontdesk.test")
    log.info("not this")
    log.warning("this")
    assert [e["message"] for e in lines(output)] == ["this"]
