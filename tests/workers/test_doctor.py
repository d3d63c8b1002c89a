"""The connection doctor against the emulator: a healthy setup passes every check, and each fault
the emulator can inject (and each misconfiguration a business meets) fails exactly one check;
Meta unreachable, slow or answering nonsense gives "unknown", never a wrong ✗. Then the `doctor`
job: flags for the banner, cleared when the check passes again, and the notifier hook."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from frontdesk import cli
from frontdesk.core.models import FailureCode, MessageStatus
from frontdesk.demo import WEBHOOK_FIELDS
from frontdesk.emulator import PAGE_INBOX_APP_ID
from frontdesk.store import accounts, meta_apps, outbox
from frontdesk.store.meta_apps import MetaApp
from frontdesk.store.tables import channels, jobs, messages
from frontdesk.workers import checkup, evidence, examination, sending
from frontdesk.workers.checkup import Checkup, doctor_job, watch
from frontdesk.workers.doctor import Doctor
from frontdesk.workers.examination import Setup
from frontdesk.workers.findings import Check, Report, Verdict
from frontdesk.workers.loop import Worker
from frontdesk.workers.notices import NOTICE, ChannelAlert, Notifier, notice_job
from frontdesk.workers.unanswered import BOT_FAILING
from tests.emulator.conftest import REDIRECT, login, user_token
from tests.emulator.live import free_port
from tests.flows.harness import ADMIN, APP_ID, APP_SECRET, HOUR, PAGE, VERIFY, Desk, connected

pytestmark = pytest.mark.db

CALLBACK = "http://frontdesk.test/webhooks/messenger"
APP_TOKEN = f"{APP_ID}|{APP_SECRET}"


def app_of(desk: Desk) -> MetaApp:
    return MetaApp(APP_ID, APP_SECRET, VERIFY, desk.emulator.base_url, "v25.0")


async def page_token(desk: Desk) -> str:
    channel = await desk.channel()
    return desk.secrets.decrypt(channel["page_token"])


async def graph(desk: Desk, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = await desk.meta.request(method, path, **kwargs)
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


async def subscribe(desk: Desk, callback: str = CALLBACK) -> None:
    """What connecting a Page does (demo.connect_page): both subscriptions, every field."""
    fields = ",".join(WEBHOOK_FIELDS)
    await graph(
        desk,
        "POST",
        f"/v25.0/{APP_ID}/subscriptions",
        data={
            "object": "page",
            "callback_url": callback,
            "verify_token": VERIFY,
            "fields": fields,
            "access_token": APP_TOKEN,
        },
    )
    await graph(
        desk,
        "POST",
        f"/v25.0/{PAGE}/subscribed_apps",
        params={"subscribed_fields": fields, "access_token": await page_token(desk)},
    )


@contextlib.asynccontextmanager
async def healthy_desk(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Desk]:
    """The demo Page connected as Frontdesk connects it, and one conversation under way."""
    async with connected(database_url, engine, tmp_path) as desk:
        await subscribe(desk)
        await desk.say("Hi, is the blue tee back in stock?")
        yield desk


@pytest.fixture
async def desk(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Desk]:
    async with healthy_desk(database_url, engine, tmp_path) as ready:
        yield ready


async def examine(
    desk: Desk, *, patience: float = 10.0, http: httpx.AsyncClient | None = None
) -> Report:
    async with desk.engine.begin() as conn:
        facts = await evidence.gather_facts(conn, desk.secrets, desk.channel_id, desk.clock.now())
    assert facts is not None
    async with desk.emulator.client() as client:
        examiner = Doctor(http or client, Setup(app_of(desk), CALLBACK, timeout=patience))
        return await examiner.examine(facts, desk.clock.now())


def verdicts(report: Report) -> dict[Check, Verdict]:
    return {f.check: f.verdict for f in report.findings}


def only(report: Report, failing: Check | None, unknown: set[Check] | frozenset[Check]) -> None:
    """Exactly `failing` fails, exactly `unknown` could not be checked, everything else passes."""
    expected = {
        check: Verdict.FAIL
        if check is failing
        else Verdict.UNKNOWN
        if check in unknown
        else Verdict.PASS
        for check in Check
    }
    assert verdicts(report) == expected, report.text()
    for finding in report.findings:
        assert (finding.fix is not None) == (finding.verdict is Verdict.FAIL), finding
        assert finding.detail


# --- faults, injected the way `frontdesk emulator fault` and its control API do -------------


async def patch_page(desk: Desk, **state: Any) -> None:
    await graph(desk, "PATCH", f"/_emulator/pages/{PAGE}", json=state)


async def send_error(desk: Desk, error: dict[str, Any]) -> None:
    """Replies meet `error` at the Send API; the send job tries until it has tried enough."""
    await desk.fault({"kind": "error", "endpoint": "messages", "error": error})
    await desk.reply("Yes, in every size!")
    await desk.settle()
    for _ in range(3):
        await desk.advance(120)
        await desk.settle()


async def password_change(desk: Desk) -> None:
    await desk.fault({"person_id": ADMIN}, "password-change")


async def expire_token(desk: Desk) -> None:
    await desk.fault({"person_id": ADMIN}, "expire-token")


async def remove_role(desk: Desk) -> None:
    await desk.fault({"page_id": PAGE, "person_id": ADMIN}, "remove-role")


async def remove_app(desk: Desk) -> None:
    await desk.fault({"page_id": PAGE, "app_id": APP_ID}, "remove-app")


async def unpublish(desk: Desk) -> None:
    await patch_page(desk, published=False)


async def restrict(desk: Desk) -> None:
    """A silent restriction shows when a reply meets it (10/1893063)."""
    await patch_page(desk, restricted=True)
    await desk.reply("Yes, in every size!")
    await desk.settle()


async def policy_block(desk: Desk) -> None:
    await graph(
        desk,
        "POST",
        "/_emulator/act/policy_enforcement",
        json={"page_id": PAGE, "action": "block", "reason": "Spammy tagged messages."},
    )
    await desk.settle()


async def messaging_off(desk: Desk) -> None:
    await patch_page(desk, messaging_enabled=False)
    await desk.advance(25 * HOUR)


async def callback_fails(desk: Desk) -> None:
    """Deliveries fail, but not yet for the hour after which Meta unsubscribes the app."""
    await desk.fault({"kind": "callback", "status": 500})
    await desk.act("message", text="Hello? Anyone there?")
    await desk.settle()
    await desk.advance(25 * HOUR)


async def callback_fails_for_hours(desk: Desk) -> None:
    """After an hour of failed deliveries Meta unsubscribes the app from the Page (digest §4)."""
    await desk.fault({"kind": "callback", "status": 500})
    await desk.act("message", text="Hello?")
    await desk.settle()
    await desk.advance(2 * HOUR)
    await desk.act("message", text="Hello??")
    await desk.settle()


async def another_default_app(desk: Desk) -> None:
    """Conversation Routing: Meta's Page Inbox made the Page's default app; Frontdesk's app
    hears customers on standby only (digest §7, §3.18)."""
    await patch_page(desk, default_app_id=PAGE_INBOX_APP_ID)
    await desk.act("message", text="Hello?")
    await desk.settle()
    await desk.advance(2 * HOUR)
    await desk.act("message", text="Hello??")
    await desk.settle()


async def send_5xx(desk: Desk) -> None:
    await send_error(
        desk,
        {
            "code": 2,
            "status": 503,
            "message": "(#2) Service temporarily unavailable",
            "is_transient": True,
        },
    )


async def rate_limit(desk: Desk) -> None:
    await send_error(
        desk,
        {"code": 613, "message": "(#613) Calls to this api have exceeded the rate limit."},
    )


async def send_refused(desk: Desk) -> None:
    await send_error(desk, {"code": 10, "message": "(#10) Permission denied"})


async def slow(desk: Desk) -> None:
    await desk.fault({"kind": "latency", "endpoint": "*", "seconds": 0.01})


async def slower_than_the_doctor_waits(desk: Desk) -> None:
    await desk.fault({"kind": "latency", "endpoint": "debug_token", "seconds": 2.0})


async def meta_down(desk: Desk) -> None:
    await desk.fault({"kind": "error", "endpoint": "*", "error": {"code": 2, "status": 503}})


async def subscriptions_5xx(desk: Desk) -> None:
    await desk.fault(
        {"kind": "error", "endpoint": "subscriptions", "error": {"code": 1, "status": 500}}
    )


# --- misconfigurations a business meets (not faults of Meta's, but each one check's ✗) -----


async def development_mode(desk: Desk) -> None:
    await graph(desk, "PATCH", f"/_emulator/apps/{APP_ID}", json={"mode": "development"})
    await desk.reply("Yes, in every size!")
    await desk.settle()


async def permission_revoked(desk: Desk) -> None:
    token = await user_token(desk.meta, ADMIN)
    await graph(
        desk, "DELETE", "/v25.0/me/permissions/pages_messaging", params={"access_token": token}
    )


async def fields_missing(desk: Desk) -> None:
    await graph(
        desk,
        "POST",
        f"/v25.0/{PAGE}/subscribed_apps",
        params={
            "subscribed_fields": "messages,message_echoes",
            "access_token": await page_token(desk),
        },
    )


async def webhook_removed(desk: Desk) -> None:
    await graph(
        desk,
        "DELETE",
        f"/v25.0/{APP_ID}/subscriptions",
        params={"object": "page", "access_token": APP_TOKEN},
    )


async def webhook_elsewhere(desk: Desk) -> None:
    await subscribe(desk, "http://old-frontdesk.test/webhooks/messenger")


async def role_without_messaging(desk: Desk) -> None:
    await graph(desk, "PUT", f"/_emulator/pages/{PAGE}/roles/{ADMIN}", json={"tasks": ["ANALYZE"]})


async def secret_key_lost(desk: Desk) -> None:
    sealed = Fernet(Fernet.generate_key()).encrypt(b"EAA-some-token")
    async with desk.engine.begin() as conn:
        await conn.execute(
            update(channels).where(channels.c.id == desk.channel_id).values(page_token=sealed)
        )


async def customer_blocked_the_page(desk: Desk) -> None:
    await desk.act("block")
    await desk.reply("Yes, in every size!")
    await desk.settle()


async def nothing(desk: Desk) -> None:
    return None


NO_TOKEN = frozenset({Check.ROLE, Check.PERMISSIONS, Check.PAGE, Check.SUBSCRIPTION})


@dataclass(frozen=True)
class Case:
    name: str
    inject: Callable[[Desk], Awaitable[None]]
    failing: Check | None
    unknown: frozenset[Check] = field(default_factory=frozenset)
    patience: float = 10.0
    """How long the doctor waits for each answer."""


CASES = [
    Case("healthy", nothing, None),
    # `frontdesk emulator fault …` and the control API's world faults
    Case("password-change", password_change, Check.TOKEN, NO_TOKEN),
    Case("expire-token", expire_token, Check.TOKEN, NO_TOKEN),
    Case(
        "remove-role", remove_role, Check.ROLE, NO_TOKEN - {Check.ROLE} | frozenset({Check.TOKEN})
    ),
    Case("remove-app", remove_app, Check.TOKEN, NO_TOKEN),
    Case("unpublish", unpublish, Check.PAGE),
    Case("restrict", restrict, Check.PAGE),
    Case("policy-enforcement-block", policy_block, Check.PAGE),
    Case("messaging-off", messaging_off, Check.MESSAGING),
    Case("callback-fail", callback_fails, Check.MESSAGING),
    Case("callback-fail-for-an-hour", callback_fails_for_hours, Check.SUBSCRIPTION),
    Case("another-default-app", another_default_app, Check.MESSAGING),
    Case("send-5xx", send_5xx, Check.SEND_ERRORS),
    Case("rate-limit", rate_limit, Check.SEND_ERRORS),
    Case("send-refused", send_refused, Check.SEND_ERRORS),
    Case("slow", slow, None),
    Case(
        "slower-than-the-doctor-waits",
        slower_than_the_doctor_waits,
        None,
        frozenset({Check.TOKEN, Check.ROLE, Check.PERMISSIONS}),
        patience=0.05,
    ),
    Case(
        "meta-down",
        meta_down,
        None,
        frozenset(
            {
                Check.TOKEN,
                Check.ROLE,
                Check.PERMISSIONS,
                Check.PAGE,
                Check.APP_WEBHOOK,
                Check.SUBSCRIPTION,
            }
        ),
    ),
    Case("subscriptions-5xx", subscriptions_5xx, None, frozenset({Check.APP_WEBHOOK})),
    # what a business gets wrong
    Case("development-mode", development_mode, Check.LIVE_MODE),
    Case("permission-revoked", permission_revoked, Check.PERMISSIONS),
    Case("fields-missing", fields_missing, Check.SUBSCRIPTION),
    Case("webhook-removed", webhook_removed, Check.APP_WEBHOOK),
    Case("webhook-elsewhere", webhook_elsewhere, Check.APP_WEBHOOK),
    Case("role-without-messaging", role_without_messaging, Check.ROLE),
    Case("secret-key-lost", secret_key_lost, Check.TOKEN, NO_TOKEN),
    Case("customer-blocked-the-page", customer_blocked_the_page, None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_each_fault_fails_exactly_one_check(desk: Desk, case: Case) -> None:
    await case.inject(desk)
    only(await examine(desk, patience=case.patience), case.failing, case.unknown)


def fault_kinds() -> set[str]:
    """The kinds `frontdesk emulator fault` accepts, as its own refusal lists them."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said), pytest.raises(SystemExit):
        cli.parser().parse_args(["emulator", "fault", "no-such-fault"])
    found = re.search(r"choose from (.*)\)", said.getvalue())
    assert found, said.getvalue()
    return set(re.findall(r"'?([a-z0-9-]+)'?", found.group(1)))


