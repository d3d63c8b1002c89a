"""The `rules` link: the channel's rule-based bot answers, through core's rule engine."""

from __future__ import annotations

from frontdesk.core import SILENT, Outcome, Turn
from frontdesk.core.rules import respond


class RulesHandler:
    """Runs the turn's bot. A `rules` channel without a bot answers nothing (its messages
    still land in the inbox)."""

    async def handle(self, turn: Turn) -> Outcome:
        if turn.bot is None:
            return SILENT
        return respond(turn.bot, turn).outcome
