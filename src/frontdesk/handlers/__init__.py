"""The handlers a channel can be linked to, each implementing `core.Handler`. Today: `inbox`."""

from frontdesk.core import Handler, LinkKind

from .inbox import InboxHandler


def default_handlers() -> dict[LinkKind, Handler]:
    """One handler per link kind that exists so far; the other kinds come in their own issues."""
    return {LinkKind.INBOX: InboxHandler()}


__all__ = ["InboxHandler", "default_handlers"]
