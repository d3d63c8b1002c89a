"""Where a customer came from (an m.me link, an ad, a QR code, a plugin), kept as a line of the
transcript that the contact panel also shows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.messenger import Referral
from frontdesk.store import conversations as store
from frontdesk.store import notes

SOURCES = {
    "SHORTLINK": "an m.me link",
    "ADS": "an ad",
    "MESSENGER_CODE": "a Messenger QR code",
    "CUSTOMER_CHAT_PLUGIN": "the chat plugin on a website",
    "DISCOVER_TAB": "Messenger's Discover tab",
}
LIMIT = 300


def words(referral: Referral) -> str:
    """E.g. "Came from an m.me link (ref summer-sale)", "Came from an ad (ad 6045246247433)"."""
    source = SOURCES.get(referral.source or "", "a referral")
    details = [
        f"ad {referral.ad_id}" if referral.ad_id else "",
        f"ref {referral.ref}" if referral.ref else "",
    ]
    shown = ", ".join(d for d in details if d)
    return (f"Came from {source}" + (f" ({shown})" if shown else ""))[:LIMIT]


async def record(
    conn: AsyncConnection, thread: store.Thread, referral: Referral, now: float
) -> None:
    """Keep it, unless it is the same as the last one kept (a redelivered referral, or the same
    link followed twice in a row)."""
    said = words(referral)
    if await notes.latest(conn, thread.conversation_id, notes.REFERRAL) != said:
        await notes.add(conn, thread.conversation_id, notes.REFERRAL, said, now)
