"""Process settings for the long-running commands (`serve`, `worker`, `dev`)."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 50, 1_000)
"""Collections of the youngest generation every 20,000 allocations (Python's default: 700),
and of the older ones correspondingly rarer."""


def tune_gc() -> None:
    """Fewer, shorter garbage collections, once the process has started.

    Python's cycle collector stops the whole process while it runs, and a full collection walks
    every object: in a server that holds SQLAlchemy's, the drivers' and the app's objects, that
    is tens of milliseconds, often enough to be most of the webhook acknowledgements' p99 at
    2,000/s (docs/performance.md: 105 ms with the defaults, 21 ms with this). Everything made
    while starting lives as long as the process, so it is frozen out of the collections
    (`gc.freeze`), and the youngest generation is collected less often: the requests' and jobs'
    short-lived objects are freed by reference counting, the collector only finds cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