def test_every_fault_the_emulator_offers_is_in_the_table() -> None:
    """Each `frontdesk emulator fault` kind is a case (or undoes one); the control API's
    fault kinds (error, latency, callback) are cases through them and the endpoint faults."""
    undo = {"publish", "unrestrict", "messaging-on", "clear"}
    kinds = fault_kinds()
    assert undo <= kinds
    assert kinds - undo <= {case.name for case in CASES}, kinds - undo


# --- what each finding says ------------------------------------------------------------------


async def test_a_healthy_report_says_what_it_found(desk: Desk) -> None:
    report = await examine(desk)
    assert report.ok
    assert report.finding(Check.TOKEN).detail == (
        "Meta accepts the Page token, and it does not expire."
    )
    assert CALLBACK in report.finding(Check.APP_WEBHOOK).detail
    assert report.finding(Check.MESSAGING).detail == (
        "The last event arrived less than a minute ago."
    )
    text = report.text()
    assert text.splitlines()[0] == f"Lisbon Tees (Page {PAGE}): no problem found"
    assert "✗" not in text
    assert text.count("✓") == len(Check)


async def test_a_failure_says_why_and_what_to_do(desk: Desk) -> None:
    await password_change(desk)
    report = await examine(desk)
    token = report.finding(Check.TOKEN)
    assert token.detail == (
        "The Page token stopped working: the password of the person who connected the Page "
        "was changed (190/460)."
    )
    assert (token.fix or "").startswith("Reconnect the Page in Frontdesk")
    assert report.finding(Check.PAGE).detail == examination.NEEDS_TOKEN
    text = report.text()
    assert "  ✗ Page token" in text
    assert "      Fix: Reconnect the Page" in text
    assert "  ? Page published and not restricted" in text
    assert report.view()["findings"][0] == {
        "check": "token",
        "title": "Page token",
        "verdict": "fail",
        "detail": token.detail,
        "fix": token.fix,
    }


