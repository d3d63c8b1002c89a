"""The `inbox` link: every message lands in the agent inbox, and the handler answers nothing."""

from __future__ import annotations

from frontdesk.core import SILENT, Outcome, Turn


class InboxHandler:
    """Answers no turn. The worker has already stored the message, which is all this link asks:
    people answer from the inbox (their replies go through the outbox, not through here)."""

    silent = True
    """Never answers: the worker does not build its turns (`core.handlers.answers`)."""

    async def handle(self, turn: Turn) -> Outcome:
        return SILENT
