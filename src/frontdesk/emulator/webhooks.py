"""Webhook delivery: Meta's byte encoding and signatures, batching, retries, auto-unsubscribe."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .clock import Clock
from .events import envelope

log = logging.getLogger("frontdesk.emulator.webhooks")


def encode(body: dict[str, Any], *, escape_unicode: bool = True) -> bytes:
    """Serialise like Meta: compact JSON, non-ASCII as lowercase `\\uXXXX`, `/` as `\\/`.

    `escape_unicode=False` sends raw UTF-8 instead, to prove a receiver hashes the bytes it got
    rather than a re-encoding of them (digest §2.2).
    """
    text = json.dumps(body, ensure_ascii=escape_unicode, separators=(",", ":"))
    # "/" only ever occurs inside JSON strings, where "\/" is a valid escape for it.
    return text.replace("/", "\\/").encode("utf-8")


def sign(secret: str, body: bytes) -> dict[str, str]:
    """Both signature headers over the exact bytes sent."""
    key = secret.encode()
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


@dataclass
class WebhookSettings:
    """Knobs for how Meta delivers (digest §4)."""

    timeout: float = 5.0
    retry_delays: list[float] = field(default_factory=lambda: [0.0, 1.0, 5.0])
    """Delays before each retry of a failed POST; after the last one the POST is dropped."""
    alert_after: float = 15 * 60
    unsubscribe_after: float = 3600
    """Continuous failure (emulated seconds) after which the app is unsubscribed from the Page."""
    batch_size: int = 1
    """Most entries per POST; >1 lets queued events share one POST."""
    connections: int = 1
    """POSTs in flight at once per app. Meta delivers to a busy callback over several
    connections; how many is unconfirmed, so 1 (everything in order) stays the default. Above 1,
    a person's events still go one after another (Meta promises a user's messages in order):
    each person is given one of the connections."""
    batch_window: float = 0.0
    """Seconds to wait for more events before sending a batch."""
    duplicate_rate: float = 0.0
    """Chance that a delivered POST is delivered once more."""
    reorder: bool = False
    """Shuffle the entries of each batch (out-of-order delivery)."""
    sha1: bool = True
    """Also send the legacy `X-Hub-Signature` (observed traffic carries both)."""
    escape_unicode: bool = True
    seed: int | None = None

    def update(self, values: dict[str, Any]) -> None:
        """Apply knobs from the control API; every value is range-checked before any is set."""
        checked = {key: _check_setting(key, value) for key, value in values.items()}
        for key, value in checked.items():
            setattr(self, key, value)

    def view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "timeout": (0.001, 120.0),
    "alert_after": (0.0, 10 * 86400.0),
    "unsubscribe_after": (0.0, 10 * 86400.0),
    "batch_window": (0.0, 10.0),
    "duplicate_rate": (0.0, 1.0),
}


_WHOLE_RANGES: dict[str, tuple[int, int]] = {"batch_size": (1, 1000), "connections": (1, 64)}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _check_setting(key: str, value: Any) -> Any:
    """The value to store for `key`, or ValueError saying what is allowed."""
    if key in _NUMBER_RANGES:
        low, high = _NUMBER_RANGES[key]
        if not _number(value) or not low <= value <= high:
            raise ValueError(f"{key} must be a number from {low:g} to {high:g}")
        return float(value)
    if key in _WHOLE_RANGES:
        low, high = _WHOLE_RANGES[key]
        if not _number(value) or value != int(value) or not low <= value <= high:
            raise ValueError(f"{key} must be a whole number from {low} to {high}")
        return int(value)
    if key == "retry_delays":
        if (
            not isinstance(value, list)
            or len(value) > 10
            or not all(_number(v) and 0 <= v <= 3600 for v in value)
        ):
            raise ValueError("retry_delays must be a list of at most 10 delays of 0 to 3600 s")
        return [float(v) for v in value]
    if key in ("reorder", "sha1", "escape_unicode"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "seed":
        raise ValueError("seed is fixed when the emulator starts")
    raise ValueError(f"unknown webhook setting {key!r}")


@dataclass
class Attempt:
    """One POST (or verification GET) to a callback, as the delivery log shows it."""

    id: int
    app_id: str
    url: str
    page_ids: list[str]
    attempt: int
    at: float
    status: int | None
    latency_ms: float
    error: str | None
    body: str
    headers: dict[str, str]
    kind: str = "event"

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "app_id": self.app_id,
            "url": self.url,
            "page_ids": self.page_ids,
            "attempt": self.attempt,
            "at": self.at,
            "status": self.status,
            "ok": self.ok,
            "latency_ms": round(self.latency_ms, 2),
            "error": self.error,
            "body": self.body,
            "headers": self.headers,
        }


@dataclass
class Alert:
    at: float
    app_id: str
    page_id: str
    kind: str
    """`failing` (15 minutes) or `disabled` (app unsubscribed from the Page)."""
    message: str

    def view(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "app_id": self.app_id,
            "page_id": self.page_id,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass
class _Item:
    page_id: str
    channel: str
    event: dict[str, Any]
    time_ms: int


class Target:
    """Where and how to deliver for one app; resolved at send time from the world."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret


