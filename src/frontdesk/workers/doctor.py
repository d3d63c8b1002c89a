"""The connection doctor: every check of a channel's link to Messenger, ✓/✗/unknown, with the fix.

A check looks at what Meta says (debug_token, the Page, the two webhook subscriptions, through
`messenger.GraphClient`) and at what Frontdesk saw (`evidence`: events received, replies that
failed). Each failure names its fix in words a Page owner understands. A check that cannot decide
(Meta did not answer, or answered something unreadable) says "unknown" and why: it never guesses.

One fault, one ✗: a check whose failure follows from an earlier failing check (no events because
the Page is unpublished) reports "unknown" and points at that check, so a report names a cause
once. `Doctor.examine` calls Meta (all questions at once) and touches no database, so callers
read the evidence first and hold no transaction while Meta answers.
"""

from __future__ import annotations

import asyncio
import enum
import re
import textwrap
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from frontdesk.messenger import (
    AppSubscription,
    BadRequest,
    GraphClient,
    GraphError,
    PermissionProblem,
    RetryLater,
    SubscribedApp,
    TokenBroken,
    TokenInfo,
    UserUnreachable,
    app_token,
    classify,
)
from frontdesk.store import outbox
from frontdesk.store.meta_apps import MetaApp

from . import sending
from .evidence import RECENT, STUCK_TRIES, Facts

T = TypeVar("T")

REQUIRED_FIELDS = (
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "messaging_referrals",
    "messaging_optins",
    "message_edits",
    "standby",
    "messaging_handovers",
)
"""Webhook fields Frontdesk needs at both the app and the Page level (digest §4: events flow only
for fields subscribed at both)."""
REQUIRED_PERMISSIONS = {
    "pages_messaging": "without it Frontdesk can neither receive nor send messages",
    "pages_manage_metadata": "without it Frontdesk cannot subscribe to the Page's messages",
    "pages_show_list": "without it Frontdesk cannot find the Page when it is reconnected",
}
"""Digest §8.11, what Frontdesk uses today."""
EXPIRY_WARNING = 7 * 86400.0
"""A token (or its data access) ending sooner than this fails the check: time to reconnect."""
STANDBY_GRACE = 3600.0
"""Customers heard only on standby for this long: another app has the Page's conversations (a
person answering a while in Meta's Page Inbox is shorter)."""
MAX_QUOTE = 200
"""Meta's own words are quoted at most this long (they come from outside)."""


class Verdict(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "unknown": "?"}[self.value]


class Check(enum.StrEnum):
    """The checks, in the order a cause comes before its consequences."""

    TOKEN = "token"  # noqa: S105 - the check's name, not a secret
    ROLE = "role"
    PERMISSIONS = "permissions"
    PAGE = "page"
    APP_WEBHOOK = "app_webhook"
    SUBSCRIPTION = "subscription"
    LIVE_MODE = "live_mode"
    MESSAGING = "messaging"
    SEND_ERRORS = "send_errors"


TITLES = {
    Check.TOKEN: "Page token",
    Check.ROLE: "Role on the Page",
    Check.PERMISSIONS: "Permissions",
    Check.PAGE: "Page published and not restricted",
    Check.APP_WEBHOOK: "App webhook",
    Check.SUBSCRIPTION: "Page subscription",
    Check.LIVE_MODE: "App in live mode",
    Check.MESSAGING: "Messages arriving",
    Check.SEND_ERRORS: "Recent send errors",
}
CAUSES = {
    Check.MESSAGING: (
        Check.TOKEN,
        Check.ROLE,
        Check.PERMISSIONS,
        Check.PAGE,
        Check.APP_WEBHOOK,
        Check.SUBSCRIPTION,
    ),
    Check.SEND_ERRORS: (Check.TOKEN, Check.ROLE, Check.PERMISSIONS, Check.PAGE, Check.LIVE_MODE),
}
"""A ✗ of these checks explains a ✗ of the key: the key then says "unknown" and points there."""

