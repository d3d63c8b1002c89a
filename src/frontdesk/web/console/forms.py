"""Reading a submitted form: bounded in size, strictly encoded, each field checked by its limit.

A form that cannot be read at all is an error of the whole request (413 or 400, a page that
says so); a field that is wrong is shown next to that field, with what was typed kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from frontdesk.core.people import EMAIL_LIMIT, normal_email

MAX_FIELDS = 50

TokenCheck = Callable[[str], None]
"""Raises `gate.CsrfRejected` unless given the CSRF token this browser's forms must carry."""

FormReader = Callable[[Request, int, TokenCheck], Awaitable[dict[str, str]]]
"""How the gate reads a POST's fields, within a size. The gate checks the token of the fields
returned; a reader that writes anything while it reads (the inbox's upload) checks it itself,
before writing a byte."""


class FormRefused(Exception):  # noqa: N818 - the two below are the conditions
    """The request's body is not a form this console reads."""

    status = 400


class FormTooLarge(FormRefused):
    status = 413


class MalformedForm(FormRefused):
    status = 400


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` body of at most `max_bytes`.

    Our pages send nothing else: a file upload, a JSON body, a field given twice, bytes that
    are not UTF-8 once decoded, or more than MAX_FIELDS fields are refused, not guessed at.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise MalformedForm("the form was not sent as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise FormTooLarge(f"the form is larger than {max_bytes // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise FormTooLarge(f"the form is larger than {max_bytes // 1024} KiB")
            chunks.append(chunk)
    except ClientDisconnect as err:
        raise MalformedForm("the browser went away while sending the form") from err
    try:
        text = b"".join(chunks).decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as err:
        raise MalformedForm("the form's encoding is broken") from err
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise MalformedForm(f"the field {name[:40]!r} was sent twice")
        fields[name] = value
    return fields


async def read_plain_form(request: Request, max_bytes: int, token: TokenCheck) -> dict[str, str]:
    """The reader of every form but the upload: `read_form`, which keeps nothing (the token is
    the gate's to check, on the fields)."""
    return await read_form(request, max_bytes)


class Fields:
    """One submitted form, read field by field; problems collect in `errors` by field name."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

    def text(self, name: str, limit: int, *, required: bool = True, strip: bool = True) -> str:
        value = self.raw(name)
        if strip:
            value = value.strip()
        if len(value) > limit:
            self.errors[name] = f"Use at most {limit} characters."
        elif required and not value:
            self.errors[name] = "This is needed."
        return value

    def email(self, name: str) -> str:
        value = self.text(name, EMAIL_LIMIT)
        if name in self.errors:
            return value
        address = normal_email(value)
        if address is None:
            self.errors[name] = "Enter an email address, like ana@example.com."
            return value
        return address

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.raw(name)
        if value not in options:
            self.errors[name] = "Choose one of the options."
        return value

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)
