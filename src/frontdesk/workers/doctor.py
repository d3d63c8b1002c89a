"""The connection doctor: every check of a channel's link to Messenger, ✓/✗/unknown, with the fix.

A check looks at what Meta says (debug_token, the Page, the two webhook subscriptions, through
`messenger.GraphClient`) and at what Frontdesk saw (`evidence`: events received, replies that
failed). The checks are in `setup_checks` and `traffic_checks`, what they report in `findings`;
the `doctor` job that flags channels for the banner is `checkup`.

`Doctor.examine` calls Meta (all questions at once) and touches no database, so callers read the
evidence first and hold no transaction while Meta answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from frontdesk.messenger import GraphClient, GraphError, RetryLater, app_token
from frontdesk.store.meta_apps import MetaApp

from . import setup_checks, traffic_checks
from .evidence import Facts
from .examination import Answers, Examination, Setup, Unanswered, quote, sentence
from .findings import Check, Finding, Report, attribute

T = TypeVar("T")

CHECKS: dict[Check, Callable[[Examination], Finding]] = {
    Check.TOKEN: setup_checks.token,
    Check.ROLE: setup_checks.role,
    Check.PERMISSIONS: setup_checks.permissions,
    Check.PAGE: setup_checks.page,
    Check.APP_WEBHOOK: setup_checks.app_webhook,
    Check.SUBSCRIPTION: setup_checks.subscription,
    Check.LIVE_MODE: traffic_checks.live_mode,
    Check.MESSAGING: traffic_checks.messaging,
    Check.SEND_ERRORS: traffic_checks.send_errors,
}
"""Every check, in `Check`'s order: a cause before its consequences."""


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
                return Unanswered(sentence(f"{why}: {quote(err)}"), err)
            return Unanswered(sentence(f"Meta answered with a temporary error: {quote(err)}"), err)
        except GraphError as err:
            return Unanswered(sentence(f"Meta refused the question: {quote(err)}"), err)

    async def _answers(self, app: MetaApp, facts: Facts) -> Answers:
        page_id, token = facts.page_id, facts.page_token
        try:
            graph = GraphClient(self.http, app.graph_url, app.graph_version)
        except ValueError as err:  # a malformed Graph version stored for the app
            nothing = Unanswered(f"The Meta app's Graph settings are unusable: {err}.")
            return Answers(nothing, nothing, nothing, nothing, nothing)
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
        return Answers(*results)

    async def examine(self, facts: Facts, now: float) -> Report:
        app = facts.app or self.setup.operator
        exam = Examination(self.setup, app, facts, await self._answers(app, facts), now)
        found = [run(exam) for run in CHECKS.values()]
        return Report(facts.channel_id, facts.page_id, facts.name, now, attribute(found))