async def test_a_consequence_points_at_its_cause(desk: Desk) -> None:
    """Unpublished for a day: no events either, but the report names the cause once."""
    await unpublish(desk)
    await desk.advance(25 * HOUR)
    report = await examine(desk)
    only(report, Check.PAGE, {Check.MESSAGING})
    assert "This follows from “Page published and not restricted” above" in (
        report.finding(Check.MESSAGING).detail
    )


async def test_a_token_about_to_expire_fails(desk: Desk) -> None:
    """A Page token from a short-lived login lasts an hour (digest §8.4)."""
    code = await login(desk.meta, ADMIN)
    short = await graph(
        desk,
        "GET",
        "/v25.0/oauth/access_token",
        params={
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": REDIRECT,
            "code": code,
        },
    )
    accounts = await graph(
        desk, "GET", "/v25.0/me/accounts", params={"access_token": short["access_token"]}
    )
    [hourly] = [p["access_token"] for p in accounts["data"] if p["id"] == PAGE]
    async with desk.engine.begin() as conn:
        await outbox.replace_page_token(conn, desk.secrets, desk.channel_id, hourly, 0.0)
    report = await examine(desk)
    only(report, Check.TOKEN, set())
    assert report.finding(Check.TOKEN).detail.startswith("The Page token expires on 2026-")


