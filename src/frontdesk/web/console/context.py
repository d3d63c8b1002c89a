"""What every console view is handed: the app's parts (`Console`) and one request (`Ask`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from frontdesk.store.accounts import User, Workspace
from frontdesk.store.channels import ChannelSummary
from frontdesk.store.meta_apps import MetaApp
from frontdesk.store.passwords import Passwords
from frontdesk.store.secrets import Secrets
from frontdesk.workers.checkup import Checkup

from .forms import Fields
from .gate import Cookies, Visit
from .pages import Pages
from .throttle import Limits

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True)
class ConsoleConfig:
    """The console's settings, handed in by the composition root (web never reads Settings)."""

    public_url: str
    operator_app: MetaApp
    """The instance's Meta app (FRONTDESK_META_*): what a workspace uses unless it brings its
    own."""
    graph_urls: tuple[str, ...]
    """Graph base URLs a workspace's own app may use. A list, not free text: a URL typed by a
    tenant would make this server call any address it can reach (SSRF)."""
    session_idle: float = 12 * HOUR
    """A session unused this long ends: a working day with its breaks."""
    session_lifetime: float = 14 * DAY
    """A session ends this long after login however much it is used."""
    invitation_lifetime: float = 7 * DAY
    max_form_bytes: int = 64 * 1024
    login_limits: Limits = field(default_factory=Limits)
    link_kinds: tuple[str, ...] = ("inbox",)
    """The link kinds a channel may be given: those whose handler exists in this build."""
    login_lifetime: float = 30 * 60.0
    """A Facebook Login round trip of Manage Pages (and its user token) lives this long."""
    quiet_hours: float = 24.0
    """A channel that heard nothing for this long shows "no events for N hours"."""


@dataclass
class Console:
    engine: AsyncEngine
    config: ConsoleConfig
    keys: Secrets
    passwords: Passwords
    clock: Callable[[], float]
    pages: Pages = field(default_factory=Pages)
    http: httpx.AsyncClient | None = None
    """Reaches Meta (Graph, for connecting Pages); None: the console connects nothing."""
    checkup: Checkup | None = None
    """The connection doctor, for the doctor page (and the flags it sets)."""

    @property
    def cookies(self) -> Cookies:
        return Cookies(self.config.public_url, self.config.session_lifetime)

    async def hash_password(self, password: str) -> str:
        # argon2 takes ~0.1 s of CPU by design: off the event loop, which serves webhooks too.
        return await asyncio.to_thread(self.passwords.hash, password)

    async def check_password(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.passwords.verify, stored, password)


@dataclass
class Ask:
    """One request: who asks (`visit`), in which workspace, and the form they sent (if any)."""

    request: Request
    visit: Visit
    form: Fields
    workspace: Workspace | None = None
    flagged: list[ChannelSummary] = field(default_factory=list)
    """The workspace's channels with a problem: the banner on every page."""

    @property
    def user(self) -> User:
        """The signed-in person; only views behind `signed_in` ask for it."""
        if self.visit.session is None:
            raise RuntimeError("a signed-in view was reached without a session")
        return self.visit.session.user

    def context(self, console: Console, **extra: Any) -> dict[str, Any]:
        """What every template gets, plus `extra`."""
        session = self.visit.session
        return {
            "user": session.user if session else None,
            "workspace": self.workspace,
            "csrf_token": self.visit.form_token,
            "nav": "",
            "notice": None,
            "errors": self.form.errors,
            "values": self.form.values,
            "flagged": self.flagged,
            **extra,
        }

    def render(self, console: Console, template: str, status: int = 200, **extra: Any) -> Response:
        return console.pages.render(template, self.context(console, **extra), status)