NEEDS_TOKEN = "Needs a Page token that Meta accepts (see “Page token”)."  # noqa: S105 - words
RECONNECT = "Reconnect the Page in Frontdesk: log in to Facebook and allow everything it asks."
_APP_KEYS = (
    "Copy the app id and secret from the Meta app dashboard (App settings → Basic) into the "
    "workspace's Meta app settings, or for the operator's app into FRONTDESK_META_APP_ID and "
    "FRONTDESK_META_APP_SECRET (then restart Frontdesk)."
)


@dataclass(frozen=True)
class Finding:
    check: Check
    verdict: Verdict
    detail: str
    """What was found, in plain words (for "unknown": why it could not be checked)."""
    fix: str | None = None
    """For ✗: what to do about it."""

    @property
    def title(self) -> str:
        return TITLES[self.check]

    def view(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "title": self.title,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    channel_id: int
    page_id: str
    page_name: str
    checked_at: float
    findings: tuple[Finding, ...]

    def finding(self, check: Check) -> Finding:
        return next(f for f in self.findings if f.check is check)

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict is Verdict.FAIL)

    @property
    def unknown(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict is Verdict.UNKNOWN)

    @property
    def ok(self) -> bool:
        """Nothing failed (some checks may still be unknown)."""
        return not self.failed

    def text(self, width: int = 88) -> str:
        """The report as a person reads it in a terminal: a mark and a title per check, what
        was found under it, and the fix under a ✗."""
        problems = len(self.failed)
        summary = {0: "no problem found", 1: "1 problem"}.get(problems, f"{problems} problems")
        lines = [f"{self.page_name} (Page {self.page_id}): {summary}"]
        for finding in self.findings:
            lines.append(f"  {finding.verdict.mark} {finding.title}")
            body = finding.detail
            if finding.verdict is Verdict.UNKNOWN:
                body = "Could not check. " + body
            lines += textwrap.wrap(body, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
            if finding.fix:
                lines += textwrap.wrap(
                    "Fix: " + finding.fix,
                    width,
                    initial_indent=" " * 6,
                    subsequent_indent=" " * 11,
                )
        return "\n".join(lines)

    def view(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "page_id": self.page_id,
            "page_name": self.page_name,
            "checked_at": self.checked_at,
            "ok": self.ok,
            "findings": [f.view() for f in self.findings],
        }


# --- asking Meta -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unanswered:
    """A Graph call that gave nothing usable: why, and Meta's error when there was one."""

    why: str
    error: GraphError | None = None


@dataclass(frozen=True)
class Setup:
    """The doctor's settings: the operator's Meta app, and where webhooks must point."""

    operator: MetaApp = field(repr=False)
    """The app of channels whose workspace has none of its own (FRONTDESK_META_*)."""
    callback_url: str
    """`FRONTDESK_PUBLIC_URL` + /webhooks/messenger."""
    quiet_hours: float = 24.0
    """No event for this long, after earlier events, fails "Messages arriving"."""
    timeout: float = 10.0
    """Seconds each call to Meta may take; slower counts as no answer."""


@dataclass(frozen=True)
class _Answers:
    token: TokenInfo | Unanswered
    page: dict[str, Any] | Unanswered
    tasks: dict[str, Any] | Unanswered
    app_subscriptions: list[AppSubscription] | Unanswered
    page_subscriptions: list[SubscribedApp] | Unanswered


async def _given(answer: Unanswered) -> Unanswered:
    return answer


class Doctor:
    """Examines channels against Meta: `examine(facts, now)` → a Report; no database use.

    Each channel is examined through the Meta app it is connected with (its workspace's own,
    or the operator's), over the injected `http` client.
    """

    def __init__(self, http: httpx.AsyncClient, setup: Setup) -> None:
        self.http = http
        self.setup = setup

    async def _ask(self, call: Awaitable[T]) -> T | Unanswered:
        try:
            async with asyncio.timeout(self.setup.timeout):
                return await call
        except TimeoutError:
            return Unanswered(f"Meta did not answer within {self.setup.timeout:g} s.")
        except RetryLater as err:  # TransportError too: nothing usable came back
            if err.code is None:
                why = "Meta could not be reached, or its answer was unreadable"
                return Unanswered(_sentence(f"{why}: {_quote(err)}"), err)
            return Unanswered(
                _sentence(f"Meta answered with a temporary error: {_quote(err)}"), err
            )
        except GraphError as err:
            return Unanswered(_sentence(f"Meta refused the question: {_quote(err)}"), err)

    async def _answers(self, app: MetaApp, facts: Facts) -> _Answers:
        page_id, token = facts.page_id, facts.page_token
        try:
            graph = GraphClient(self.http, app.graph_url, app.graph_version)
        except ValueError as err:  # a malformed Graph version stored for the app
            nothing = Unanswered(f"The Meta app's Graph settings are unusable: {err}.")
            return _Answers(nothing, nothing, nothing, nothing, nothing)
        no_app = Unanswered("No Meta app id and secret are configured.")
        no_token = Unanswered("There is no usable Page token to ask with.")
        app_key = app_token(app.app_id, app.app_secret)
        results = await asyncio.gather(
            self._ask(graph.debug_token(token, app_key))
            if token and app.is_complete
            else _given(no_token if app.is_complete else no_app),
            self._ask(graph.page(page_id, token, ("id", "is_published")))
            if token
            else _given(no_token),
            # Whether the Page node offers `tasks` to a Page token is unconfirmed (the digest
            # shows tasks on me/accounts): asked apart, so a refusal costs only this answer.
            self._ask(graph.page(page_id, token, ("id", "tasks"))) if token else _given(no_token),
            self._ask(graph.app_subscriptions(app.app_id, app_key))
            if app.is_complete
            else _given(no_app),
            self._ask(graph.subscribed_apps(page_id, token)) if token else _given(no_token),
        )
        return _Answers(*results)

    async def examine(self, facts: Facts, now: float) -> Report:
        app = facts.app or self.setup.operator
        exam = _Exam(self.setup, app, facts, await self._answers(app, facts), now)
        raw = [
            exam.token(),
            exam.role(),
            exam.permissions(),
            exam.page(),
            exam.app_webhook(),
            exam.subscription(),
            exam.live_mode(),
            exam.messaging(),
            exam.send_errors(),
        ]
        return Report(facts.channel_id, facts.page_id, facts.name, now, _attribute(raw))


def _attribute(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """A ✗ that an earlier ✗ explains becomes "unknown", pointing at the cause."""
    final: dict[Check, Finding] = {}
    for finding in findings:
        causes = [final[c] for c in CAUSES.get(finding.check, ()) if c in final]
        cause = next((c for c in causes if c.verdict is Verdict.FAIL), None)
        if finding.verdict is Verdict.FAIL and cause is not None:
            finding = Finding(
                finding.check,
                Verdict.UNKNOWN,
                f"{finding.detail} This follows from “{cause.title}” above; it is checked "
                "again once that is fixed.",
            )
        final[finding.check] = finding
    return tuple(final.values())


# --- the checks ------------------------------------------------------------------------------

_TOKEN_REASONS = {
    458: (
        "the Frontdesk app was removed from the Page, or by the person who connected it",
        RECONNECT,
    ),
    459: (
        "Facebook wants the person who connected the Page to log in on facebook.com",
        "That person should log in on facebook.com and follow Facebook's steps; then "
        + RECONNECT[0].lower()
        + RECONNECT[1:],
    ),
    460: ("the password of the person who connected the Page was changed", RECONNECT),
    463: ("it expired", RECONNECT),
    464: (
        "the Facebook account of the person who connected the Page is not confirmed",
        "That person should confirm their Facebook account; then reconnect the Page.",
    ),
    467: ("the person who connected the Page logged out of Facebook everywhere", RECONNECT),
    2069032: ("permissions the Page needs were taken away", RECONNECT),
}
_TOKEN_REASONS[490] = _TOKEN_REASONS[459]


def _codes(code: int | None, subcode: int | None) -> str:
    return f"{code}/{subcode}" if subcode is not None else f"{code}"


def _quote(err: GraphError) -> str:
    text = str(err)
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    def count(n: int, unit: str) -> str:
        return f"{n} {unit}" if n == 1 else f"{n} {unit}s"

    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return count(round(seconds / 60), "minute")
    if seconds < 48 * 3600:
        return count(round(seconds / 3600), "hour")
    return count(round(seconds / 86400), "day")


def _error_codes(reason: str | None) -> tuple[int, int | None] | None:
    """The Graph code/subcode a stored failure reason carries, e.g. "(200/2018028)"."""
    found = re.search(r"\((\d{1,9})(?:/(\d{1,9}|-))?\)", reason or "")
    if found is None:
        return None
    sub = found.group(2)
    return int(found.group(1)), int(sub) if sub and sub != "-" else None


def _kind_of(reason: str | None) -> str:
    """Sort a failed reply by what Meta answered (by code, as `messenger.classify` does)."""
    if reason == sending.WINDOW_CLOSED:
        return "window"
    codes = _error_codes(reason)
    if codes is None:
        # The send job's own words for "Meta kept saying try later" without a Graph error
        # (the connection itself failed each time).
        return "retry" if reason and 'kept answering "try again later"' in reason else "other"
    code, subcode = codes
    error = classify(400, {"error": {"code": code, "error_subcode": subcode}})
    if isinstance(error, PermissionProblem):
        if error.dev_mode:
            return "dev_mode"
        if error.page_restricted:
            return "restricted"
        if error.thread_owned_elsewhere:
            return "thread"
        return "permission"
    if isinstance(error, UserUnreachable):
        return "person"
    if isinstance(error, RetryLater):
        return "retry"
    if isinstance(error, BadRequest):
        return "content"
    if isinstance(error, TokenBroken):
        return "token"
    return "other"


EXPLAINED = {
    "window": "outside the 24-hour window (the customer must write first)",
    "person": "the customer can't be reached (blocked the Page or left Messenger)",
    "thread": "another app or a person in Meta's Page Inbox had the conversation",
    # Reported by their own checks; counted here only so that no failure goes unmentioned.
    "restricted": "Meta restricted the Page (see “Page published and not restricted”)",
    "dev_mode": "the Meta app is in development mode (see “App in live mode”)",
}
UNEXPLAINED = {
    "retry": (
        'Messenger kept answering "try again later" (Meta was having trouble, or the Page '
        "sent faster than Meta allows)",
        "Nothing to change if it stops by itself; if it goes on for hours, check Meta's status "
        "page (metastatus.com) and, if Meta is fine, contact whoever runs Frontdesk.",
    ),
    "permission": (
        "Meta refused for lack of a permission",
        "Run the doctor again after reconnecting the Page; if replies still fail, check in the "
        "Meta app dashboard that pages_messaging has Advanced Access.",
    ),
    "content": (
        "Meta refused what the reply contained",
        "Look at the failed replies in the inbox; if it keeps happening, contact whoever runs "
        "Frontdesk.",
    ),
    "token": ("Meta refused the Page token", RECONNECT),
    "other": (
        "of another problem",
        "Look at the failed replies in the inbox: each says why it did not go out.",
    ),
}


@dataclass(frozen=True)
class _Exam:
    setup: Setup
    app: MetaApp
    facts: Facts
    answers: _Answers
    now: float

    def _pass(self, check: Check, detail: str) -> Finding:
        return Finding(check, Verdict.PASS, detail)

    def _fail(self, check: Check, detail: str, fix: str) -> Finding:
        return Finding(check, Verdict.FAIL, detail, fix)

    def _unknown(self, check: Check, why: str) -> Finding:
        return Finding(check, Verdict.UNKNOWN, why)

    @property
    def callback_url(self) -> str:
        """Where the app's webhook must point: this Frontdesk's, or a manually connected
        channel's own URL."""
        key = self.facts.webhook_key
        return self.setup.callback_url if key is None else f"{self.setup.callback_url}/{key}"

    @property
    def app_refused(self) -> bool:
        """Meta refused Frontdesk's own app token (wrong app id or secret)."""
        subs = self.answers.app_subscriptions
        return isinstance(subs, Unanswered) and isinstance(subs.error, TokenBroken)

    @property
    def valid_token(self) -> TokenInfo | None:
        info = self.answers.token
        if isinstance(info, TokenInfo) and info.is_valid and info.app_id == self.app.app_id:
            return info
        return None

    def token(self) -> Finding:
        check, facts, info = Check.TOKEN, self.facts, self.answers.token
        if facts.token_problem is not None:
            fix = RECONNECT
            if facts.page_token is None and "secret key" in facts.token_problem:
                fix += " Or configure the old key again in FRONTDESK_SECRET_KEY."
            return self._fail(check, facts.token_problem, fix)
        if isinstance(info, Unanswered):
            if isinstance(info.error, TokenBroken):
                if self.app_refused:
                    return self._unknown(
                        check, "Meta refused the Meta app's id and secret (see “App webhook”)."
                    )
                return self._fail(
                    check,
                    "Meta does not recognise the stored Page token "
                    f"({_codes(info.error.code, info.error.subcode)}).",
                    RECONNECT,
                )
            return self._unknown(check, info.why)
        if info.app_id is None or info.type is None:
            return self._unknown(check, "Meta's answer about the token lacks its app and type.")
        if not info.is_valid:
            if info.error_code is None:
                return self._unknown(
                    check, "Meta's answer says the token is not valid but gives no reason."
                )
            if info.error_subcode == 492:
                return self._unknown(
                    check,
                    "Meta stopped accepting the token because the person who connected the "
                    "Page lost their role on it (see “Role on the Page”).",
                )
            why, fix = _TOKEN_REASONS.get(
                info.error_subcode or 0, ("Meta no longer accepts it", RECONNECT)
            )
            codes = _codes(info.error_code, info.error_subcode)
            return self._fail(check, f"The Page token stopped working: {why} ({codes}).", fix)
        if info.app_id != self.app.app_id:
            return self._fail(
                check,
                f"The stored token belongs to another Meta app ({info.app_id}), not to "
                f"Frontdesk's ({self.app.app_id}).",
                RECONNECT,
            )
        if info.type != "PAGE":
            return self._fail(
                check, f"The stored token is a {info.type} token, not a Page token.", RECONNECT
            )
        if info.profile_id is not None and info.profile_id != facts.page_id:
            return self._fail(
                check, f"The stored token is for another Page ({info.profile_id}).", RECONNECT
            )
        if info.expires_at and info.expires_at - self.now < EXPIRY_WARNING:
            return self._fail(
                check,
                f"The Page token expires on {_date(info.expires_at)}.",
                RECONNECT + " Tokens from a reconnect do not expire.",
            )
        if info.data_access_expires_at and info.data_access_expires_at - self.now < EXPIRY_WARNING:
            return self._fail(
                check,
                f"Meta's data access for this Page ends on {_date(info.data_access_expires_at)}: "
                "after that Frontdesk can no longer act for it.",
                RECONNECT + " Logging in again renews the access for 90 days.",
            )
        if info.expires_at:
            return self._pass(check, f"Meta accepts the Page token until {_date(info.expires_at)}.")
        return self._pass(check, "Meta accepts the Page token, and it does not expire.")

    def role(self) -> Finding:
        check, info = Check.ROLE, self.answers.token
        lost = (
            "The person who connected the Page no longer has a role on it, so Meta stopped "
            "accepting the Page's token"
        )
        fix = (
            "Ask an admin of the Page to give that person access again (Page settings → Page "
            "access), or have someone with full control of the Page reconnect it in Frontdesk."
        )
        if isinstance(info, TokenInfo) and not info.is_valid and info.error_subcode == 492:
            return self._fail(check, f"{lost} ({_codes(info.error_code, 492)}).", fix)
        if self.valid_token is None:
            return self._unknown(check, NEEDS_TOKEN)
        tasks = self.answers.tasks
        fallback = self._pass(
            check,
            "Meta still accepts the Page token, which it stops doing when the person who "
            "connected the Page loses their role on it.",
        )
        if isinstance(tasks, Unanswered):
            error = tasks.error
            if isinstance(error, TokenBroken) and error.subcode == 492:
                return self._fail(check, f"{lost} (190/492).", fix)
            if isinstance(error, BadRequest) and error.code == 100:
                return fallback  # this Graph offers no `tasks` on the Page: the token tells
            return self._unknown(check, tasks.why)
        listed = tasks.get("tasks")
        if listed is None:
            return fallback
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            return self._unknown(check, "Meta's answer lists the person's tasks unreadably.")
        if not listed:
            return self._fail(check, f"{lost}.", fix)
        if "MESSAGING" not in listed:
            return self._fail(
                check,
                "The person who connected the Page can no longer manage its messages (their "
                f"tasks on the Page: {', '.join(listed)}).",
                "Give that person the Messages task again (Page settings → Page access), or "
                "reconnect the Page as someone who has it.",
            )
        return self._pass(
            check, "The person who connected the Page still has a role on it, with messaging."
        )

    def permissions(self) -> Finding:
        check, info = Check.PERMISSIONS, self.valid_token
        if info is None:
            return self._unknown(check, NEEDS_TOKEN)
        missing = [p for p in REQUIRED_PERMISSIONS if p not in info.scopes]
        if missing:
            why = "; ".join(f"{p}: {REQUIRED_PERMISSIONS[p]}" for p in missing)
            return self._fail(
                check,
                f"Meta no longer grants Frontdesk {', '.join(missing)} ({why}).",
                "Reconnect the Page in Frontdesk and, in Facebook's window, leave every "
                "permission Frontdesk asks for switched on.",
            )
        return self._pass(check, f"Granted: {', '.join(REQUIRED_PERMISSIONS)}.")

    def page(self) -> Finding:
        check, facts, page = Check.PAGE, self.facts, self.answers.page
        appeal = (
            "Read Meta's notice in the Page's Support Inbox on Facebook (Page settings → "
            "Support Inbox) and appeal there. Replies fail until Meta lifts the restriction."
        )
        notice = facts.policy
        if (
            notice is not None
            and notice.action == "block"
            and (facts.last_sent_at is None or facts.last_sent_at < notice.at)
        ):
            said = f": “{notice.reason[:MAX_QUOTE]}”" if notice.reason else ""
            return self._fail(
                check, f"Meta restricted the Page from sending messages{said}.", appeal
            )
        lifted = notice is not None and notice.action == "unblock"
        if (
            facts.status == outbox.RESTRICTED
            and facts.status_reason == sending.RESTRICTED_PAGE
            and not (lifted and notice is not None and notice.at > facts.status_changed_at)
        ):
            return self._fail(
                check,
                "Meta refused a reply because it restricted the Page from sending (10/1893063).",
                appeal,
            )
        if isinstance(page, Unanswered):
            if isinstance(page.error, TokenBroken):
                return self._unknown(check, NEEDS_TOKEN)
            return self._unknown(check, page.why)
        published = page.get("is_published")
        if not isinstance(published, bool):
            return self._unknown(check, "Meta's answer does not say whether the Page is published.")
        if not published:
            return self._fail(
                check,
                "The Page is unpublished: only its admins see it, and Messenger neither brings "
                "customers' messages nor delivers replies.",
                "Publish the Page again on Facebook (Page settings → Privacy → Page visibility "
                "→ Published).",
            )
        warned = ""
        if notice is not None and notice.action == "warning":
            warned = f" Meta warned it on {_date(notice.at)}"
            warned += f": “{notice.reason[:MAX_QUOTE]}”." if notice.reason else "."
        return self._pass(check, "The Page is published and not restricted." + warned)

    def app_webhook(self) -> Finding:
        check, subs = Check.APP_WEBHOOK, self.answers.app_subscriptions
        callback = self.callback_url
        fix = (
            "Reconnect a Page in Frontdesk, which sets the webhook; or in the Meta app dashboard "
            f"(Messenger → Settings → Webhooks) set the Callback URL to {callback} "
            "with Frontdesk's verify token, and subscribe every field listed in the guide."
        )
        if self.facts.webhook_key is not None:
            fix = (
                "In your Meta app's dashboard (Messenger → Settings → Webhooks) set the Callback "
                f"URL to {callback} with the verify token shown on the Page's manual setup in "
                "Frontdesk, and subscribe every field listed in the guide."
            )
        if not self.app.is_complete:
            return self._fail(
                check,
                "No Meta app id and secret are configured, so Frontdesk cannot talk to Meta.",
                _APP_KEYS,
            )
        if isinstance(subs, Unanswered):
            if isinstance(subs.error, TokenBroken):
                return self._fail(
                    check,
                    "Meta refused the Meta app's id and secret "
                    f"({_codes(subs.error.code, subs.error.subcode)}).",
                    _APP_KEYS,
                )
            return self._unknown(check, subs.why)
        if any(not s.object or s.callback_url is None for s in subs):
            return self._unknown(check, "Meta's answer lists a webhook without object or URL.")
        sub = next((s for s in subs if s.object == "page"), None)
        if sub is None:
            return self._fail(
                check,
                "The Meta app has no webhook for Pages, so Meta sends Frontdesk no messages.",
                fix,
            )
        if not sub.active:
            return self._fail(
                check,
                "The Meta app's webhook is not active: Meta has not verified it.",
                fix,
            )
        if (sub.callback_url or "").rstrip("/") != callback.rstrip("/"):
            return self._fail(
                check,
                f"The Meta app's webhook points at {sub.callback_url}, not at this Frontdesk "
                f"({callback}): Meta delivers the Page's messages elsewhere.",
                f"Set the Callback URL to {callback} (Meta app dashboard → Messenger "
                "→ Settings → Webhooks), or correct FRONTDESK_PUBLIC_URL if this Frontdesk "
                "moved.",
            )
        missing = [f for f in REQUIRED_FIELDS if f not in sub.fields]
        if missing:
            return self._fail(
                check,
                f"The Meta app's webhook leaves out {', '.join(missing)}: Meta sends none of "
                "those events.",
                fix,
            )
        return self._pass(check, f"Verified, pointing at {callback}, every field.")

    def subscription(self) -> Finding:
        check, apps = Check.SUBSCRIPTION, self.answers.page_subscriptions
        if isinstance(apps, Unanswered):
            if isinstance(apps.error, TokenBroken):
                return self._unknown(check, NEEDS_TOKEN)
            return self._unknown(check, apps.why)
        if any(not a.id for a in apps):
            return self._unknown(check, "Meta's answer lists an app without an id.")
        ours = next((a for a in apps if a.id == self.app.app_id), None)
        if ours is None:
            return self._fail(
                check,
                "The Frontdesk app is not subscribed to the Page, so Messenger sends it nothing "
                "from this Page. (Meta drops the subscription by itself after an hour of failed "
                "deliveries.)",
                "Reconnect the Page in Frontdesk: it subscribes again with every field.",
            )
        missing = [f for f in REQUIRED_FIELDS if f not in ours.subscribed_fields]
        if missing:
            return self._fail(
                check,
                f"The app is subscribed to the Page without {', '.join(missing)}: those "
                "events (a button tap is messaging_postbacks, for one) never reach Frontdesk.",
                "Reconnect the Page in Frontdesk: it subscribes again with every field.",
            )
        return self._pass(check, "Subscribed to the Page with every field Frontdesk needs.")

    def live_mode(self) -> Finding:
        check, facts = Check.LIVE_MODE, self.facts
        refused = [
            f
            for f in facts.failures
            if not f.queued
            and _kind_of(f.reason) == "dev_mode"
            and facts.sent_since.get(f.conversation_id, 0.0) <= f.at
        ]
        if refused:
            return self._fail(
                check,
                "Meta refused a reply because the Meta app is in development mode or lacks "
                "Advanced Access for pages_messaging (200/2018028): only people with a role on "
                "your app get replies.",
                "In the Meta app dashboard, get Advanced Access for pages_messaging (App Review) "
                "and switch the app to Live.",
            )
        # Meta's API does not tell an app's mode; a refused reply is how it shows.
        return self._pass(check, "No reply was refused because of development mode lately.")

    def messaging(self) -> Finding:
        check, facts = Check.MESSAGING, self.facts
        standby = facts.last_standby_at
        if standby is not None and standby - (facts.last_event_at or 0.0) >= STANDBY_GRACE:
            return self._fail(
                check,
                "For an hour or more, customers' messages have reached Frontdesk only on "
                "standby: another app, or Meta's Page Inbox, is handling the Page's "
                "conversations, so Frontdesk does not answer them.",
                "Unless someone answers in Meta's Page Inbox on purpose, set the Frontdesk app as "
                "the Page's default app for Messenger (on Facebook: the Page's settings → "
                "Advanced messaging → Conversation routing).",
            )
        if facts.last_event_at is None:
            return self._unknown(
                check,
                "Nothing has reached Frontdesk for this Page yet: send the Page a message to "
                "try it.",
            )
        silence = self.now - facts.last_event_at
        if silence >= self.setup.quiet_hours * 3600:
            return self._fail(
                check,
                f"Nothing has arrived from Messenger for this Page for {_span(silence)}, though "
                "it had conversations before.",
                "Check on Facebook that people can message the Page (the Page's Message button, "
                "and messaging switched on in its settings), then send the Page a message from "
                "a personal account. If it does not show in Frontdesk, reconnect the Page.",
            )
        return self._pass(check, f"The last event arrived {_span(silence)} ago.")

    def send_errors(self) -> Finding:
        check = Check.SEND_ERRORS
        counts: dict[str, int] = {}
        stuck = 0
        for failure in self.facts.failures:
            if failure.queued:
                stuck += 1
                continue
            kind = _kind_of(failure.reason)
            counts[kind] = counts.get(kind, 0) + 1
        bad = {k: n for k, n in counts.items() if k in UNEXPLAINED}
        if stuck or bad:
            parts = [f"{n} because {UNEXPLAINED[k][0]}" for k, n in bad.items()]
            if stuck:
                parts.append(
                    f'{stuck} still waiting while Messenger answers "try again later" '
                    f"({STUCK_TRIES} times or more)"
                )
            fixes = [UNEXPLAINED[k][1] for k in bad]
            if stuck and "retry" not in bad:
                fixes.append(UNEXPLAINED["retry"][1])
            return self._fail(
                check,
                f"Replies in the last {_span(RECENT)} that did not go out: {'; '.join(parts)}.",
                " ".join(dict.fromkeys(fixes)),
            )
        plain = {k: n for k, n in counts.items() if k in EXPLAINED}
        if plain:
            listed = "; ".join(f"{n} {EXPLAINED[k]}" for k, n in plain.items())
            return self._pass(
                check,
                f"Replies failed in the last {_span(RECENT)} only for reasons explained "
                f"elsewhere: {listed}.",
            )
        return self._pass(check, f"No reply failed in the last {_span(RECENT)}.")