async def test_a_page_that_never_had_an_event_is_not_called_silent(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with connected(database_url, engine, tmp_path) as fresh:
        await subscribe(fresh)
        report = await examine(fresh)
    only(report, None, {Check.MESSAGING})
    assert report.finding(Check.MESSAGING).detail.startswith("Nothing has reached Frontdesk")


async def test_a_person_answering_in_the_page_inbox_is_not_a_takeover(desk: Desk) -> None:
    """With Frontdesk the default app, a person who answers in Meta's Page Inbox holds the
    conversation for a while: the customer's next messages come on standby, and that is fine."""
    await patch_page(desk, default_app_id=APP_ID)
    await desk.act("page_inbox_reply", text="Hi, Morgan here, let me check the stock.")
    await desk.advance(600)
    await desk.act("message", text="Thanks!")
    await desk.settle()
    only(await examine(desk), None, set())


async def test_explained_send_failures_are_listed_but_pass(desk: Desk) -> None:
    await customer_blocked_the_page(desk)
    finding = (await examine(desk)).finding(Check.SEND_ERRORS)
    assert finding.verdict is Verdict.PASS
    assert "1 the customer can't be reached" in finding.detail


async def fail_reply(desk: Desk, reason: str, code: FailureCode | None) -> None:
    """A reply that failed with `reason` and `code` (None: failed before codes were kept)."""
    message_id = await desk.reply("Yes, in every size!")
    async with desk.engine.begin() as conn:
        assert await outbox.record_failure(
            conn, message_id, MessageStatus.FAILED, reason, code or FailureCode.OTHER
        )
        if code is None:
            await conn.execute(
                update(messages).where(messages.c.id == message_id).values(failure_code=None)
            )


async def test_failed_replies_are_sorted_by_their_code_never_their_words(desk: Desk) -> None:
    # Words that name no code, and a code: development mode.
    await fail_reply(
        desk, "Non envoyé : l'application est en mode développement.", FailureCode.DEV_MODE
    )
    only(await examine(desk), Check.LIVE_MODE, set())


async def test_a_failure_from_before_codes_is_of_no_known_kind(desk: Desk) -> None:
    """Its words look like development mode, but words decide nothing: it is "another
    problem", for a person to read in the inbox."""
    await fail_reply(desk, "Not sent: development mode (200/2018028).", None)
    report = await examine(desk)
    only(report, Check.SEND_ERRORS, set())
    assert "1 because of another problem" in report.finding(Check.SEND_ERRORS).detail


async def test_a_workspace_with_its_own_app_is_examined_through_it(desk: Desk) -> None:
    """The channel's workspace brings its own Meta app (here: the right id, a wrong secret):
    the doctor asks Meta with that app, not the operator's, and says what is wrong with it."""
    async with desk.engine.begin() as conn:
        workspace = await accounts.create_workspace(conn, "Lisbon Tees Lda", desk.clock.now())
        await meta_apps.save_own_app(
            conn,
            desk.secrets,
            workspace.id,
            desk.clock.now(),
            in_use=True,
            app_id=APP_ID,
            app_secret="not-the-secret",
            graph_url=desk.emulator.base_url,
            graph_version="v25.0",
        )
    report = await examine(desk)
    only(report, Check.APP_WEBHOOK, {Check.TOKEN, Check.PERMISSIONS, Check.ROLE})
    assert report.finding(Check.APP_WEBHOOK).detail == (
        "Meta refused the Meta app's id and secret (190)."
    )
    assert report.finding(Check.TOKEN).detail == (
        "Meta refused the Meta app's id and secret (see “App webhook”)."
    )


# --- Meta unreachable or answering nonsense: unknown, never a wrong ✗ ---------------------------

GRAPH_CHECKS = frozenset(
    {Check.TOKEN, Check.ROLE, Check.PERMISSIONS, Check.PAGE, Check.APP_WEBHOOK, Check.SUBSCRIPTION}
)


async def test_meta_unreachable_is_unknown(desk: Desk) -> None:
    nowhere = MetaApp(APP_ID, APP_SECRET, VERIFY, f"http://127.0.0.1:{free_port()}", "v25.0")
    async with desk.engine.begin() as conn:
        facts = await evidence.gather_facts(conn, desk.secrets, desk.channel_id, desk.clock.now())
    assert facts is not None
    async with httpx.AsyncClient(timeout=5) as http:
        report = await Doctor(http, Setup(nowhere, CALLBACK)).examine(facts, desk.clock.now())
    only(report, None, GRAPH_CHECKS)
    assert report.finding(Check.APP_WEBHOOK).detail.startswith(
        "Meta could not be reached, or its answer was unreadable: GET "
    )


Answer = Callable[[], httpx.Response]


class Hostile(httpx.AsyncBaseTransport):
    """The emulator, except for the requests a rule answers with something hostile."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        rules: list[tuple[Callable[[httpx.Request], bool], Answer]],
    ) -> None:
        self.inner = inner
        self.rules = rules

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for matches, answer in self.rules:
            if matches(request):
                return answer()
        return await self.inner.handle_async_request(request)


def at(path: str, fields: str | None = None) -> Callable[[httpx.Request], bool]:
    def matches(request: httpx.Request) -> bool:
        return request.url.path.endswith(path) and (
            fields is None or request.url.params.get("fields") == fields
        )

    return matches


def body(value: Any, status: int = 200) -> Answer:
    return lambda: httpx.Response(status, json=value)


def raw(content: bytes, status: int = 200) -> Answer:
    return lambda: httpx.Response(status, content=content)


HOSTILE = [
    (
        "debug_token-html",
        at("/debug_token"),
        raw(b"<html>Bad gateway</html>"),
        {Check.TOKEN, Check.ROLE, Check.PERMISSIONS},
    ),
    (
        "debug_token-empty",
        at("/debug_token"),
        body({"data": {}}),
        {Check.TOKEN, Check.ROLE, Check.PERMISSIONS},
    ),
    (
        "debug_token-no-data",
        at("/debug_token"),
        body({"nope": True}),
        {Check.TOKEN, Check.ROLE, Check.PERMISSIONS},
    ),
    (
        "debug_token-invalid-without-reason",
        at("/debug_token"),
        body({"data": {"is_valid": False, "app_id": APP_ID, "type": "PAGE"}}),
        {Check.TOKEN, Check.ROLE, Check.PERMISSIONS},
    ),
    (
        "debug_token-deeply-nested",
        at("/debug_token"),
        raw(b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        {Check.TOKEN, Check.ROLE, Check.PERMISSIONS},
    ),
    (
        "page-without-is_published",
        at(f"/{PAGE}", "id,is_published"),
        body({"id": PAGE}),
        {Check.PAGE},
    ),
    (
        "page-is_published-a-string",
        at(f"/{PAGE}", "id,is_published"),
        body({"id": PAGE, "is_published": "yes"}),
        {Check.PAGE},
    ),
    (
        "page-without-id",
        at(f"/{PAGE}", "id,is_published"),
        body({"is_published": True}),
        {Check.PAGE},
    ),
    (
        "tasks-a-string",
        at(f"/{PAGE}", "id,tasks"),
        body({"id": PAGE, "tasks": "MESSAGING"}),
        {Check.ROLE},
    ),
    (
        "subscribed_apps-not-a-list",
        at("/subscribed_apps"),
        body({"data": "all of them"}),
        {Check.SUBSCRIPTION},
    ),
    (
        "subscribed_apps-app-without-id",
        at("/subscribed_apps"),
        body({"data": [{"name": "x"}]}),
        {Check.SUBSCRIPTION},
    ),
    (
        "subscriptions-without-url",
        at("/subscriptions"),
        body({"data": [{"object": "page", "active": True}]}),
        {Check.APP_WEBHOOK},
    ),
    (
        "subscriptions-500-html",
        at("/subscriptions"),
        raw(b"<h1>oops</h1>", 500),
        {Check.APP_WEBHOOK},
    ),
    (
        "subscriptions-huge",
        at("/subscriptions"),
        raw(b'{"data": "' + b"x" * 5_000_000 + b'"}'),
        {Check.APP_WEBHOOK},
    ),
]


@pytest.mark.parametrize(
    ("matches", "answer", "unknown"),
    [pytest.param(m, a, frozenset(u), id=name) for name, m, a, u in HOSTILE],
)
async def test_hostile_answers_are_unknown(
    desk: Desk,
    matches: Callable[[httpx.Request], bool],
    answer: Answer,
    unknown: frozenset[Check],
) -> None:
    transport = Hostile(httpx.ASGITransport(app=desk.emulator.app), [(matches, answer)])
    async with httpx.AsyncClient(transport=transport) as http:
        report = await examine(desk, http=http)
    only(report, None, unknown)


async def test_meta_quoted_in_a_finding_is_cut_short(desk: Desk) -> None:
    long_words = "(#2) " + "Something went wrong. " * 100
    await desk.fault(
        {"kind": "error", "endpoint": "subscriptions", "error": {"code": 2, "message": long_words}}
    )
    detail = (await examine(desk)).finding(Check.APP_WEBHOOK).detail
    assert detail.startswith("Meta answered with a temporary error: (2/-) (#2) Something")
    assert len(detail) < 300


# --- the job: flags, clearing, the notifier -----------------------------------------------------


class Told:
    """A notifier that keeps what it was told (the hook an email or webhook sender will fill)."""

    def __init__(self) -> None:
        self.alerts: list[ChannelAlert] = []

    async def notify(self, alert: ChannelAlert) -> None:
        self.alerts.append(alert)


@contextlib.asynccontextmanager
async def checkup_of(desk: Desk, told: Told) -> AsyncIterator[Checkup]:
    async with desk.emulator.client() as http:
        yield Checkup(Doctor(http, Setup(app_of(desk), CALLBACK)), desk.secrets, notifier=told)


def worker_of(desk: Desk, run: Checkup) -> Worker:
    """Frontdesk's worker, with `run` examining and its notifier told."""
    kinds = {
        **desk.worker.handlers,
        checkup.DOCTOR: doctor_job(run),
        NOTICE: notice_job(run.notifier),
    }
    return Worker(desk.engine, kinds, clock=desk.clock.now)


async def check(desk: Desk, run: Checkup) -> Report:
    """Examine and apply in one transaction; then the notices it left are told."""
    async with desk.engine.begin() as conn:
        report = await run.check(conn, desk.channel_id, desk.clock.now())
    assert report is not None
    await worker_of(desk, run).run_until_idle()
    return report


async def status(desk: Desk) -> tuple[str, str | None]:
    channel = await desk.channel()
    return channel["status"], channel["status_reason"]


async def test_a_healthy_channel_is_left_alone(desk: Desk) -> None:
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)
    assert await status(desk) == ("active", None)
    assert told.alerts == []