TargetLookup = Callable[[str], Target | None]
UnsubscribeHook = Callable[[str, str], None]
FailureInjection = Callable[[str], int | None]


def _lane_of(page_id: str, event: dict[str, Any], lanes: int) -> int:
    """The lane of the person the event is about (sender, or recipient of the Page's own
    messages): the same person, the same lane, so their events keep their order. Changing
    `connections` while events wait may reorder those few; everything after keeps order."""
    if lanes == 1:
        return 0
    person = ""
    for side in ("sender", "recipient"):
        party = event.get(side)
        if isinstance(party, dict) and party.get("id") not in (None, page_id):
            person = str(party["id"])
            break
    return zlib.crc32(f"{page_id}:{person}".encode()) % lanes


class WebhookSender:
    """Delivers events to each app's callback over `settings.connections` ordered lanes per app
    (a person's events always take the same lane).

    `drain()` waits until everything queued so far has been delivered or dropped, which is how
    tests and scripts synchronise with the emulator without sleeping.
    """

    def __init__(
        self,
        clock: Clock,
        settings: WebhookSettings,
        target_for: TargetLookup,
        on_unsubscribe: UnsubscribeHook,
        injected_failure: FailureInjection,
        client_for_lane: Callable[[], httpx.AsyncClient],
        log_size: int = 5000,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self._target_for = target_for
        self._on_unsubscribe = on_unsubscribe
        self._injected_failure = injected_failure
        self._client_for_lane = client_for_lane
        self._handshakes: httpx.AsyncClient | None = None
        self._queues: dict[tuple[str, int], asyncio.Queue[_Item]] = {}
        self._lanes: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._failing_since: dict[str, float] = {}
        self._alerted: set[tuple[str, str]] = set()
        self._rng = random.Random(settings.seed)  # noqa: S311 - simulation, not security
        self.log: deque[Attempt] = deque(maxlen=log_size)
        self.alerts: list[Alert] = []
        self._next_attempt = 0
        self._listeners: list[Callable[[Attempt], None]] = []
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def on_attempt(self, listener: Callable[[Attempt], None]) -> None:
        self._listeners.append(listener)

    def enqueue(self, app_id: str, page_id: str, channel: str, event: dict[str, Any]) -> None:
        lane_key = (app_id, _lane_of(page_id, event, self.settings.connections))
        queue = self._queues.get(lane_key)
        if queue is None:
            queue = self._queues[lane_key] = asyncio.Queue()
        queue.put_nowait(_Item(page_id, channel, event, self.clock.now_ms()))
        self._pending += 1
        self._idle.clear()
        lane = self._lanes.get(lane_key)
        if lane is None or lane.done():
            self._lanes[lane_key] = asyncio.get_running_loop().create_task(
                self._run_lane(app_id, queue, self._client_for_lane()),
                name=f"webhooks:{app_id}:{lane_key[1]}",
            )

    async def drain(self) -> None:
        """Wait until every queued event was delivered or given up on."""
        await self._idle.wait()

    @property
    def idle(self) -> bool:
        """Every queued event was delivered or given up on."""
        return self._idle.is_set()

    async def aclose(self) -> None:
        for lane in self._lanes.values():
            lane.cancel()
        for lane in self._lanes.values():
            with contextlib.suppress(asyncio.CancelledError):
                await lane
        self._lanes.clear()

    async def _run_lane(
        self, app_id: str, queue: asyncio.Queue[_Item], client: httpx.AsyncClient
    ) -> None:
        while True:
            first = await queue.get()
            items = [first]
            try:
                if self.settings.batch_window > 0 and self.settings.batch_size > 1:
                    await asyncio.sleep(self.settings.batch_window)
                while len(items) < max(1, self.settings.batch_size) and not queue.empty():
                    items.append(queue.get_nowait())
                await self._deliver(client, app_id, items)
            except Exception:  # a lane must never die: log it where the console shows it
                log.exception("webhook lane for app %s failed", app_id)
            finally:
                self._pending -= len(items)
                if self._pending == 0:
                    self._idle.set()

    async def _deliver(self, client: httpx.AsyncClient, app_id: str, items: list[_Item]) -> None:
        if self.settings.reorder and len(items) > 1:
            self._rng.shuffle(items)
        entries = [{"id": it.page_id, "time": it.time_ms, it.channel: [it.event]} for it in items]
        body = encode(envelope(entries), escape_unicode=self.settings.escape_unicode)
        page_ids = list(dict.fromkeys(it.page_id for it in items))
        delays = [0.0, *self.settings.retry_delays]
        for number, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            target = self._target_for(app_id)
            if target is None:  # unsubscribed meanwhile: Meta stops sending
                return
            attempt = await self._post(client, app_id, target, body, page_ids, number)
            if attempt.ok:
                self._failing_since.pop(app_id, None)
                for page_id in page_ids:
                    self._alerted.discard((app_id, page_id))
                if (
                    self.settings.duplicate_rate
                    and self._rng.random() < self.settings.duplicate_rate
                ):
                    await self._post(client, app_id, target, body, page_ids, number + 1)
                return
            if self._record_failure(app_id, page_ids):
                return
        log.warning("webhook to app %s dropped after %d attempts", app_id, len(delays))

    def _record_failure(self, app_id: str, page_ids: list[str]) -> bool:
        """Raise developer alerts; unsubscribe after continuous failure. True when unsubscribed."""
        now = self.clock.now()
        since = self._failing_since.setdefault(app_id, now)
        failing_for = now - since
        for page_id in page_ids:
            if failing_for >= self.settings.alert_after and (app_id, page_id) not in self._alerted:
                self._alerted.add((app_id, page_id))
                self._alert(app_id, page_id, "failing", failing_for)
        if failing_for < self.settings.unsubscribe_after:
            return False
        for page_id in page_ids:
            self._on_unsubscribe(app_id, page_id)
            self._alert(app_id, page_id, "disabled", failing_for)
        self._failing_since.pop(app_id, None)
        return True

    def _alert(self, app_id: str, page_id: str, kind: str, failing_for: float) -> None:
        minutes = int(failing_for // 60)
        if kind == "failing":
            text = (
                f"Webhook deliveries to your callback for Page {page_id} have failed for "
                f"{minutes} minutes."
            )
        else:
            text = (
                f"Webhooks Disabled: deliveries for Page {page_id} failed for {minutes} minutes; "
                f"the app was unsubscribed from the Page. Fix the callback, then POST "
                f"/{page_id}/subscribed_apps again."
            )
        alert = Alert(self.clock.now(), app_id, page_id, kind, text)
        self.alerts.append(alert)
        log.warning("developer alert for app %s: %s", app_id, text)

    async def _post(
        self,
        client: httpx.AsyncClient,
        app_id: str,
        target: Target,
        body: bytes,
        page_ids: list[str],
        number: int,
    ) -> Attempt:
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        signatures = sign(target.secret, body)
        headers["X-Hub-Signature-256"] = signatures["X-Hub-Signature-256"]
        if self.settings.sha1:
            headers["X-Hub-Signature"] = signatures["X-Hub-Signature"]
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        injected = self._injected_failure(app_id)
        if injected is not None:
            status, error = (injected or None), "injected callback failure"
        else:
            try:
                # asyncio.timeout as well: in-process transports (httpx.ASGITransport) ignore
                # `timeout`. Not wait_for: on 3.11 it can swallow the lane's cancellation.
                async with asyncio.timeout(self.settings.timeout):
                    response = await client.post(
                        target.url, content=body, headers=headers, timeout=self.settings.timeout
                    )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (httpx.TimeoutException, TimeoutError):
                error = f"timeout after {self.settings.timeout:g} s"
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
        return self._record(
            app_id, target.url, page_ids, number, status, started, error, body, headers, "event"
        )

    def _handshake_client(self) -> httpx.AsyncClient:
        if self._handshakes is None:
            self._handshakes = self._client_for_lane()
        return self._handshakes

    async def verify(self, app_id: str, url: str, verify_token: str) -> Attempt:
        """The subscription handshake GET (digest §1): 200 and the exact challenge, or failure."""
        challenge = str(self._rng.randrange(10**8, 10**10))
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token,
            "hub.challenge": challenge,
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.settings.timeout):
                response = await self._handshake_client().get(
                    url, params=params, timeout=self.settings.timeout
                )
            status = response.status_code
            if status != 200:
                error = f"HTTP {status}"
            elif response.text != challenge:
                error = "the response body did not match the challenge"
        except TimeoutError:
            error = f"timeout after {self.settings.timeout:g} s"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"
        return self._record(app_id, url, [], 1, status, started, error, b"", {}, "verification")

    def _record(
        self,
        app_id: str,
        url: str,
        page_ids: list[str],
        number: int,
        status: int | None,
        started: float,
        error: str | None,
        body: bytes,
        headers: dict[str, str],
        kind: str,
    ) -> Attempt:
        self._next_attempt += 1
        attempt = Attempt(
            id=self._next_attempt,
            app_id=app_id,
            url=url,
            page_ids=page_ids,
            attempt=number,
            at=self.clock.now(),
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
            body=body.decode("utf-8", "replace"),
            headers=headers,
            kind=kind,
        )
        self.log.append(attempt)
        for listener in self._listeners:
            listener(attempt)
        return attempt
