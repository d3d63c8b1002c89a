"""Onboarding over the Graph API (digest §8): Login, tokens, Pages, subscriptions, profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import BadRequest, GraphError
from .transport import GraphTransport, unexpected

PROFILE_MISSING = frozenset({2018218, 2018247})
"""No profile for this person: made with a phone number, or no permission to read it."""
PAGE_FIELDS = ("id", "name", "category", "link", "username", "picture")
PROFILE_FIELDS = ("first_name", "last_name", "profile_pic")
MAX_PAGES = 100
"""`accounts` follows at most this many pages of results (a guard against a cursor loop)."""


def oauth_url(
    app_id: str,
    redirect_uri: str,
    state: str,
    *,
    scope: Sequence[str] | None = None,
    config_id: str | None = None,
    base: str = "https://www.facebook.com",
    version: str = "v25.0",
    auth_type: str | None = None,
) -> str:
    """The Login dialog URL: classic `scope`, or a Login for Business `config_id` (not both).

    `redirect_uri` must be repeated verbatim in `exchange_code`; `state` comes back unchanged
    and must be checked by the caller (CSRF).
    """
    if (scope is None) == (config_id is None):
        raise ValueError("give either scope or config_id")
    params = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "response_type": "code",
    }
    if scope is not None:
        params["scope"] = ",".join(scope)
    if config_id is not None:
        params["config_id"] = config_id
    if auth_type is not None:
        params["auth_type"] = auth_type
    prefix = f"/{version}" if version else ""
    return f"{base.rstrip('/')}{prefix}/dialog/oauth?{urlencode(params)}"


def app_token(app_id: str, app_secret: str) -> str:
    """The app access token `{app-id}|{app-secret}`: server side only (digest §8.7)."""
    return f"{app_id}|{app_secret}"


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str = field(repr=False)
    token_type: str | None = None
    expires_in: int | None = None
    """Seconds; None when Meta gives none (a token that doesn't expire)."""


@dataclass(frozen=True, slots=True)
class PageAccount:
    """A Page the person granted the app, with its Page token and the person's tasks on it."""

    id: str
    name: str | None
    access_token: str = field(repr=False)
    category: str | None = None
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """`debug_token`: what a token is and whether it still works (times in unix seconds)."""

    is_valid: bool
    app_id: str | None = None
    type: str | None = None
    expires_at: int | None = None
    """0 = never."""
    data_access_expires_at: int | None = None
    issued_at: int | None = None
    user_id: str | None = None
    profile_id: str | None = None
    """The Page, for a Page token."""
    scopes: tuple[str, ...] = ()
    granular_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Permission → the Page or business ids it was granted for (empty: all)."""
    error_code: int | None = None
    error_subcode: int | None = None
    """Why not valid, e.g. 190/460 (password changed) or 190/463 (expired)."""


@dataclass(frozen=True, slots=True)
class SubscribedApp:
    id: str
    name: str | None
    subscribed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppSubscription:
    object: str
    callback_url: str | None
    active: bool
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """A person's public profile as the Page sees it; `profile_pic` is a URL that expires."""

    id: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    profile_pic: str | None = None
    locale: str | None = None
    timezone: float | None = None
    gender: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _str(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, str | int) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _names(value: Any) -> tuple[str, ...]:
    """`[{"name": "messages", "version": "v25.0"}, ...]` → the names."""
    if not isinstance(value, list):
        return ()
    return tuple(
        f["name"] for f in value if isinstance(f, Mapping) and isinstance(f.get("name"), str)
    )


def _data(path: str, body: Any) -> list[Mapping[str, Any]]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise unexpected(path, "no data list")
    return [item for item in data if isinstance(item, Mapping)]


def _success(path: str, body: Any) -> None:
    # Meta's docs sometimes print the success flag as the string "true" (digest §8.9).
    success = body.get("success") if isinstance(body, Mapping) else None
    if success not in (True, "true"):
        raise BadRequest(f"{path}: Graph did not confirm success")


class GraphClient:
    """The Graph calls that connect a Page: tokens, Pages, subscriptions, Page and profiles."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        graph_url: str = "https://graph.facebook.com",
        version: str = "v25.0",
    ) -> None:
        self.transport = GraphTransport(http, graph_url, version)

    async def _token(self, params: Mapping[str, str]) -> AccessToken:
        path = "oauth/access_token"
        body = (await self.transport.call("GET", path, params=params)).body
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            raise unexpected(path, "no access_token")
        return AccessToken(token, _str(body.get("token_type")), _int(body.get("expires_in")))

    async def exchange_code(
        self, app_id: str, app_secret: str, redirect_uri: str, code: str
    ) -> AccessToken:
        """The Login redirect's `code` → a short-lived user token (codes are single-use)."""
        return await self._token(
            {
                "client_id": app_id,
                "redirect_uri": redirect_uri,
                "client_secret": app_secret,
                "code": code,
            }
        )

    async def exchange_long_lived(
        self, app_id: str, app_secret: str, user_token: str
    ) -> AccessToken:
        """A short-lived user token → a long-lived one (~60 days); its Page tokens never expire."""
        return await self._token(
            {
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": app_secret,
                "fb_exchange_token": user_token,
            }
        )

    async def accounts(self, user_token: str, *, page_size: int | None = None) -> list[PageAccount]:
        """Every Page the person granted the app, following the paging cursors to the end."""
        pages: list[PageAccount] = []
        params = {"fields": "id,name,access_token,category,tasks"}
        if page_size is not None:
            params["limit"] = str(page_size)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = (
                await self.transport.call("GET", "me/accounts", token=user_token, params=params)
            ).body
            for item in _data("me/accounts", body):
                page_id, token = _str(item.get("id")), item.get("access_token")
                if page_id is None or not isinstance(token, str):
                    raise unexpected("me/accounts", "a Page without id or access_token")
                pages.append(
                    PageAccount(
                        id=page_id,
                        name=_str(item.get("name")),
                        access_token=token,
                        category=_str(item.get("category")),
                        tasks=_strings(item.get("tasks")),
                    )
                )
            paging = body.get("paging") if isinstance(body, Mapping) else None
            cursors = paging.get("cursors") if isinstance(paging, Mapping) else None
            after = cursors.get("after") if isinstance(cursors, Mapping) else None
            # Follow the cursor against our own graph_url, never the absolute `next` URL: it
            # carries the token in its query and could point anywhere.
            if (
                not (isinstance(paging, Mapping) and paging.get("next"))
                or not isinstance(after, str)
                or after in seen
            ):
                return pages
            seen.add(after)
            params = {**params, "after": after}
        return pages

    async def debug_token(self, input_token: str, app_token: str) -> TokenInfo:
        """Inspect any token of this app with the app token; an invalid one is not an error."""
        body = (
            await self.transport.call(
                "GET", "debug_token", token=app_token, params={"input_token": input_token}
            )
        ).body
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping):
            raise unexpected("debug_token", "no data object")
        error = data.get("error")
        error = error if isinstance(error, Mapping) else {}
        granular = data.get("granular_scopes")
        return TokenInfo(
            is_valid=data.get("is_valid") is True,
            app_id=_str(data.get("app_id")),
            type=_str(data.get("type")),
            expires_at=_int(data.get("expires_at")),
            data_access_expires_at=_int(data.get("data_access_expires_at")),
            issued_at=_int(data.get("issued_at")),
            user_id=_str(data.get("user_id")),
            profile_id=_str(data.get("profile_id")),
            scopes=_strings(data.get("scopes")),
            granular_scopes={
                str(g["scope"]): _strings(g.get("target_ids"))
                for g in (granular if isinstance(granular, list) else [])
                if isinstance(g, Mapping) and isinstance(g.get("scope"), str)
            },
            error_code=_int(error.get("code")),
            error_subcode=_int(error.get("subcode", error.get("error_subcode"))),
        )

    async def subscribe_page(self, page_id: str, page_token: str, fields: Sequence[str]) -> None:
        """Subscribe the app to the Page's webhooks with exactly `fields`.

        Meta replaces the list rather than merging it: always send the full list, on every
        connect and reconnect (digest §12, pitfalls 5-6).
        """
        path = f"{page_id}/subscribed_apps"
        params = {"subscribed_fields": ",".join(fields)}
        _success(
            path, (await self.transport.call("POST", path, token=page_token, params=params)).body
        )

    async def subscribed_apps(self, page_id: str, page_token: str) -> list[SubscribedApp]:
        path = f"{page_id}/subscribed_apps"
        body = (await self.transport.call("GET", path, token=page_token)).body
        return [
            SubscribedApp(
                id=_str(item.get("id")) or "",
                name=_str(item.get("name")),
                subscribed_fields=_strings(item.get("subscribed_fields")),
            )
            for item in _data(path, body)
        ]

    async def unsubscribe_page(self, page_id: str, page_token: str) -> None:
        path = f"{page_id}/subscribed_apps"
        _success(path, (await self.transport.call("DELETE", path, token=page_token)).body)

    async def page(
        self, page_id: str, token: str, fields: Sequence[str] = PAGE_FIELDS
    ) -> dict[str, Any]:
        """The Page's fields as Graph returns them (`picture` is `{"data": {"url": ...}}`)."""
        params = {"fields": ",".join(fields)}
        body = (await self.transport.call("GET", page_id, token=token, params=params)).body
        if not isinstance(body, Mapping) or _str(body.get("id")) is None:
            raise unexpected(page_id, "no id")
        return dict(body)

    async def profile(
        self, psid: str, page_token: str, fields: Sequence[str] = PROFILE_FIELDS
    ) -> Profile | None:
        """The person's profile, or None when Meta has none to give: best effort.

        None for 2018218 (made with a phone number), 2018247 (no permission), or an empty
        object. Anything else (a broken token, throttling) still raises.
        """
        params = {"fields": ",".join(fields)}
        try:
            body = (await self.transport.call("GET", psid, token=page_token, params=params)).body
        except GraphError as err:
            if err.subcode in PROFILE_MISSING or err.code in PROFILE_MISSING:
                return None
            raise
        if not isinstance(body, Mapping) or not set(body) - {"id"}:
            return None
        timezone = body.get("timezone")
        return Profile(
            id=_str(body.get("id")) or psid,
            name=_str(body.get("name")),
            first_name=_str(body.get("first_name")),
            last_name=_str(body.get("last_name")),
            profile_pic=_str(body.get("profile_pic")),
            locale=_str(body.get("locale")),
            timezone=float(timezone)
            if isinstance(timezone, int | float) and not isinstance(timezone, bool)
            else None,
            gender=_str(body.get("gender")),
            raw=body,
        )

    async def app_subscriptions(self, app_id: str, app_token: str) -> list[AppSubscription]:
        """The app-level webhook subscriptions (`/{app-id}/subscriptions`)."""
        path = f"{app_id}/subscriptions"
        body = (await self.transport.call("GET", path, token=app_token)).body
        return [
            AppSubscription(
                object=_str(item.get("object")) or "",
                callback_url=_str(item.get("callback_url")),
                active=item.get("active") is True,
                fields=_names(item.get("fields")),
            )
            for item in _data(path, body)
        ]

    async def subscribe_app(
        self,
        app_id: str,
        app_token: str,
        callback_url: str,
        verify_token: str,
        fields: Sequence[str],
        *,
        include_values: bool = False,
    ) -> None:
        """Set the app's Page webhook; Meta runs the verification handshake before answering."""
        path = f"{app_id}/subscriptions"
        form = {
            "object": "page",
            "callback_url": callback_url,
            "verify_token": verify_token,
            "fields": ",".join(fields),
        }
        if include_values:
            form["include_values"] = "true"
        _success(path, (await self.transport.call("POST", path, token=app_token, data=form)).body)

    async def unsubscribe_app(self, app_id: str, app_token: str) -> None:
        path = f"{app_id}/subscriptions"
        params = {"object": "page"}
        body = (await self.transport.call("DELETE", path, token=app_token, params=params)).body
        _success(path, body)

    async def set_messenger_profile(self, page_token: str, profile: Mapping[str, Any]) -> None:
        """Set fields of the token's Page's Messenger profile (`get_started`, `greeting`,
        `persistent_menu`…); fields not sent keep their values. Meta allows some 10 calls per
        10 minutes per Page (digest §10): call it when something changed, not on every start."""
        path = "me/messenger_profile"
        body = (await self.transport.call("POST", path, token=page_token, json=dict(profile))).body
        _result_success(path, body)

    async def delete_messenger_profile(self, page_token: str, fields: Sequence[str]) -> None:
        """Remove Messenger profile fields of the token's Page."""
        path = "me/messenger_profile"
        answer = await self.transport.call(
            "DELETE", path, token=page_token, json={"fields": list(fields)}
        )
        _result_success(path, answer.body)


def _result_success(path: str, body: Any) -> None:
    # The Messenger Profile API answers {"result": "success"} rather than {"success": true}.
    if not isinstance(body, Mapping) or body.get("result") != "success":
        raise BadRequest(f"{path}: Graph did not confirm success")
