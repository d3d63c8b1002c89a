"""The emulated Meta world: apps, people, businesses, Pages, roles, grants and tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Literal

AppMode = Literal["development", "live"]
Access = Literal["standard", "advanced"]
TokenKind = Literal["user_short", "user_long", "page", "app"]

PAGE_INBOX_APP_ID = "263902037430900"
"""Meta's own Page Inbox behaves like an app in conversation routing (digest §7)."""

ALL_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")

APP_ROLES = ("administrator", "developer", "tester")

# The `subscribed_fields` enum accepted by POST /{page-id}/subscribed_apps (digest §3.1).
PAGE_FIELDS = (
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "messaging_postbacks",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "messaging_feedback",
    "messaging_customer_information",
    "response_feedback",
    "send_cart",
    "standby",
    "inbox_labels",
    "feed",
)

SHORT_USER_TOKEN_TTL = 2 * 3600
LONG_USER_TOKEN_TTL = 60 * 24 * 3600
SHORT_PAGE_TOKEN_TTL = 3600
DATA_ACCESS_TTL = 90 * 24 * 3600


@dataclass
class LoginConfig:
    """A Facebook Login for Business configuration: `config_id` replaces `scope`."""

    id: str
    permissions: list[str]
    name: str = "Frontdesk"


@dataclass
class AppSubscription:
    """The app-level webhook subscription for `object=page` (`/{app-id}/subscriptions`)."""

    callback_url: str
    verify_token: str
    fields: list[str]
    active: bool = True
    version: str = "v25.0"


@dataclass
class App:
    id: str
    secret: str
    name: str
    mode: AppMode = "development"
    permissions: dict[str, Access] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    redirect_uris: list[str] = field(default_factory=list)
    login_configs: list[LoginConfig] = field(default_factory=list)
    subscription: AppSubscription | None = None
    category: str = "Business"
    link: str = ""

    def has_role(self, person_id: str) -> bool:
        return person_id in self.roles

    def access(self, permission: str) -> Access | None:
        return self.permissions.get(permission)

    def may_reach(self, person_id: str) -> bool:
        """Development mode, or only standard access: only people with a role are reachable."""
        if self.mode == "live" and self.permissions.get("pages_messaging") == "advanced":
            return True
        return self.has_role(person_id)

    def login_config(self, config_id: str) -> LoginConfig | None:
        return next((c for c in self.login_configs if c.id == config_id), None)


@dataclass
class Person:
    id: str
    name: str
    first_name: str = ""
    last_name: str = ""
    locale: str = "en_US"
    timezone: float = 0
    gender: str = ""
    profile_pic: str = ""
    created_by_phone: bool = False

    def __post_init__(self) -> None:
        if not self.first_name and not self.last_name:
            first, _, last = self.name.partition(" ")
            self.first_name, self.last_name = first, last


@dataclass
class Business:
    id: str
    name: str
    page_ids: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)


@dataclass
class Page:
    id: str
    name: str
    category: str = "Business"
    username: str = ""
    published: bool = True
    restricted: bool = False
    messaging_enabled: bool = True
    business_id: str | None = None
    roles: dict[str, list[str]] = field(default_factory=dict)
    """person id → tasks on this Page."""
    subscribed_apps: dict[str, list[str]] = field(default_factory=dict)
    """app id → subscribed fields (Page-level subscription)."""
    default_app_id: str | None = None
    """Conversation Routing's default application; None = default behaviour (§7)."""
    blocked_by: list[str] = field(default_factory=list)
    """people who blocked the Page: the Send API answers 551."""
    get_started_payload: str | None = None
    messenger_profile: dict[str, object] = field(default_factory=dict)

    def tasks_of(self, person_id: str) -> list[str]:
        return self.roles.get(person_id, [])


@dataclass
class Grant:
    """What one person granted one app in the Login dialog."""

    app_id: str
    person_id: str
    permissions: dict[str, str] = field(default_factory=dict)  # name → granted|declined
    page_ids: list[str] = field(default_factory=list)
    business_ids: list[str] = field(default_factory=list)

    def granted(self) -> list[str]:
        return [p for p, status in self.permissions.items() if status == "granted"]