async def test_a_broken_token_flags_reconnect_and_pauses_once(desk: Desk) -> None:
    told = Told()
    await password_change(desk)
    async with checkup_of(desk, told) as run:
        report = await check(desk, run)
        await check(desk, run)
    token = report.finding(Check.TOKEN)
    assert await status(desk) == ("reconnect_needed", f"{token.detail} {token.fix}")
    [alert] = told.alerts
    assert (alert.previous, alert.status, alert.cleared) == ("active", "reconnect_needed", False)
    # The send pipeline honours the flag: the reply waits instead of failing.
    await desk.reply("Yes, in every size!")
    await desk.settle()
    assert (await desk.outbound())[-1] == ("Yes, in every size!", "queued")


async def test_an_unpublished_page_is_flagged_then_cleared(desk: Desk) -> None:
    told = Told()
    await unpublish(desk)
    async with checkup_of(desk, told) as run:
        await check(desk, run)
        assert (await status(desk))[0] == "restricted"
        await patch_page(desk, published=True)
        await check(desk, run)
    assert await status(desk) == ("active", None)
    assert [(a.previous, a.status) for a in told.alerts] == [
        ("active", "restricted"),
        ("restricted", "active"),
    ]
    assert told.alerts[1].cleared


async def test_each_failing_check_sets_its_own_flag(desk: Desk) -> None:
    told = Told()
    await fields_missing(desk)
    async with checkup_of(desk, told) as run:
        await check(desk, run)
        assert (await status(desk))[0] == checkup.NOT_SUBSCRIBED
        # A worse failure takes over the banner; clearing goes back the same way.
        await unpublish(desk)
        await check(desk, run)
        assert (await status(desk))[0] == "restricted"
        await patch_page(desk, published=True)
        await check(desk, run)
        assert (await status(desk))[0] == checkup.NOT_SUBSCRIBED
        await subscribe(desk)
        await check(desk, run)
    assert await status(desk) == ("active", None)


