"""The console: server-rendered pages for a workspace's people (accounts, team, Meta app,
channels), mounted by app.py beside the webhook."""

from .context import Console, ConsoleConfig
from .routes import console_routes

__all__ = ["Console", "ConsoleConfig", "console_routes"]
