"""Login throttling: too many failed passwords for one account, or from one address, and the
next tries are refused for a while without the password being checked at all.

Failures are rows in the database (`login_failures`), so a restart or a second `frontdesk
serve` does not reset the count. While refused, tries are not recorded: the wait ends when the
oldest counted failure leaves the window, whatever the guesser does meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.store import accounts


@dataclass(frozen=True)
class Limits:
    window: float = 15 * 60.0
    per_account: int = 5
    """Failures of one account within the window. Kept low: a person who forgot the password
    has the owner or `frontdesk admin reset-password`, which also lifts the wait."""
    per_address: int = 30
    """Failures from one IP address within the window, across accounts (an office shares one)."""


async def wait_seconds(
    conn: AsyncConnection, limits: Limits, account: str, ip: str, now: float
) -> float:
    """0 when a login may be tried now; otherwise how long until it may."""
    by_account, by_address = await accounts.login_failure_times(
        conn, account, ip, now - limits.window, limit=max(limits.per_account, limits.per_address)
    )
    wait = 0.0
    for times, limit in ((by_account, limits.per_account), (by_address, limits.per_address)):
        if len(times) >= limit:
            # times are newest first: the limit-th newest must age out of the window.
            wait = max(wait, times[limit - 1] + limits.window - now)
    return wait


async def record_failure(
    conn: AsyncConnection, limits: Limits, account: str, ip: str, now: float
) -> None:
    await accounts.record_login_failure(conn, account, ip, now)
    # Old rows are only noise; deleting them here keeps the table as small as the window.
    await accounts.prune_login_failures(conn, now - limits.window)


def in_minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))
