"""Answers to a bot's questions: whether one is valid for what was asked, and how it is kept."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from .schema import FIELD_VALUE_LIMIT
from .wording import fold

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_PHONE = re.compile(r"\+?[0-9 ()./-]{6,30}")
_NUMBER = re.compile(r"[-+]?[0-9]{1,15}([.,][0-9]{1,6})?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DAY_FIRST = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")


def accept(
    expect: str, answer: str, choices: Sequence[str] = (), payload: str | None = None
) -> str | None:
    """The value to keep for `answer`, or None when it is not a valid answer.

    text: any non-empty text up to 500 characters. email: lowercased. phone: digits, with a
    leading + kept. number: a dot for decimals ("3,5" is 3.5). date: ISO (2025-03-31) from ISO
    or day-first dates. choice: the choice as written in the bot, matched on the text or on a
    quick reply's payload, case and accents ignored.
    """
    text = answer.strip()
    if not text or len(text) > FIELD_VALUE_LIMIT:
        return None
    if expect == "text":
        return text
    if expect == "email":
        return text.lower() if _EMAIL.fullmatch(text) else None
    if expect == "phone":
        if not _PHONE.fullmatch(text):
            return None
        digits = "".join(ch for ch in text if ch.isdigit())
        if not 6 <= len(digits) <= 15:
            return None
        return ("+" if text.startswith("+") else "") + digits
    if expect == "number":
        if not _NUMBER.fullmatch(text):
            return None
        try:
            shown = format(Decimal(text.replace(",", ".")), "f")
        except InvalidOperation:
            return None
        return shown.rstrip("0").rstrip(".") if "." in shown else shown
    if expect == "date":
        return _date(text)
    if expect == "choice":
        wanted = {fold(text)} | ({fold(payload)} if payload else set())
        return next((choice for choice in choices if fold(choice) in wanted), None)
    raise ValueError(f"unknown expectation {expect!r}")


def _date(text: str) -> str | None:
    iso = _ISO.fullmatch(text)
    day_first = _DAY_FIRST.fullmatch(text)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
    elif day_first:
        day, month, year = (int(part) for part in day_first.groups())
    else:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None