async def test_reconnect_needed_stays_while_meta_cannot_say(desk: Desk) -> None:
    """Set by the send pipeline (a 190 at send time); never cleared on "unknown"."""
    reason = "The Page token stopped working: it expired (190/463). Reconnect the Page."
    async with desk.engine.begin() as conn:
        await outbox.flag_channel(conn, desk.channel_id, "reconnect_needed", reason, 0.0)
    await meta_down(desk)
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)
    assert await status(desk) == ("reconnect_needed", reason)
    assert told.alerts == []


async def test_reconnect_needed_is_cleared_once_the_token_works_and_sends_resume(
    desk: Desk,
) -> None:
    """The pipeline paused on a 190 that was Meta's glitch: the token is fine, so the doctor
    clears the flag and the waiting reply goes out."""
    reason = "The Page token stopped working: Meta no longer accepts it (190). Reconnect the Page."
    async with desk.engine.begin() as conn:
        await outbox.flag_channel(conn, desk.channel_id, "reconnect_needed", reason, 0.0)
    await desk.reply("Yes, in every size!")
    await desk.settle()
    assert (await desk.outbound())[-1][1] == "queued"
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)
    assert await status(desk) == ("active", None)
    await desk.settle()
    assert (await desk.outbound())[-1] == ("Yes, in every size!", "delivered")
    assert [(a.previous, a.status) for a in told.alerts] == [("reconnect_needed", "active")]


