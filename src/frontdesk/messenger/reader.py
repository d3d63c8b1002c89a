"""Typed reads of untrusted webhook JSON: the value, or `Malformed` saying where it went wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Malformed(Exception):  # noqa: N818 - internal signal, turned into an UnknownEvent's reason
    """A piece of a payload has the wrong shape; `str(err)` is the reason kept for inspection."""


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{where} is not an object")
    return value


def opt_obj(value: Any, where: str) -> Mapping[str, Any] | None:
    return None if value is None else obj(value, where)


def items(value: Any, where: str) -> list[Any]:
    """A JSON array; absent (None) reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where} is not a list")
    return value


def ident(value: Any, where: str) -> str:
    """An id: Meta sends strings today, numbers in older payloads (and echo `app_id`)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Malformed(f"{where} is missing or not an id")
    text = str(value)
    if not text:
        raise Malformed(f"{where} is empty")
    return text


def opt_ident(value: Any, where: str) -> str | None:
    return None if value is None else ident(value, where)


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise Malformed(f"{where} is missing or not a string")
    return value


def opt_text(value: Any, where: str) -> str | None:
    return None if value is None else text(value, where)


def opt_scalar(value: Any, where: str) -> str | None:
    """A developer payload: a string, though a number is accepted (and read as text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return opt_text(value, where)


INT64 = range(-(2**63), 2**63)
"""The integers a webhook's times and counts may take: what a database's BIGINT holds (JSON
numbers have no limit, and a larger one could be stored nowhere)."""


def integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{where} is missing or not an integer")
    if value not in INT64:
        raise Malformed(f"{where} is out of range (more than 64 bits)")
    return value


def opt_integer(value: Any, where: str) -> int | None:
    return None if value is None else integer(value, where)


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{where} is missing or not a number")
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range
        raise Malformed(f"{where} is out of range") from None


def flag(value: Any, where: str) -> bool:
    """A boolean; absent reads as False."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Malformed(f"{where} is not a boolean")
    return value
