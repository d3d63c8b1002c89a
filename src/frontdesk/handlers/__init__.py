"""The handlers a channel can be linked to, each implementing `core.Handler`: `inbox`, `rules`."""

from frontdesk.core import Handler, LinkKind

from .inbox import InboxHandler
from .rules import RulesHandler


def default_handlers() -> dict[LinkKind, Handler]:
    """One handler per link kind that exists so far; the other kinds come in their own issues."""
    return {LinkKind.INBOX: InboxHandler(), LinkKind.RULES: RulesHandler()}


__all__ = ["InboxHandler", "RulesHandler", "default_handlers"]