async def test_a_restriction_the_pipeline_met_is_not_cleared_by_the_doctor(desk: Desk) -> None:
    await restrict(desk)
    assert await status(desk) == ("restricted", sending.RESTRICTED_PAGE)
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)
    assert await status(desk) == ("restricted", sending.RESTRICTED_PAGE)
    assert told.alerts == []


async def test_an_unblock_notice_lifts_the_restriction(desk: Desk) -> None:
    await restrict(desk)
    await desk.advance(60)
    await graph(
        desk,
        "POST",
        "/_emulator/act/policy_enforcement",
        json={"page_id": PAGE, "action": "unblock"},
    )
    await desk.settle()
    told = Told()
    async with checkup_of(desk, told) as run:
        report = await check(desk, run)
    assert report.finding(Check.PAGE).verdict is Verdict.PASS
    assert await status(desk) == ("active", None)


async def test_a_status_the_doctor_does_not_own_is_left_alone(desk: Desk) -> None:
    async with desk.engine.begin() as conn:
        await outbox.flag_channel(conn, desk.channel_id, "removing", "being removed", 0.0)
    await unpublish(desk)
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)
    assert await status(desk) == ("removing", "being removed")


async def test_a_bot_that_could_not_answer_is_flagged_until_a_connection_problem_says_more(
    desk: Desk,
) -> None:
    reason = "The bot could not answer a customer: the rules handler stopped with an error."
    async with desk.engine.begin() as conn:
        await outbox.flag_channel(conn, desk.channel_id, BOT_FAILING, reason, 0.0)
    told = Told()
    async with checkup_of(desk, told) as run:
        await check(desk, run)  # healthy: the doctor does not clear what it did not see
        assert await status(desk) == (BOT_FAILING, reason)
        await unpublish(desk)
        await check(desk, run)
    assert (await status(desk))[0] == "restricted"
    assert [(a.previous, a.status) for a in told.alerts] == [(BOT_FAILING, "restricted")]


class Failing:
    def __init__(self) -> None:
        self.tries = 0

    async def notify(self, alert: ChannelAlert) -> None:
        self.tries += 1
        raise ConnectionError("the mail server is down")


async def test_a_notifier_that_fails_keeps_the_flag_and_is_tried_again(desk: Desk) -> None:
    await unpublish(desk)
    failing = Failing()
    async with desk.emulator.client() as http:
        run = Checkup(Doctor(http, Setup(app_of(desk), CALLBACK)), desk.secrets, notifier=failing)
        await check(desk, run)
        assert (await status(desk))[0] == "restricted"
        assert failing.tries == 1
        await desk.advance(60)
        await worker_of(desk, run).run_until_idle()
    assert failing.tries == 2
    assert (await status(desk))[0] == "restricted"