@dataclass
class Token:
    value: str
    kind: TokenKind
    app_id: str
    issued_at: float
    expires_at: float = 0
    """unix seconds; 0 = never."""
    person_id: str | None = None
    page_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    invalid_subcode: int | None = None
    """Why the token stopped working (a 190 subcode), or None while it is good."""
    data_access_expires_at: float = 0

    @property
    def type_name(self) -> str:
        return {"user_short": "USER", "user_long": "USER", "page": "PAGE", "app": "APP"}[self.kind]


@dataclass
class AuthCode:
    code: str
    app_id: str
    person_id: str
    redirect_uri: str
    expires_at: float
    used: bool = False


def new_token(prefix: str = "EAA") -> str:
    return prefix + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")


def psid_for(page_id: str, person_id: str) -> str:
    """A Page-scoped id: stable for a (Page, person) pair, different on every Page."""
    digest = hashlib.sha256(f"psid:{page_id}:{person_id}".encode()).hexdigest()
    return str(7_000_000_000_000_000 + int(digest[:15], 16) % 10**15)


class WorldError(LookupError):
    """A control-API request names something that does not exist or cannot be done."""


@dataclass
class World:
    """Everything Meta knows. Pure state: no I/O, no clock reads."""

    apps: dict[str, App] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    businesses: dict[str, Business] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    _next_id: int = 100_000_000_000_000

    def new_id(self) -> str:
        self._next_id += 1
        while (
            str(self._next_id) in self.apps
            or str(self._next_id) in self.people
            or str(self._next_id) in self.pages
            or str(self._next_id) in self.businesses
        ):
            self._next_id += 1
        return str(self._next_id)

    # --- lookups that raise WorldError, for the control API ---

    def app(self, app_id: str) -> App:
        try:
            return self.apps[str(app_id)]
        except KeyError:
            raise WorldError(f"no app {app_id}") from None

    def person(self, person_id: str) -> Person:
        try:
            return self.people[str(person_id)]
        except KeyError:
            raise WorldError(f"no person {person_id}") from None

    def page(self, page_id: str) -> Page:
        try:
            return self.pages[str(page_id)]
        except KeyError:
            raise WorldError(f"no page {page_id}") from None

    def person_by_psid(self, page_id: str, psid: str) -> Person | None:
        for person in self.people.values():
            if psid_for(page_id, person.id) == psid:
                return person
        return None

    def grant(self, app_id: str, person_id: str) -> Grant:
        key = (app_id, person_id)
        if key not in self.grants:
            self.grants[key] = Grant(app_id=app_id, person_id=person_id)
        return self.grants[key]

    def page_apps(self, page_id: str) -> list[App]:
        """Apps installed on the Page (subscribed at Page level), in a stable order."""
        page = self.page(page_id)
        return [self.apps[a] for a in page.subscribed_apps if a in self.apps]

    # --- tokens ---

    def issue_token(
        self,
        kind: TokenKind,
        app_id: str,
        now: float,
        *,
        person_id: str | None = None,
        page_id: str | None = None,
        scopes: list[str] | None = None,
        ttl: float = 0,
    ) -> Token:
        token = Token(
            value=new_token(),
            kind=kind,
            app_id=app_id,
            issued_at=now,
            expires_at=now + ttl if ttl else 0,
            person_id=person_id,
            page_id=page_id,
            scopes=list(scopes or []),
            data_access_expires_at=now + DATA_ACCESS_TTL if person_id else 0,
        )
        self.tokens[token.value] = token
        return token

    def invalidate_tokens(
        self,
        subcode: int,
        *,
        person_id: str | None = None,
        page_id: str | None = None,
        app_id: str | None = None,
    ) -> int:
        """Mark matching live tokens invalid with `subcode`; return how many were hit."""
        hit = 0
        for token in self.tokens.values():
            if token.invalid_subcode is not None or token.kind == "app":
                continue
            if person_id is not None and token.person_id != person_id:
                continue
            if page_id is not None and token.page_id != page_id:
                continue
            if app_id is not None and token.app_id != app_id:
                continue
            token.invalid_subcode = subcode
            hit += 1
        return hit
