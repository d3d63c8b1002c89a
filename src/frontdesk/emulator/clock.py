"""The emulated clock: wall time plus an offset that tests and scripts can move forward."""

from __future__ import annotations

import time


class Clock:
    """Seconds since the epoch, as Meta would see them.

    Every rule that depends on time (the 24-hour window, token expiry, rate-limit buckets,
    auto-unsubscribe) reads this clock, so advancing it is how the window closes without waiting.
    A frozen clock only moves when `advance` is called, which makes tests deterministic.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        base = time.time() if start is None else start
        self._offset = base - time.time()
        self._frozen_at = base

    def now(self) -> float:
        if self._frozen:
            return self._frozen_at
        return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never back: Meta's time does not rewind)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        self._frozen_at += seconds
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen
