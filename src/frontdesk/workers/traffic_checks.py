"""The doctor's checks of what a Page's messages show: whether the app is live, whether
Messenger's events still arrive, and which replies lately did not go out, and why.

Failed replies are sorted by the failure code stored with each (`core.models.FailureCode`, set by
the send job from Meta's typed error), never by the reason's words. A failure stored before codes
were kept has none, and counts as "another problem".
"""

from __future__ import annotations

from frontdesk.core.models import FailureCode

from .evidence import RECENT, STUCK_TRIES
from .examination import RECONNECT, Examination, span
from .findings import Check, Finding

STANDBY_GRACE = 3600.0
"""Customers heard only on standby for this long: another app has the Page's conversations (a
person answering a while in Meta's Page Inbox is shorter)."""

DEV_MODE = "dev_mode"
RETRY = "retry"
OTHER = "other"
KINDS = {
    FailureCode.WINDOW_CLOSED: "window",
    FailureCode.USER_UNREACHABLE: "person",
    FailureCode.THREAD_ELSEWHERE: "thread",
    FailureCode.PAGE_RESTRICTED: "restricted",
    FailureCode.DEV_MODE: DEV_MODE,
    FailureCode.TRY_LATER: RETRY,
    FailureCode.PERMISSION: "permission",
    FailureCode.BAD_REQUEST: "content",
    FailureCode.TOKEN_BROKEN: "token",
}
"""How the send errors check groups failed replies; any other code (or none) is "other"."""
EXPLAINED = {
    "window": "outside the 24-hour window (the customer must write first)",
    "person": "the customer can't be reached (blocked the Page or left Messenger)",
    "thread": "another app or a person in Meta's Page Inbox had the conversation",
    # Reported by their own checks; counted here only so that no failure goes unmentioned.
    "restricted": "Meta restricted the Page (see “Page published and not restricted”)",
    DEV_MODE: "the Meta app is in development mode (see “App in live mode”)",
}
UNEXPLAINED = {
    RETRY: (
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
    OTHER: (
        "of another problem",
        "Look at the failed replies in the inbox: each says why it did not go out.",
    ),
}


def kind_of(code: FailureCode | None) -> str:
    """The group a failed reply's code falls in (None: failed before codes were kept)."""
    return OTHER if code is None else KINDS.get(code, OTHER)


def live_mode(exam: Examination) -> Finding:
    check, facts = Check.LIVE_MODE, exam.facts
    refused = [
        f
        for f in facts.failures
        if not f.queued and kind_of(f.code) == DEV_MODE and f.message_id not in facts.overcome
    ]
    if refused:
        return exam.failed(
            check,
            "Meta refused a reply because the Meta app is in development mode or lacks "
            "Advanced Access for pages_messaging (200/2018028): only people with a role on "
            "your app get replies.",
            "In the Meta app dashboard, get Advanced Access for pages_messaging (App Review) "
            "and switch the app to Live.",
        )
    # Meta's API does not tell an app's mode; a refused reply is how it shows.
    return exam.passed(check, "No reply was refused because of development mode lately.")


def messaging(exam: Examination) -> Finding:
    check, facts = Check.MESSAGING, exam.facts
    standby = facts.last_standby_at
    if standby is not None and standby - (facts.last_event_at or 0.0) >= STANDBY_GRACE:
        return exam.failed(
            check,
            "For an hour or more, customers' messages have reached Frontdesk only on "
            "standby: another app, or Meta's Page Inbox, is handling the Page's "
            "conversations, so Frontdesk does not answer them.",
            "Unless someone answers in Meta's Page Inbox on purpose, set the Frontdesk app as "
            "the Page's default app for Messenger (on Facebook: the Page's settings → "
            "Advanced messaging → Conversation routing).",
        )
    if facts.last_event_at is None:
        return exam.unknown(
            check,
            "Nothing has reached Frontdesk for this Page yet: send the Page a message to try it.",
        )
    silence = exam.now - facts.last_event_at
    if silence >= exam.setup.quiet_hours * 3600:
        return exam.failed(
            check,
            f"Nothing has arrived from Messenger for this Page for {span(silence)}, though "
            "it had conversations before.",
            "Check on Facebook that people can message the Page (the Page's Message button, "
            "and messaging switched on in its settings), then send the Page a message from "
            "a personal account. If it does not show in Frontdesk, reconnect the Page.",
        )
    return exam.passed(check, f"The last event arrived {span(silence)} ago.")


def send_errors(exam: Examination) -> Finding:
    check = Check.SEND_ERRORS
    counts: dict[str, int] = {}
    stuck = 0
    for failure in exam.facts.failures:
        if failure.queued:
            stuck += 1
            continue
        kind = kind_of(failure.code)
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
        if stuck and RETRY not in bad:
            fixes.append(UNEXPLAINED[RETRY][1])
        return exam.failed(
            check,
            f"Replies in the last {span(RECENT)} that did not go out: {'; '.join(parts)}.",
            " ".join(dict.fromkeys(fixes)),
        )
    plain = {k: n for k, n in counts.items() if k in EXPLAINED}
    if plain:
        listed = "; ".join(f"{n} {EXPLAINED[k]}" for k, n in plain.items())
        return exam.passed(
            check,
            f"Replies failed in the last {span(RECENT)} only for reasons explained "
            f"elsewhere: {listed}.",
        )
    return exam.passed(check, f"No reply failed in the last {span(RECENT)}.")
