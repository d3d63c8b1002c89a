"""The doctor's checks of a Page's setup on Meta: its token, the role of the person who connected
it, the permissions, the Page itself, the app's webhook and the Page's subscription.

Each takes the `Examination` and returns one Finding; a failure names its fix in words a Page
owner understands, and a check that cannot decide says "unknown" and why: it never guesses.
"""

from __future__ import annotations

from frontdesk.messenger import BadRequest, TokenBroken, TokenInfo
from frontdesk.store import outbox

from . import sending
from .examination import (
    MAX_QUOTE,
    NEEDS_TOKEN,
    RECONNECT,
    REQUIRED_FIELDS,
    REQUIRED_PERMISSIONS,
    Examination,
    Unanswered,
    codes_of,
    day_and_time,
)
from .findings import Check, Finding

EXPIRY_WARNING = 7 * 86400.0
"""A token (or its data access) ending sooner than this fails the check: time to reconnect."""
APP_KEYS = (
    "Copy the app id and secret from the Meta app dashboard (App settings → Basic) into the "
    "workspace's Meta app settings, or for the operator's app into FRONTDESK_META_APP_ID and "
    "FRONTDESK_META_APP_SECRET (then restart Frontdesk)."
)

TOKEN_REASONS = {
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
TOKEN_REASONS[490] = TOKEN_REASONS[459]
"""Why Meta stopped accepting a token, by its subcode, and what to do about it."""


def token(exam: Examination) -> Finding:
    check, facts, info = Check.TOKEN, exam.facts, exam.answers.token
    if facts.token_problem is not None:
        fix = RECONNECT
        if facts.page_token is None and "secret key" in facts.token_problem:
            fix += " Or configure the old key again in FRONTDESK_SECRET_KEY."
        return exam.failed(check, facts.token_problem, fix)
    if isinstance(info, Unanswered):
        if isinstance(info.error, TokenBroken):
            if exam.app_refused:
                return exam.unknown(
                    check, "Meta refused the Meta app's id and secret (see “App webhook”)."
                )
            return exam.failed(
                check,
                "Meta does not recognise the stored Page token "
                f"({codes_of(info.error.code, info.error.subcode)}).",
                RECONNECT,
            )
        return exam.unknown(check, info.why)
    if info.app_id is None or info.type is None:
        return exam.unknown(check, "Meta's answer about the token lacks its app and type.")
    if not info.is_valid:
        if info.error_code is None:
            return exam.unknown(
                check, "Meta's answer says the token is not valid but gives no reason."
            )
        if info.error_subcode == 492:
            return exam.unknown(
                check,
                "Meta stopped accepting the token because the person who connected the "
                "Page lost their role on it (see “Role on the Page”).",
            )
        why, fix = TOKEN_REASONS.get(
            info.error_subcode or 0, ("Meta no longer accepts it", RECONNECT)
        )
        codes = codes_of(info.error_code, info.error_subcode)
        return exam.failed(check, f"The Page token stopped working: {why} ({codes}).", fix)
    if info.app_id != exam.app.app_id:
        return exam.failed(
            check,
            f"The stored token belongs to another Meta app ({info.app_id}), not to "
            f"Frontdesk's ({exam.app.app_id}).",
            RECONNECT,
        )
    if info.type != "PAGE":
        return exam.failed(
            check, f"The stored token is a {info.type} token, not a Page token.", RECONNECT
        )
    if info.profile_id is not None and info.profile_id != facts.page_id:
        return exam.failed(
            check, f"The stored token is for another Page ({info.profile_id}).", RECONNECT
        )
    if info.expires_at and info.expires_at - exam.now < EXPIRY_WARNING:
        return exam.failed(
            check,
            f"The Page token expires on {day_and_time(info.expires_at)}.",
            RECONNECT + " Tokens from a reconnect do not expire.",
        )
    if info.data_access_expires_at and info.data_access_expires_at - exam.now < EXPIRY_WARNING:
        return exam.failed(
            check,
            "Meta's data access for this Page ends on "
            f"{day_and_time(info.data_access_expires_at)}: after that Frontdesk can no longer "
            "act for it.",
            RECONNECT + " Logging in again renews the access for 90 days.",
        )
    if info.expires_at:
        return exam.passed(
            check, f"Meta accepts the Page token until {day_and_time(info.expires_at)}."
        )
    return exam.passed(check, "Meta accepts the Page token, and it does not expire.")


def role(exam: Examination) -> Finding:
    check, info = Check.ROLE, exam.answers.token
    lost = (
        "The person who connected the Page no longer has a role on it, so Meta stopped "
        "accepting the Page's token"
    )
    fix = (
        "Ask an admin of the Page to give that person access again (Page settings → Page "
        "access), or have someone with full control of the Page reconnect it in Frontdesk."
    )
    if isinstance(info, TokenInfo) and not info.is_valid and info.error_subcode == 492:
        return exam.failed(check, f"{lost} ({codes_of(info.error_code, 492)}).", fix)
    if exam.valid_token is None:
        return exam.unknown(check, NEEDS_TOKEN)
    tasks = exam.answers.tasks
    fallback = exam.passed(
        check,
        "Meta still accepts the Page token, which it stops doing when the person who "
        "connected the Page loses their role on it.",
    )
    if isinstance(tasks, Unanswered):
        error = tasks.error
        if isinstance(error, TokenBroken) and error.subcode == 492:
            return exam.failed(check, f"{lost} (190/492).", fix)
        if isinstance(error, BadRequest) and error.code == 100:
            return fallback  # this Graph offers no `tasks` on the Page: the token tells
        return exam.unknown(check, tasks.why)
    listed = tasks.get("tasks")
    if listed is None:
        return fallback
    if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
        return exam.unknown(check, "Meta's answer lists the person's tasks unreadably.")
    if not listed:
        return exam.failed(check, f"{lost}.", fix)
    if "MESSAGING" not in listed:
        return exam.failed(
            check,
            "The person who connected the Page can no longer manage its messages (their "
            f"tasks on the Page: {', '.join(listed)}).",
            "Give that person the Messages task again (Page settings → Page access), or "
            "reconnect the Page as someone who has it.",
        )
    return exam.passed(
        check, "The person who connected the Page still has a role on it, with messaging."
    )


def permissions(exam: Examination) -> Finding:
    check, info = Check.PERMISSIONS, exam.valid_token
    if info is None:
        return exam.unknown(check, NEEDS_TOKEN)
    missing = [p for p in REQUIRED_PERMISSIONS if p not in info.scopes]
    if missing:
        why = "; ".join(f"{p}: {REQUIRED_PERMISSIONS[p]}" for p in missing)
        return exam.failed(
            check,
            f"Meta no longer grants Frontdesk {', '.join(missing)} ({why}).",
            "Reconnect the Page in Frontdesk and, in Facebook's window, leave every "
            "permission Frontdesk asks for switched on.",
        )
    return exam.passed(check, f"Granted: {', '.join(REQUIRED_PERMISSIONS)}.")


def page(exam: Examination) -> Finding:
    check, facts, page = Check.PAGE, exam.facts, exam.answers.page
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
        return exam.failed(check, f"Meta restricted the Page from sending messages{said}.", appeal)
    lifted = notice is not None and notice.action == "unblock"
    if (
        facts.status == outbox.RESTRICTED
        and facts.status_reason == sending.RESTRICTED_PAGE
        and not (lifted and notice is not None and notice.at > facts.status_changed_at)
    ):
        return exam.failed(
            check,
            "Meta refused a reply because it restricted the Page from sending (10/1893063).",
            appeal,
        )
    if isinstance(page, Unanswered):
        if isinstance(page.error, TokenBroken):
            return exam.unknown(check, NEEDS_TOKEN)
        return exam.unknown(check, page.why)
    published = page.get("is_published")
    if not isinstance(published, bool):
        return exam.unknown(check, "Meta's answer does not say whether the Page is published.")
    if not published:
        return exam.failed(
            check,
            "The Page is unpublished: only its admins see it, and Messenger neither brings "
            "customers' messages nor delivers replies.",
            "Publish the Page again on Facebook (Page settings → Privacy → Page visibility "
            "→ Published).",
        )
    warned = ""
    if notice is not None and notice.action == "warning":
        warned = f" Meta warned it on {day_and_time(notice.at)}"
        warned += f": “{notice.reason[:MAX_QUOTE]}”." if notice.reason else "."
    return exam.passed(check, "The Page is published and not restricted." + warned)


def app_webhook(exam: Examination) -> Finding:
    check, subs = Check.APP_WEBHOOK, exam.answers.app_subscriptions
    callback = exam.callback_url
    fix = (
        "Reconnect a Page in Frontdesk, which sets the webhook; or in the Meta app dashboard "
        f"(Messenger → Settings → Webhooks) set the Callback URL to {callback} "
        "with Frontdesk's verify token, and subscribe every field listed in the guide."
    )
    if exam.facts.webhook_key is not None:
        fix = (
            "In your Meta app's dashboard (Messenger → Settings → Webhooks) set the Callback "
            f"URL to {callback} with the verify token shown on the Page's manual setup in "
            "Frontdesk, and subscribe every field listed in the guide."
        )
    if not exam.app.is_complete:
        return exam.failed(
            check,
            "No Meta app id and secret are configured, so Frontdesk cannot talk to Meta.",
            APP_KEYS,
        )
    if isinstance(subs, Unanswered):
        if isinstance(subs.error, TokenBroken):
            return exam.failed(
                check,
                "Meta refused the Meta app's id and secret "
                f"({codes_of(subs.error.code, subs.error.subcode)}).",
                APP_KEYS,
            )
        return exam.unknown(check, subs.why)
    if any(not s.object or s.callback_url is None for s in subs):
        return exam.unknown(check, "Meta's answer lists a webhook without object or URL.")
    sub = next((s for s in subs if s.object == "page"), None)
    if sub is None:
        return exam.failed(
            check,
            "The Meta app has no webhook for Pages, so Meta sends Frontdesk no messages.",
            fix,
        )
    if not sub.active:
        return exam.failed(
            check,
            "The Meta app's webhook is not active: Meta has not verified it.",
            fix,
        )
    if (sub.callback_url or "").rstrip("/") != callback.rstrip("/"):
        return exam.failed(
            check,
            f"The Meta app's webhook points at {sub.callback_url}, not at this Frontdesk "
            f"({callback}): Meta delivers the Page's messages elsewhere.",
            f"Set the Callback URL to {callback} (Meta app dashboard → Messenger "
            "→ Settings → Webhooks), or correct FRONTDESK_PUBLIC_URL if this Frontdesk "
            "moved.",
        )
    missing = [f for f in REQUIRED_FIELDS if f not in sub.fields]
    if missing:
        return exam.failed(
            check,
            f"The Meta app's webhook leaves out {', '.join(missing)}: Meta sends none of "
            "those events.",
            fix,
        )
    return exam.passed(check, f"Verified, pointing at {callback}, every field.")


def subscription(exam: Examination) -> Finding:
    check, apps = Check.SUBSCRIPTION, exam.answers.page_subscriptions
    if isinstance(apps, Unanswered):
        if isinstance(apps.error, TokenBroken):
            return exam.unknown(check, NEEDS_TOKEN)
        return exam.unknown(check, apps.why)
    if any(not a.id for a in apps):
        return exam.unknown(check, "Meta's answer lists an app without an id.")
    ours = next((a for a in apps if a.id == exam.app.app_id), None)
    if ours is None:
        return exam.failed(
            check,
            "The Frontdesk app is not subscribed to the Page, so Messenger sends it nothing "
            "from this Page. (Meta drops the subscription by itself after an hour of failed "
            "deliveries.)",
            "Reconnect the Page in Frontdesk: it subscribes again with every field.",
        )
    missing = [f for f in REQUIRED_FIELDS if f not in ours.subscribed_fields]
    if missing:
        return exam.failed(
            check,
            f"The app is subscribed to the Page without {', '.join(missing)}: those "
            "events (a button tap is messaging_postbacks, for one) never reach Frontdesk.",
            "Reconnect the Page in Frontdesk: it subscribes again with every field.",
        )
    return exam.passed(check, "Subscribed to the Page with every field Frontdesk needs.")
