"""Best-effort enrichment of what the `event` job filed, in jobs of their own so that no
conversation waits for it: `profile` asks Meta for a contact's name, picture and locale
(digest §8.10); `media` downloads an attachment before Meta's link expires (§3.5).

Profiles. A contact is asked about when it writes and was never asked, or not for
PROFILE_REFRESH. The answer is stored (the picture as a local copy: Meta's URL expires too);
a profile Meta refuses (no permission, no such user, a phone-made account, privacy) is recorded
as asked, with nothing learnt, so Meta is not asked again until it is stale; until a name is
known the inbox shows core's "Messenger user ·1234". "Try later" answers retry with the
queue's backoff. A broken or unreadable Page token stops the job and flags nothing: the send
pipeline owns that, and a paused channel is not asked about at all.

Media. One job per attachment of the kinds in MEDIA_KINDS that carries a URL, keyed by its
message so a message's jobs run one at a time (they rewrite the same JSON). The outcome goes
into the attachment's object in the message's `attachments` (see `store.attachments`): where
the local copy is, or in plain words why there is none, once retrying can't help or the
queue's last attempt failed.

Both jobs read what to do in the job's transaction, then hand the loop an `Outside` call (Meta,
a download), made with no transaction open, whose result is recorded in a second one: no write
lock is held while a slow server trickles (`download.DEADLINE_SECONDS` bounds a download, inside
the job's lease). A worker that dies in between leaves the job to run again once its lease
lapses; both calls are safe to repeat (a download is kept by digest, a profile overwritten).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.messenger import (
    BadRequest,
    GraphClient,
    GraphError,
    PermissionProblem,
    Profile,
    RetryLater,
    TokenBroken,
)
from frontdesk.store import attachments, media, profiles
from frontdesk.store.conversations import Thread
from frontdesk.store.outbox import PAUSED
from frontdesk.store.secrets import SecretError, Secrets

from . import queue
from .download import Downloader, DownloadFailed, DownloadRefused
from .loop import JobHandler, Outside
from .queue import Job

log = logging.getLogger("frontdesk.enrich")

PROFILE = "profile"
MEDIA = "media"
PROFILE_REFRESH = 7 * 24 * 3600.0
"""How long a profile (or Meta's refusal to give one) is trusted before asking again."""
PROFILE_FIELDS = ("name", "first_name", "last_name", "profile_pic", "locale")
BASIC_FIELDS = ("name", "first_name", "last_name", "profile_pic")
"""Without `locale`, which needs a permission of its own (pages_user_locale)."""
MEDIA_KINDS = frozenset({"image", "audio", "video", "file", "sticker"})
"""Attachments whose URL is the file itself. Not `fallback` (a shared web page), `location`,
`template`, nor reels and posts (links into Facebook and Instagram)."""


class Enricher:
    """What the `profile` and `media` jobs need from the composition root."""

    def __init__(self, graph: GraphClient, secrets: Secrets, downloader: Downloader) -> None:
        self.graph = graph
        self.secrets = secrets
        self.downloader = downloader


def profile_key(contact_id: int) -> str:
    return f"profile:{contact_id}"


def media_key(message_id: int) -> str:
    return f"media:{message_id}"


# --- enqueueing, in the event job's transaction ----------------------------------------------


def _stale(checked_at: float | None, now: float) -> bool:
    """Never asked for, or asked longer than PROFILE_REFRESH ago (`profiles.due` asks the
    database the same)."""
    return checked_at is None or checked_at < now - PROFILE_REFRESH


async def queue_profile(conn: AsyncConnection, thread: Thread, now: float) -> bool:
    """Enqueue a look at the thread's contact's profile if it is due and none is waiting
    already. A thread `thread_for` read tells when the profile was last asked for: no query."""
    contact_id = thread.contact_id
    if thread.contact is not None:
        if not _stale(thread.profile_checked_at, now):
            return False
    elif not await profiles.due(conn, contact_id, now - PROFILE_REFRESH):
        return False
    key = profile_key(contact_id)
    if await queue.has_unfinished(conn, key):
        return False  # a burst of messages from a new contact asks once
    await queue.enqueue(conn, PROFILE, {"contact_id": contact_id}, key=key, now=now)
    return True


def _downloadable(item: Any) -> bool:
    if not isinstance(item, Mapping) or item.get("type") not in MEDIA_KINDS:
        return False
    url = item.get("url")
    return isinstance(url, str) and bool(url)


async def queue_media(
    conn: AsyncConnection, message_id: int, items: Sequence[Mapping[str, Any]], now: float
) -> int:
    """Enqueue a download for each of the stored message's attachments that has a file to
    fetch; `items` are the objects as stored, in order. Returns how many."""
    rows = [
        {
            "kind": MEDIA,
            "key": media_key(message_id),
            "payload": {"message_id": message_id, "index": index},
        }
        for index, item in enumerate(items)
        if _downloadable(item)
    ]
    await queue.enqueue_many(conn, rows, now)
    return len(rows)


# --- the profile job -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Learnt:
    """What Meta told about a person: nothing (a refusal, no profile) is an answer too."""

    name: str | None = None
    locale: str | None = None
    picture: str | None = None


def profile_job(enricher: Enricher) -> JobHandler:
    async def look_up_profile(
        conn: AsyncConnection, job: Job, now: float
    ) -> Outside[_Learnt | None] | None:
        return await _plan_profile(conn, enricher, job, now)

    return look_up_profile


async def _plan_profile(
    conn: AsyncConnection, enricher: Enricher, job: Job, now: float
) -> Outside[_Learnt | None] | None:
    contact_id = int(job.payload["contact_id"])
    asking = await profiles.asking(conn, contact_id)
    if asking is None:
        return None  # the contact was deleted meanwhile
    if not _stale(asking.checked_at, now):
        return None  # asked meanwhile
    token = _page_token(enricher.secrets, asking)
    if token is None:
        return None

    async def call() -> _Learnt | None:
        return await _learn(enricher, asking.psid, token, job, contact_id)

    async def record(conn: AsyncConnection, learnt: _Learnt | None, now: float) -> None:
        if learnt is not None:
            await profiles.record(
                conn,
                contact_id,
                now,
                name=learnt.name,
                locale=learnt.locale,
                picture=learnt.picture,
            )

    return Outside(call, record)


def _page_token(secrets: Secrets, asking: profiles.Asking) -> str | None:
    if asking.channel_status in PAUSED or asking.page_token is None:
        return None  # the channel already says "reconnect needed"; asking would only fail
    try:
        return secrets.decrypt(asking.page_token)
    except SecretError as err:
        # The send job flags the channel when it meets this; a profile is not worth a flag.
        log.info("contact %s: profile not asked for: %s", asking.contact_id, err)
        return None


async def _learn(
    enricher: Enricher, psid: str, token: str, job: Job, contact_id: int
) -> _Learnt | None:
    """Meta's answer; None when it could not be asked (a broken token: nothing to record).
    Raises RetryLater (and DownloadFailed for the picture) to be tried again."""
    try:
        profile = await _ask(enricher.graph, psid, token)
    except TokenBroken as err:
        log.info("contact %s: profile not asked for, the Page token is broken: %s", contact_id, err)
        return None
    except RetryLater:
        raise  # throttled, Meta unavailable, no answer: the queue's backoff
    except GraphError as err:
        # No permission, no such user, privacy: asked, nothing learnt; not again for a while.
        log.info("contact %s: Meta gives no profile: %s", contact_id, err)
        return _Learnt()
    if profile is None:
        log.info("contact %s: Meta has no profile to give", contact_id)
        return _Learnt()
    picture = await _picture(enricher.downloader, profile.profile_pic, job, contact_id)
    return _Learnt(name=_full_name(profile), locale=profile.locale, picture=picture)


async def _ask(graph: GraphClient, psid: str, token: str) -> Profile | None:
    try:
        profile = await graph.profile(psid, token, PROFILE_FIELDS)
    except (PermissionProblem, BadRequest):
        profile = None  # asked once more below; that answer is the one that counts
    if profile is not None:
        return profile
    # Whether Meta refuses the whole call or only leaves `locale` out when the app lacks
    # pages_user_locale is unconfirmed (digest §8.10): the safer reading is that it may refuse,
    # so ask again without it before concluding there is no profile.
    return await graph.profile(psid, token, BASIC_FIELDS)


def _full_name(profile: Profile) -> str | None:
    if profile.name and profile.name.strip():
        return profile.name
    parts = [part.strip() for part in (profile.first_name, profile.last_name) if part]
    return " ".join(part for part in parts if part) or None


async def _picture(
    downloader: Downloader, url: str | None, job: Job, contact_id: int
) -> str | None:
    """The local copy of the profile picture as a `media:` reference, or None."""
    if not url:
        return None
    try:
        got = await downloader.fetch(url)
    except DownloadRefused as err:
        log.info("contact %s: profile picture not kept: %s", contact_id, err)
        return None
    except DownloadFailed as err:
        if job.attempts < queue.MAX_ATTEMPTS:
            raise  # the whole look-up again, after the queue's backoff
        log.warning(
            "contact %s: profile picture not kept after %s tries: %s",
            contact_id,
            job.attempts,
            err,
        )
        return None
    if not got.content_type.startswith("image/"):
        log.info("contact %s: profile picture not kept: it is %s", contact_id, got.content_type)
        return None
    return media.reference(got.sha256)


# --- the media job ---------------------------------------------------------------------------


def media_job(enricher: Enricher) -> JobHandler:
    async def download_media(
        conn: AsyncConnection, job: Job, now: float
    ) -> Outside[dict[str, Any]] | None:
        return await _plan_media(conn, enricher, job)

    return download_media


async def _plan_media(
    conn: AsyncConnection, enricher: Enricher, job: Job
) -> Outside[dict[str, Any]] | None:
    message_id, index = int(job.payload["message_id"]), int(job.payload["index"])
    items = await attachments.of_message(conn, message_id)
    if items is None or not 0 <= index < len(items):
        return None  # the message is gone
    item = items[index]
    if not _downloadable(item) or attachments.settled(item):
        return None  # a job run twice
    url = str(item["url"])
    # Stickers come twice with one URL (digest §3.6): the first download serves both.
    for earlier in items[:index]:
        if (
            isinstance(earlier, dict)
            and earlier.get("url") == url
            and attachments.STORED in earlier
        ):
            await attachments.record(
                conn, message_id, index, {attachments.STORED: earlier[attachments.STORED]}
            )
            return None

    async def call() -> dict[str, Any]:
        return await _download(enricher.downloader, url, job, message_id)

    async def record(conn: AsyncConnection, outcome: dict[str, Any], now: float) -> None:
        await attachments.record(conn, message_id, index, outcome)

    return Outside(call, record)


async def _download(downloader: Downloader, url: str, job: Job, message_id: int) -> dict[str, Any]:
    """The attachment's outcome; raises DownloadFailed while retrying can still help."""
    try:
        got = await downloader.fetch(url)
    except DownloadRefused as err:
        log.info("message %s: attachment not downloaded: %s", message_id, err)
        return {attachments.FAILED: f"Not downloaded: {err}."}
    except DownloadFailed as err:
        if job.attempts < queue.MAX_ATTEMPTS:
            raise  # the queue's backoff
        log.warning(
            "message %s: attachment not downloaded after %s tries: %s",
            message_id,
            job.attempts,
            err,
        )
        return {attachments.FAILED: f"Not downloaded after {job.attempts} tries: {err}."}
    return {attachments.STORED: got.as_json()}
