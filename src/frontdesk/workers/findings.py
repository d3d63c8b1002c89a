"""What the connection doctor reports: each check's verdict (✓ ✗ ?), what was found, the fix.

One fault, one ✗: a check whose failure follows from an earlier failing check (no events because
the Page is unpublished) reports "unknown" and points at that check (`attribute`), so a report
names a cause once.
"""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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

    @classmethod
    def from_view(cls, view: Any) -> Report:
        """The report `view()` gave (as a job carries it); ValueError for anything else."""
        if not isinstance(view, dict) or not isinstance(view.get("findings"), list):
            raise ValueError("a report is an object with its findings")
        channel_id, checked_at = view.get("channel_id"), view.get("checked_at")
        if not isinstance(channel_id, int) or isinstance(channel_id, bool):
            raise ValueError("a report names its channel by id")
        if not isinstance(checked_at, int | float) or isinstance(checked_at, bool):
            raise ValueError("a report says when it was made")
        page_id, page_name = view.get("page_id"), view.get("page_name")
        if not isinstance(page_id, str) or not isinstance(page_name, str):
            raise ValueError("a report names its Page")
        findings = []
        for item in view["findings"]:
            if not isinstance(item, dict):
                raise ValueError("a finding is an object")
            detail, fix = item.get("detail"), item.get("fix")
            if not isinstance(detail, str) or not isinstance(fix, str | None):
                raise ValueError("a finding's detail and fix are text")
            check, verdict = item.get("check"), item.get("verdict")
            if not isinstance(check, str) or not isinstance(verdict, str):
                raise ValueError("a finding names its check and verdict")
            findings.append(Finding(Check(check), Verdict(verdict), detail, fix))
        return cls(channel_id, page_id, page_name, float(checked_at), tuple(findings))

    def view(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "page_id": self.page_id,
            "page_name": self.page_name,
            "checked_at": self.checked_at,
            "ok": self.ok,
            "findings": [f.view() for f in self.findings],
        }


def attribute(findings: Sequence[Finding]) -> tuple[Finding, ...]:
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
