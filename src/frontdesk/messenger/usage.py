"""Rate-limit usage that Graph reports in response headers (digest §10), parsed leniently."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

APP_USAGE = "x-app-usage"
BUSINESS_USAGE = "x-business-use-case-usage"
PAGE_USAGE = "x-page-usage"
_DIMENSIONS = ("call_count", "total_cputime", "total_time")


@dataclass(frozen=True, kw_only=True, slots=True)
class BusinessUsage:
    """One entry of `X-Business-Use-Case-Usage` for a business or Page id."""

    owner_id: str
    type: str | None
    call_count: int | None
    total_cputime: int | None
    total_time: int | None
    estimated_time_to_regain_access: int | None
    """Minutes until calls are accepted again; 0 or None when not throttled."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """How close the caller is to Graph's limits, in percent of each dimension.

    Each part is None when its header was absent or unreadable: a garbled usage header is never
    a reason to fail a call that otherwise succeeded.
    """

    app: Mapping[str, int] | None = None
    page: Mapping[str, int] | None = None
    business: tuple[BusinessUsage, ...] = ()

    @property
    def highest_percent(self) -> int:
        """The fullest dimension across all headers; Meta throttles at 100."""
        values = [v for part in (self.app, self.page) if part for v in part.values()]
        for entry in self.business:
            values += [
                v
                for v in (entry.call_count, entry.total_cputime, entry.total_time)
                if v is not None
            ]
        return max(values, default=0)

    @property
    def regain_access_seconds(self) -> float | None:
        """Meta's estimate of when a throttled caller may call again, or None if none given."""
        minutes = [
            e.estimated_time_to_regain_access
            for e in self.business
            if e.estimated_time_to_regain_access
        ]
        return float(max(minutes) * 60) if minutes else None


def _percent(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 1e9:  # not NaN, not huge
        return int(value)
    return None


def _load(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _dimensions(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    out = {k: p for k in _DIMENSIONS if (p := _percent(value.get(k))) is not None}
    return out or None


def _business(value: Any) -> tuple[BusinessUsage, ...]:
    if not isinstance(value, dict):
        return ()
    entries = []
    for owner_id, items in value.items():
        for item in items if isinstance(items, list) else [items]:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            entries.append(
                BusinessUsage(
                    owner_id=str(owner_id),
                    type=kind if isinstance(kind, str) else None,
                    call_count=_percent(item.get("call_count")),
                    total_cputime=_percent(item.get("total_cputime")),
                    total_time=_percent(item.get("total_time")),
                    estimated_time_to_regain_access=_percent(
                        item.get("estimated_time_to_regain_access")
                    ),
                )
            )
    return tuple(entries)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # A plain dict is case-sensitive; httpx.Headers is not. Accept either.
    return next((v for k, v in headers.items() if k.lower() == name), None)


def parse_usage(headers: Mapping[str, str] | None) -> Usage | None:
    """The usage headers of one Graph response, or None when it carried none."""
    if not headers:
        return None
    app = _dimensions(_load(_header(headers, APP_USAGE)))
    page = _dimensions(_load(_header(headers, PAGE_USAGE)))
    business = _business(_load(_header(headers, BUSINESS_USAGE)))
    if app is None and page is None and not business:
        return None
    return Usage(app=app, page=page, business=business)
