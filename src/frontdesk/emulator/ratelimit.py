"""Per-Page Send API rate limits (digest §10): 300 calls/s for text, 10/s for audio and video."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .clock import Clock
from .errors import GraphError, rate_limited


@dataclass
class RateLimits:
    text_per_second: int = 300
    media_per_second: int = 10
    _windows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def usage_headers(self, page_id: str, kind: str, count: int) -> dict[str, str]:
        limit = self.media_per_second if kind == "media" else self.text_per_second
        percent = min(100, round(100 * count / max(1, limit)))
        usage = {
            page_id: [
                {
                    "type": "messenger",
                    "call_count": percent,
                    "total_cputime": max(1, percent // 4),
                    "total_time": max(1, percent // 3),
                    "estimated_time_to_regain_access": 0,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}

    def check(self, clock: Clock, page_id: str, kind: str) -> dict[str, str]:
        """Count one call; raise 613 past the limit. Returns the usage headers to send back."""
        second = int(clock.now())
        key = (page_id, kind)
        window, count = self._windows.get(key, (second, 0))
        if window != second:
            window, count = second, 0
        limit = self.media_per_second if kind == "media" else self.text_per_second
        if count >= limit:
            raise rate_limited(self.usage_headers(page_id, kind, count))
        self._windows[key] = (window, count + 1)
        return self.usage_headers(page_id, kind, count + 1)


def raise_with_headers(error: GraphError, headers: dict[str, str]) -> GraphError:
    error.headers = {**headers, **error.headers}
    return error