class Witness:
    """A notifier that looks, from a connection of its own, at what others see when told."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.seen: list[tuple[str, int]] = []

    async def notify(self, alert: ChannelAlert) -> None:
        busy = self.desk.engine.pool.checkedout()
        async with asyncio.timeout(5), self.desk.engine.connect() as conn:
            found = await conn.execute(
                select(channels.c.status).where(channels.c.id == alert.channel_id)
            )
            self.seen.append((str(found.scalar_one()), busy))


@pytest.mark.parametrize("way", ["job", "console"])
async def test_the_notifier_is_told_after_the_flag_committed(desk: Desk, way: str) -> None:
    """No transaction is open while a notifier runs (it may be slow): the flag it is told of
    is already what everyone sees."""
    await unpublish(desk)
    witness = Witness(desk)
    notifier: Notifier = witness
    async with desk.emulator.client() as http:
        run = Checkup(Doctor(http, Setup(app_of(desk), CALLBACK)), desk.secrets, notifier=notifier)
        if way == "job":
            async with desk.engine.begin() as conn:
                await watch(conn, desk.channel_id, desk.clock.now())
            await worker_of(desk, run).run_until_idle()
        else:  # as the console's doctor page applies a report
            await check(desk, run)
    assert witness.seen == [("restricted", 0)]


async def doctor_jobs(desk: Desk) -> list[tuple[str, float, str | None]]:
    async with desk.engine.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.state, jobs.c.run_at, jobs.c.key)
            .where(jobs.c.kind == checkup.DOCTOR)
            .order_by(jobs.c.id)
        )
        return [(r.state, r.run_at, r.key) for r in rows]


async def test_the_job_examines_flags_and_comes_back(desk: Desk) -> None:
    told = Told()
    now = desk.clock.now()
    key = f"doctor:{desk.channel_id}"
    await unpublish(desk)
    async with checkup_of(desk, told) as run:
        worker = worker_of(desk, run)
        async with desk.engine.begin() as conn:
            assert await watch(conn, desk.channel_id, now)
            assert not await watch(conn, desk.channel_id, now)  # one watch per channel
        assert await worker.run_until_idle() == 2  # the examination, then its notice
        assert (await status(desk))[0] == "restricted"
        assert await doctor_jobs(desk) == [
            ("done", now, key),
            ("ready", now + checkup.INTERVAL, key),
        ]
        await patch_page(desk, published=True)
        await desk.advance(checkup.INTERVAL)
        assert await worker.run_until_idle() == 2
    assert await status(desk) == ("active", None)
    assert [a.status for a in told.alerts] == ["restricted", "active"]
    assert [s for s, _, _ in await doctor_jobs(desk)] == ["done", "done", "ready"]


async def test_the_job_stops_when_the_channel_is_gone(desk: Desk) -> None:
    told = Told()
    async with checkup_of(desk, told) as run:
        worker = Worker(desk.engine, {checkup.DOCTOR: doctor_job(run)}, clock=desk.clock.now)
        async with desk.engine.begin() as conn:
            await watch(conn, 999_999, desk.clock.now())
        assert await worker.run_until_idle() == 1
    assert [s for s, _, _ in await doctor_jobs(desk)] == ["done"]


async def test_a_job_without_a_channel_id_goes_to_the_dead_letters(desk: Desk) -> None:
    told = Told()
    async with checkup_of(desk, told) as run:
        worker = Worker(desk.engine, {checkup.DOCTOR: doctor_job(run)}, clock=desk.clock.now)
        async with desk.engine.begin() as conn:
            for payload in ({}, {"channel_id": "1; DROP TABLE"}, {"channel_id": True}):
                await conn.execute(
                    jobs.insert().values(
                        kind=checkup.DOCTOR,
                        key=None,
                        payload=payload,
                        state="ready",
                        attempts=0,
                        run_at=0.0,
                        created_at=0.0,
                    )
                )
        await worker.run_until_idle()
    assert [s for s, _, _ in await doctor_jobs(desk)] == ["dead", "dead", "dead"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"channel_id": 1, "page_id": "1", "page_name": "x", "previous": "active"},
        {
            "channel_id": 1,
            "page_id": "1",
            "page_name": "x",
            "previous": "active",
            "status": "restricted",
            "reason": None,
            "report": {"channel_id": 1, "findings": [{"check": "nonsense"}]},
        },
    ],
)
async def test_a_notice_that_is_not_one_goes_to_the_dead_letters(
    desk: Desk, payload: dict[str, Any]
) -> None:
    told = Told()
    async with checkup_of(desk, told) as run:
        async with desk.engine.begin() as conn:
            await conn.execute(
                jobs.insert().values(
                    kind=NOTICE,
                    key=None,
                    payload=payload,
                    state="ready",
                    attempts=0,
                    run_at=0.0,
                    created_at=0.0,
                )
            )
        await worker_of(desk, run).run_until_idle()
    assert told.alerts == []
    async with desk.engine.connect() as conn:
        states = (await conn.execute(select(jobs.c.state).where(jobs.c.kind == NOTICE))).all()
    assert [s for (s,) in states] == ["dead"]
