"""Facebook Login and tokens: codes, user/Page/app tokens, grants, and why a token fails."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import GraphError
from .world import (
    LONG_USER_TOKEN_TTL,
    SHORT_PAGE_TOKEN_TTL,
    SHORT_USER_TOKEN_TTL,
    App,
    AuthCode,
    Page,
    Token,
    World,
)

CODE_TTL = 600


@dataclass
class Caller:
    """Who is calling the Graph API: the token, and what it resolves to."""

    token: Token
    app: App

    @property
    def person_id(self) -> str | None:
        return self.token.person_id

    @property
    def page_id(self) -> str | None:
        return self.token.page_id


def check_token(world: World, value: str | None, now: float) -> Caller:
    """Resolve an access token or raise the 190-family error Meta would answer."""
    if not value:
        raise errors.token_missing()
    if "|" in value:
        app_id, _, secret = value.partition("|")
        app = world.apps.get(app_id)
        # Compare bytes: compare_digest refuses non-ASCII str, and a token is untrusted input.
        if app is None or not hmac.compare_digest(app.secret.encode(), secret.encode()):
            raise GraphError(190, "Invalid OAuth access token signature.")
        return Caller(Token(value=value, kind="app", app_id=app.id, issued_at=0), app)
    token = world.tokens.get(value)
    if token is None:
        raise errors.token_unparseable()
    if token.invalid_subcode == 458:
        raise errors.token_app_removed(token.app_id)
    if token.invalid_subcode is not None:
        raise errors.TOKEN_ERRORS.get(token.invalid_subcode, errors.token_logged_out)()
    if token.expires_at and now >= token.expires_at:
        raise errors.token_expired(token.expires_at, now)
    app = world.apps.get(token.app_id)
    if app is None:
        raise errors.token_app_removed(token.app_id)
    return Caller(token, app)


def token_problem(world: World, token: Token, now: float) -> GraphError | None:
    """Why `token` would fail right now, or None; debug_token reports it instead of raising."""
    try:
        check_token(world, token.value, now)
    except GraphError as err:
        return err
    return None


def require_app_token(caller: Caller) -> None:
    if caller.token.kind != "app":
        raise GraphError(
            100,
            "(#100) This method must be called with an app access_token.",
            type="OAuthException",
        )


def require_user_token(caller: Caller) -> str:
    if caller.token.kind not in ("user_short", "user_long") or caller.person_id is None:
        raise GraphError(
            190, "This method must be called with a user access token.", type="OAuthException"
        )
    return caller.person_id


def require_page_token(world: World, caller: Caller, page_id: str) -> Page:
    """A valid Page token for exactly this Page (Meta answers 190 for a user token here)."""
    page = world.pages.get(page_id)
    if page is None:
        raise errors.unknown_path(page_id)
    if caller.token.kind != "page" or caller.page_id is None:
        raise GraphError(190, "(#190) This method must be called with a Page Access Token")
    if caller.page_id != page_id:
        raise errors.permission_denied("The Page access token does not belong to this Page")
    return page


def granted_scopes(world: World, app_id: str, person_id: str | None) -> list[str]:
    if person_id is None:
        return []
    grant = world.grants.get((app_id, person_id))
    return grant.granted() if grant else []


def has_scope(world: World, caller: Caller, scope: str) -> bool:
    return scope in granted_scopes(world, caller.app.id, caller.person_id)


# --- the Login dialog and code exchange ------------------------------------------------------


def authorize(
    world: World,
    app: App,
    person_id: str,
    redirect_uri: str,
    granted: list[str],
    declined: list[str],
    page_ids: list[str],
    business_ids: list[str],
    now: float,
) -> str:
    """Record what the person granted in the dialog and hand out a single-use code."""
    grant = world.grant(app.id, person_id)
    for name in granted:
        grant.permissions[name] = "granted"
    for name in declined:
        grant.permissions[name] = "declined"
    grant.permissions.setdefault("public_profile", "granted")
    grant.page_ids = list(page_ids)
    grant.business_ids = list(business_ids)
    code = "AQ" + secrets.token_urlsafe(96)
    world.codes[code] = AuthCode(code, app.id, person_id, redirect_uri, now + CODE_TTL)
    return code


def _check_client(world: World, client_id: Any, client_secret: Any) -> App:
    app = world.apps.get(str(client_id or ""))
    if app is None:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if not isinstance(client_secret, str) or not hmac.compare_digest(
        app.secret.encode(), client_secret.encode()
    ):
        raise GraphError(1, "Error validating client secret.", subcode=None)
    return app


def exchange_code(world: World, params: dict[str, Any], now: float) -> Token:
    app = _check_client(world, params.get("client_id"), params.get("client_secret"))
    code = world.codes.get(str(params.get("code", "")))
    invalid = GraphError(100, "Invalid verification code format.", subcode=36007)
    if code is None or code.app_id != app.id:
        raise invalid
    if code.used:
        raise GraphError(100, "This authorization code has been used.", subcode=36009)
    if now >= code.expires_at:
        raise GraphError(100, "This authorization code has expired.", subcode=36007)
    if params.get("redirect_uri") != code.redirect_uri:
        raise GraphError(
            100,
            "Error validating verification code. Please make sure your redirect_uri is identical "
            "to the one you used in the OAuth dialog request",
            subcode=36008,
        )
    code.used = True
    return world.issue_token(
        "user_short", app.id, now, person_id=code.person_id, ttl=SHORT_USER_TOKEN_TTL
    )


def exchange_long_lived(world: World, params: dict[str, Any], now: float) -> Token:
    app = _check_client(world, params.get("client_id"), params.get("client_secret"))
    caller = check_token(world, str(params.get("fb_exchange_token") or ""), now)
    if caller.app.id != app.id:
        raise GraphError(100, "(#100) The token belongs to another app")
    person_id = require_user_token(caller)
    return world.issue_token("user_long", app.id, now, person_id=person_id, ttl=LONG_USER_TOKEN_TTL)


def client_credentials(world: World, params: dict[str, Any]) -> str:
    app = _check_client(world, params.get("client_id"), params.get("client_secret"))
    return f"{app.id}|{app.secret}"


def page_token(world: World, user: Token, page: Page, now: float) -> Token:
    """The Page token `me/accounts` hands out; it lives as long as the user token behind it."""
    for token in world.tokens.values():
        if (
            token.kind == "page"
            and token.page_id == page.id
            and token.person_id == user.person_id
            and token.app_id == user.app_id
            and token.invalid_subcode is None
            and (token.expires_at == 0) == (user.kind == "user_long")
            and not (token.expires_at and now >= token.expires_at)
        ):
            return token
    ttl = 0 if user.kind == "user_long" else SHORT_PAGE_TOKEN_TTL
    return world.issue_token(
        "page", user.app_id, now, person_id=user.person_id, page_id=page.id, ttl=ttl
    )
