"""SQLite's checkpoints, moved off the event loop.

In WAL mode a commit appends the pages it changed to the write-ahead log; a *checkpoint* copies
them back into the database file and syncs both files to disk. SQLite runs one by itself, in the
committing connection, whenever the log holds 1,000 pages: in `frontdesk serve` that connection
lives on the event loop, so every few dozen commits the whole process (the webhook intake
included) stopped for the copy and two `fsync`s, ~10 ms on a busy machine, ~7 % of its time
under load (docs/performance.md).

With a `Checkpointer`, a thread of its own checkpoints every `every` seconds on a connection of
its own (a *passive* checkpoint: it never waits for nor blocks the writer; Python's sqlite3
leaves the GIL while SQLite works), and the engine's connections checkpoint themselves only when
the log reaches `GUARD_PAGES` (`create_engine(..., checkpoint_thread=True)`). That guard is
still needed: a log starts over only once everything in it is copied, which under constant
writes the thread never quite sees, so the log would grow for as long as the load lasts. At the
guard the writer copies what the thread has not (little: it keeps up) between two of its own
transactions, and the log starts over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from urllib.parse import quote

log = logging.getLogger("frontdesk.store.checkpoints")

GUARD_PAGES = 16_384
"""Pages in the log (64 MiB of 4 KiB pages) at which the writer checkpoints by itself."""
EVERY = 0.1
"""Seconds between the thread's checkpoints."""


class Checkpointer:
    """Checkpoints the SQLite database at `path` from a thread, every `every` seconds, from
    `start()` to `stop()`. `passes` counts the checkpoints made (not those that found another
    under way); `last` is what the latest said: pages in the log, and how many of them are in
    the database file now."""

    def __init__(self, path: str, every: float = EVERY) -> None:
        if every <= 0:
            raise ValueError("checkpoints need a positive interval")
        self.path = path
        self.every = every
        self.passes = 0
        self.last: tuple[int, int] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open the thread's connection (here, so that a database it cannot open raises to the
        caller: its connections would checkpoint only at the guard) and start the thread."""
        if self._thread is not None:
            raise RuntimeError("the checkpointer is already running")
        # Read-write, never create: a path that names no database is a mistake to report.
        connection = sqlite3.connect(
            f"file:{quote(self.path)}?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,  # opened here, then used by the thread alone
        )
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(connection,), name="sqlite-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any (blocks until then)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, connection: sqlite3.Connection) -> None:
        failing = False
        try:
            while not self._stopping.wait(self.every):
                try:
                    busy, logged, copied = connection.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                except sqlite3.Error as err:
                    # The guard still bounds the log; say so once, not every `every` seconds.
                    if not failing:
                        log.warning("checkpointing %s failed, trying on: %s", self.path, err)
                    failing = True
                    continue
                failing = False
                if not busy:  # else another connection's checkpoint was under way
                    self.last = (logged, copied)
                    self.passes += 1
        finally:
            connection.close()
