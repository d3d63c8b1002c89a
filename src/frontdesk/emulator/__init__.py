"""A local, faithful Meta: Graph API, Login dialog, webhooks and a Messenger client.

Written from the protocol digest alone; imports nothing else of Frontdesk.
"""

from .app import Emulator, build_meta, create_app
from .clock import Clock
from .errors import GraphError
from .meta import Meta, MetaSettings
from .scenario import ScenarioError
from .webhooks import WebhookSettings, encode, sign
from .world import PAGE_FIELDS, PAGE_INBOX_APP_ID, World, psid_for

__all__ = [
    "PAGE_FIELDS",
    "PAGE_INBOX_APP_ID",
    "Clock",
    "Emulator",
    "GraphError",
    "Meta",
    "MetaSettings",
    "ScenarioError",
    "WebhookSettings",
    "World",
    "build_meta",
    "create_app",
    "encode",
    "psid_for",
    "sign",
]
