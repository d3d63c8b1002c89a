"""The Graph API over HTTP: any `vNN.N` prefix or none, Meta's parameter rules and envelopes."""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import errors, identity
from .errors import GraphError
from .meta import Meta
from .world import PAGE_FIELDS, Page

VERSION = re.compile(r"^v\d{1,2}\.\d{1,2}$")
NUMERIC_ID = re.compile(r"^\d{1,20}$")
MAX_BODY = 30 * 1024 * 1024
MAX_BATCH = 50
THREAD_ACTIONS = (
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "release_thread_control",
    "extend_thread_control",
)
PROFILE_FIELDS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "profile_pic",
    "locale",
    "timezone",
    "gender",
)
PAGE_INFO_FIELDS = (
    "id",
    "name",
    "category",
    "category_list",
    "link",
    "username",
    "picture",
    "is_published",
    "tasks",
    "access_token",
    "messaging_feature_status",
)
MESSENGER_PROFILE_FIELDS = (
    "get_started",
    "greeting",
    "persistent_menu",
    "ice_breakers",
    "whitelisted_domains",
)
DEFAULT_API_VERSION = "v25.0"


def split_path(path: str) -> tuple[str, list[str]]:
    """`/v25.0/me/accounts` → ("v25.0", ["me", "accounts"]); unversioned paths use the default."""
    parts = [p for p in path.split("/") if p]
    if parts and VERSION.match(parts[0]):
        return parts[0], parts[1:]
    return DEFAULT_API_VERSION, parts


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; stored, they would break every later JSON answer."""
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str | bytes) -> Any:
    """Strict JSON: no NaN/Infinity, and no lone UTF-16 surrogates ("\\ud800"), which parse
    but can never be encoded again, so any answer echoing them would fail."""
    value = json.loads(text, parse_constant=_no_constant)
    json.dumps(value, ensure_ascii=False).encode()  # UnicodeEncodeError is a ValueError
    return value


def lenient_json(value: str) -> Any:
    """Graph accepts JSON-encoded parameter values, even Meta's single-quoted pseudo-JSON."""
    text = value.strip()
    if not text or text[0] not in "[{":
        return value
    try:
        return _loads(text)
    except (ValueError, RecursionError):
        try:
            return _loads(text.replace("'", '"'))
        except (ValueError, RecursionError):  # absurd nesting is a bad parameter, not a 500
            raise errors.invalid_parameter(f"Invalid JSON for a parameter: {text[:60]}") from None


async def read_params(request: Request) -> tuple[dict[str, Any], tuple[str, str, bytes] | None]:
    """Query string, then the body (JSON, form or multipart); a file part comes back apart."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise GraphError(100, "(#100) The request body is too large", status=413)
    params: dict[str, Any] = {k: lenient_json(v) for k, v in request.query_params.items()}
    content_type = request.headers.get("content-type", "")
    upload: tuple[str, str, bytes] | None = None
    if content_type.startswith("application/json"):
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise GraphError(100, "(#100) The request body is too large", status=413)
        if raw.strip():
            try:
                body = _loads(raw)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                raise errors.invalid_parameter("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise errors.invalid_parameter("The request body must be a JSON object")
            params.update(body)
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        if len(await request.body()) > MAX_BODY:  # a chunked body has no Content-Length to check
            raise GraphError(100, "(#100) The request body is too large", status=413)
        try:
            form = await request.form(max_files=1, max_fields=200, max_part_size=MAX_BODY)
        except HTTPException as err:  # Starlette's answer to a malformed or oversized form
            raise errors.invalid_parameter(str(err.detail)) from err
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read(MAX_BODY + 1)
                    if len(data) > MAX_BODY:
                        raise GraphError(100, "(#100) The file is too large", status=413)
                    upload = (
                        value.filename or "upload",
                        value.content_type or "application/octet-stream",
                        data,
                    )
                else:
                    params[key] = lenient_json(value)
        finally:
            await form.close()  # uploaded files spool to temporary files
    return params, upload


def access_token(request: Request, params: dict[str, Any]) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith(("bearer ", "oauth ")):
        return auth.split(" ", 1)[1].strip()
    token = params.get("access_token")
    return str(token) if token is not None else None


def graph_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    out = {"x-fb-trace-id": secrets.token_urlsafe(8), "facebook-api-version": DEFAULT_API_VERSION}
    out.update(headers or {})
    return JSONResponse(body, status_code=status, headers=out)


def error_response(error: GraphError) -> Response:
    return graph_response(error.body(), error.status, error.headers)


def fields_of(
    params: dict[str, Any], default: tuple[str, ...], allowed: tuple[str, ...], node: str
) -> list[str]:
    raw = params.get("fields")
    if raw is None:
        return list(default)
    names = [f.strip() for f in str(raw).split(",") if f.strip()]
    for name in names:
        base = name.split("{", 1)[0].split(".", 1)[0]
        if base not in allowed:
            raise errors.invalid_parameter(
                f"Tried accessing nonexisting field ({base}) on node type ({node})"
            )
    return [n.split("{", 1)[0].split(".", 1)[0] for n in names]


def _field_list(value: Any, name: str) -> list[str]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    else:
        raise errors.invalid_parameter(f"param {name} must be a list of fields")
    return items


class Graph:
    """Dispatches one Graph request to the Meta method behind it."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta

    async def handle(self, request: Request) -> Response:
        version, parts = split_path(request.url.path)
        try:
            params, upload = await read_params(request)
            token = access_token(request, params)
            body, headers = await self.dispatch(
                request.method, parts, params, token, upload, version
            )
        except GraphError as err:
            return error_response(err)
        return graph_response(body, headers=headers)

    async def dispatch(
        self,
        method: str,
        parts: list[str],
        params: dict[str, Any],
        token: str | None,
        upload: tuple[str, str, bytes] | None = None,
        version: str = DEFAULT_API_VERSION,
    ) -> tuple[Any, dict[str, str]]:
        meta = self.meta
        if parts == [] and method == "POST":
            return await self.batch(params, token, version), {}
        if parts[:2] == ["oauth", "access_token"] and method in ("GET", "POST"):
            return await self.oauth_access_token(params), {}
        if parts == ["debug_token"] and method == "GET":
            await meta.gate("debug_token")  # listed in faults.ENDPOINTS: injectable like the rest
            return self.debug_token(params, token), {}
        if not parts:
            raise errors.unsupported_method(method, "")
        node = parts[0]
        edge = parts[1] if len(parts) > 1 else None
        if len(parts) > 3 or (len(parts) == 3 and not (node == "me" and edge == "permissions")):
            raise errors.unsupported_method(method, "/".join(parts))
        if edge == "messages" and method == "POST":
            body, headers = await meta.send(token, node, params, upload)
            return body, headers
        if edge == "message_attachments" and method == "POST":
            return await meta.upload_attachment(token, node, params, upload), {}
        if edge == "subscribed_apps":
            return await self.subscribed_apps(method, node, params, token), {}
        if edge == "subscriptions":
            return await self.app_subscriptions(method, node, params, token, version), {}
        if edge == "messenger_profile":
            return await self.messenger_profile(method, node, params, token), {}
        if edge in THREAD_ACTIONS and method == "POST":
            await meta.gate("thread_control")
            return meta.control_thread(token, node, edge, params), {}
        if edge == "thread_owner" and method == "GET":
            return meta.thread_owner(token, node, str(params.get("recipient", ""))), {}
        if edge == "secondary_receivers" and method == "GET":
            return self.secondary_receivers(node, token), {}
        if edge == "personas":
            return self.personas(method, node, params, token), {}
        if node == "me" and edge == "accounts" and method == "GET":
            return await self.accounts(params, token), {}
        if node == "me" and edge == "permissions":
            return self.permissions(method, parts[2] if len(parts) == 3 else None, token), {}
        if edge is None and method == "GET":
            return await self.node(node, params, token), {}
        if edge is None and method == "DELETE" and node in meta.personas:
            identity.require_page_token(meta.world, meta.caller(token), meta.personas[node].page_id)
            del meta.personas[node]
            return {"success": True}, {}
        raise errors.unsupported_method(method, "/".join(parts))

    # --- OAuth --------------------------------------------------------------------------------

    async def oauth_access_token(self, params: dict[str, Any]) -> dict[str, Any]:
        meta = self.meta
        await meta.gate("oauth")
        now = meta.clock.now()
        grant = params.get("grant_type")
        if grant == "fb_exchange_token":
            token = identity.exchange_long_lived(meta.world, params, now)
        elif grant == "client_credentials":
            return {
                "access_token": identity.client_credentials(meta.world, params),
                "token_type": "bearer",
            }
        elif params.get("code"):
            token = identity.exchange_code(meta.world, params, now)
        else:
            raise errors.invalid_parameter("Missing code, fb_exchange_token or grant_type")
        return {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": int(token.expires_at - now),
        }

    def debug_token(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        meta = self.meta
        caller = meta.caller(token)
        if caller.token.kind not in ("app", "user_short", "user_long"):
            raise errors.invalid_parameter(
                "debug_token needs an app token or a user token of the same app"
            )
        value = params.get("input_token")
        if not value:
            raise errors.invalid_parameter("The parameter input_token is required")
        target = meta.world.tokens.get(str(value))
        if target is None:
            if "|" in str(value):
                inspected = meta.caller(str(value))
                return {
                    "data": {
                        "app_id": inspected.app.id,
                        "type": "APP",
                        "application": inspected.app.name,
                        "is_valid": True,
                        "scopes": [],
                    }
                }
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if target.app_id != caller.app.id:
            raise errors.invalid_parameter("The input token belongs to another app")
        app = meta.world.apps.get(target.app_id)
        scopes = identity.granted_scopes(meta.world, target.app_id, target.person_id)
        grant = meta.world.grants.get((target.app_id, target.person_id or ""))
        data: dict[str, Any] = {
            "app_id": target.app_id,
            "type": target.type_name,
            "application": app.name if app else "",
            "data_access_expires_at": int(target.data_access_expires_at),
            "expires_at": int(target.expires_at),
            "is_valid": True,
            "issued_at": int(target.issued_at),
            "scopes": scopes,
            "granular_scopes": [
                {"scope": s, "target_ids": (grant.page_ids + grant.business_ids) if grant else []}
                for s in scopes
                if s.startswith(("pages_", "business_"))
            ],
            "user_id": target.person_id,
        }
        if target.page_id is not None:
            data["profile_id"] = target.page_id
        problem = identity.token_problem(meta.world, target, meta.clock.now())
        if problem is not None:
            data["is_valid"] = False
            error: dict[str, Any] = {"code": problem.code, "message": problem.message}
            if problem.subcode is not None:
                error["subcode"] = problem.subcode
            data["error"] = error
            data["scopes"] = []
        return {"data": data}

    # --- people and Pages ----------------------------------------------------------------

    async def accounts(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        meta = self.meta
        await meta.gate("accounts")
        caller = meta.caller(token)
        person_id = identity.require_user_token(caller)
        if not identity.has_scope(meta.world, caller, "pages_show_list"):
            raise errors.permission_missing("pages_show_list")
        grant = meta.world.grant(caller.app.id, person_id)
        chosen = set(grant.page_ids)
        for business_id in grant.business_ids:
            business = meta.world.businesses.get(business_id)
            if business:
                chosen.update(business.page_ids)
        pages = [p for p in meta.world.pages.values() if p.id in chosen and p.tasks_of(person_id)]
        limit = params.get("limit", 25)
        # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses or reads.
        if not isinstance(limit, int) and not (
            isinstance(limit, str) and limit.isascii() and limit.isdigit()
        ):
            raise errors.invalid_parameter("param limit must be a number")
        limit = max(1, min(100, int(limit)))
        start = _cursor_index(params.get("after"))
        window = pages[start : start + limit]
        now = meta.clock.now()
        data = []
        for page in window:
            page_token = identity.page_token(meta.world, caller.token, page, now)
            data.append(
                {
                    "access_token": page_token.value,
                    "category": page.category,
                    "category_list": [{"id": "2203", "name": page.category}],
                    "name": page.name,
                    "id": page.id,
                    "tasks": page.tasks_of(person_id),
                }
            )
        body: dict[str, Any] = {"data": data}
        if data:
            cursors = {"before": _cursor(start), "after": _cursor(start + len(window) - 1 + 1)}
            body["paging"] = {"cursors": cursors}
            if start + limit < len(pages):
                body["paging"]["next"] = (
                    f"{meta.settings.base_url}/{DEFAULT_API_VERSION}/me/accounts?limit={limit}&after={cursors['after']}"
                )
        return body

    def permissions(self, method: str, name: str | None, token: str | None) -> dict[str, Any]:
        meta = self.meta
        caller = meta.caller(token)
        person_id = identity.require_user_token(caller)
        grant = meta.world.grant(caller.app.id, person_id)
        if method == "GET" and name is None:
            return {"data": [{"permission": p, "status": s} for p, s in grant.permissions.items()]}
        if method != "DELETE":
            raise errors.unsupported_method(method, "me/permissions")
        if name is None:
            # Revoking everything removes the app: every token of this person for it dies.
            grant.permissions.clear()
            meta.world.invalidate_tokens(458, person_id=person_id, app_id=caller.app.id)
        elif name in grant.permissions:
            grant.permissions[name] = "declined"
        return {"success": True}

    async def node(self, node: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        meta = self.meta
        caller = meta.caller(token)
        if node == "me":
            if caller.page_id is not None:
                return await self.page_info(caller.page_id, params, token)
            person_id = identity.require_user_token(caller)
            person = meta.world.person(person_id)
            wanted = fields_of(params, ("id", "name"), (*PROFILE_FIELDS, "email"), "User")
            info = {
                "id": person.id,
                "name": person.name,
                "first_name": person.first_name,
                "last_name": person.last_name,
            }
            # Graph answers a node's id beside whatever fields were asked for (digest §7, §8.10).
            return {k: v for k, v in info.items() if k in wanted or k == "id"}
        if node in meta.world.pages:
            return await self.page_info(node, params, token)
        if node in meta.world.apps:
            app = meta.world.apps[node]
            return {"id": app.id, "name": app.name, "category": app.category, "link": app.link}
        if node in meta.personas:
            persona = meta.personas[node]
            return {
                "id": persona.id,
                "name": persona.name,
                "profile_picture_url": persona.profile_picture_url,
            }
        if caller.page_id is not None and NUMERIC_ID.match(node):
            return await self.profile(caller.page_id, node, params, token)
        raise errors.unknown_path(node)

    async def page_info(
        self, page_id: str, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        meta = self.meta
        await meta.gate("page", page_id)
        caller = meta.caller(token)
        page = meta.world.page(page_id)
        wanted = fields_of(params, ("id", "name"), PAGE_INFO_FIELDS, "Page")
        info: dict[str, Any] = {
            "id": page.id,
            "name": page.name,
            "category": page.category,
            "category_list": [{"id": "2203", "name": page.category}],
            "link": f"https://www.facebook.com/{page.username or page.id}",
            "username": page.username,
            "picture": {
                "data": {
                    "url": f"{meta.settings.base_url}/static/page.svg",
                    "height": 50,
                    "width": 50,
                    "is_silhouette": False,
                }
            },
            "is_published": page.published,
        }
        if "tasks" in wanted and caller.person_id:
            info["tasks"] = page.tasks_of(caller.person_id)
        if "access_token" in wanted and caller.page_id == page.id:
            info["access_token"] = caller.token.value
        if "messaging_feature_status" in wanted:
            info["messaging_feature_status"] = {
                "hop_v2": True,
                "msgr_multi_app": True,
                "ig_multi_app": True,
            }
        return {k: v for k, v in info.items() if k in wanted or k == "id"}

    async def profile(
        self, page_id: str, psid: str, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        meta = self.meta
        caller, page = meta.page_caller(token, page_id)
        await meta.gate("profile", page.id, caller.app.id)
        person = meta.world.person_by_psid(page.id, psid)
        if person is None:
            raise errors.unknown_path(psid)
        wanted = fields_of(
            params, ("first_name", "last_name", "profile_pic", "id"), PROFILE_FIELDS, "User"
        )
        if not meta.thread(page.id, person.id).started:
            return {"id": psid}  # Meta answers an empty object before the person reached the Page
        if person.created_by_phone:
            raise GraphError(
                10,
                "(#10) No profile: this account was created with a phone number",
                subcode=2018218,
            )
        if (
            not caller.app.has_role(person.id)
            and caller.app.access("business_asset_user_profile_access") != "advanced"
        ):
            raise GraphError(
                10, "(#10) Insufficient permission to access user profile", subcode=2018247
            )
        info = {
            "id": psid,
            "name": person.name,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "profile_pic": f"{meta.settings.base_url}/static/avatar.svg?psid={psid}",
            "locale": person.locale,
            "timezone": person.timezone,
            "gender": person.gender,
        }
        # locale, timezone and gender each need their own permission (digest §8.10). Whether Meta
        # errors or omits the field without it is unconfirmed; omitting is the safer reading.
        for name in ("locale", "timezone", "gender"):
            if f"pages_user_{name}" not in caller.app.permissions:
                info.pop(name)
        return {k: v for k, v in info.items() if k in wanted or k == "id"}

    # --- subscriptions ------------------------------------------------------------------------

    async def subscribed_apps(
        self, method: str, node: str, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        meta = self.meta
        caller, page = meta.page_caller(token, node)
        await meta.gate("subscribed_apps", page.id, caller.app.id)
        tasks = page.tasks_of(caller.person_id or "")
        if method == "GET":
            data = []
            for app in meta.world.page_apps(page.id):
                data.append(
                    {
                        "category": app.category,
                        "link": app.link,
                        "name": app.name,
                        "id": app.id,
                        "subscribed_fields": page.subscribed_apps[app.id],
                    }
                )
            return {"data": data}
        if not ({"MODERATE", "MANAGE"} & set(tasks)):
            raise errors.permission_denied(
                "The user needs the MODERATE or MANAGE task on this Page"
            )
        if not identity.has_scope(meta.world, caller, "pages_manage_metadata"):
            raise errors.permission_missing("pages_manage_metadata")
        if method == "DELETE":
            page.subscribed_apps.pop(caller.app.id, None)
            meta._touch()  # noqa: SLF001 - the console shows subscriptions live
            return {"success": True}
        if method != "POST":
            raise errors.unsupported_method(method, f"{node}/subscribed_apps")
        if params.get("subscribed_fields") is None:
            raise errors.invalid_parameter("param subscribed_fields must be non-empty.")
        fields = _field_list(params["subscribed_fields"], "subscribed_fields")
        if not fields:
            raise errors.invalid_parameter("param subscribed_fields must be non-empty.")
        for i, name in enumerate(fields):
            if name not in PAGE_FIELDS:
                allowed = ", ".join(PAGE_FIELDS)
                raise errors.invalid_parameter(
                    f'Param subscribed_fields[{i}] must be one of {{{allowed}}} - got "{name}"'
                )
        messaging = set(PAGE_FIELDS) - {"feed", "inbox_labels"}
        if set(fields) & messaging and not identity.has_scope(
            meta.world, caller, "pages_messaging"
        ):
            raise errors.permission_missing("pages_messaging")
        page.subscribed_apps[caller.app.id] = list(dict.fromkeys(fields))
        meta._touch()  # noqa: SLF001
        return {"success": True}

    async def app_subscriptions(
        self, method: str, node: str, params: dict[str, Any], token: str | None, version: str
    ) -> dict[str, Any]:
        meta = self.meta
        caller = meta.caller(token)
        identity.require_app_token(caller)
        if caller.app.id != node:
            raise errors.permission_denied("The app token does not belong to this app")
        app = caller.app
        await meta.gate("subscriptions", None, app.id)
        if method == "GET":
            sub = app.subscription
            if sub is None:
                return {"data": []}
            return {
                "data": [
                    {
                        "object": "page",
                        "callback_url": sub.callback_url,
                        "active": sub.active,
                        "fields": [{"name": f, "version": sub.version} for f in sub.fields],
                    }
                ]
            }
        if params.get("object", "page") != "page":
            raise errors.invalid_parameter("The emulator only knows object=page")
        if method == "DELETE":
            if app.subscription is not None and params.get("fields"):
                drop = set(_field_list(params["fields"], "fields"))
                app.subscription.fields = [f for f in app.subscription.fields if f not in drop]
            else:
                app.subscription = None
            meta._touch()  # noqa: SLF001
            return {"success": True}
        if method != "POST":
            raise errors.unsupported_method(method, f"{node}/subscriptions")
        url = params.get("callback_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise errors.invalid_parameter("param callback_url must be a valid URL")
        verify_token = params.get("verify_token")
        if not isinstance(verify_token, str) or not verify_token:
            raise errors.invalid_parameter("param verify_token must be non-empty.")
        fields = _field_list(params.get("fields", ""), "fields")
        if not fields:
            raise errors.invalid_parameter("param fields must be non-empty.")
        for name in fields:
            if name not in PAGE_FIELDS:
                raise errors.invalid_parameter(f"Invalid field {name!r} for object page")
        attempt = await meta.subscribe_app(app, url, verify_token, fields, version)
        if not attempt.ok:
            raise GraphError(
                2200,
                f"(#2200) Callback verification failed with the following errors: {attempt.error}",
            )
        return {"success": True}

    # --- Messenger Profile, personas, routing info -----------------------------------------------

    async def messenger_profile(
        self, method: str, node: str, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        meta = self.meta
        caller, page = meta.page_caller(token, node)
        await meta.gate("messenger_profile", page.id, caller.app.id)
        if method == "GET":
            wanted = _field_list(params.get("fields", ""), "fields")
            for name in wanted:
                if name not in MESSENGER_PROFILE_FIELDS:
                    raise errors.invalid_parameter(
                        f"param fields[{name}] is not a Messenger Profile field"
                    )
            found = {k: v for k, v in page.messenger_profile.items() if k in wanted}
            return {"data": [found] if found else []}
        _profile_rate_limit(meta, page)
        if method == "DELETE":
            for name in _field_list(params.get("fields", ""), "fields"):
                page.messenger_profile.pop(name, None)
                if name == "get_started":
                    page.get_started_payload = None
            meta._touch()  # noqa: SLF001
            return {"result": "success"}
        if method != "POST":
            raise errors.unsupported_method(method, f"{node}/messenger_profile")
        updates = {k: v for k, v in params.items() if k in MESSENGER_PROFILE_FIELDS}
        if not updates:
            raise errors.invalid_parameter(
                "Requires one of the params: " + ", ".join(MESSENGER_PROFILE_FIELDS)
            )
        _validate_profile(updates, page)
        page.messenger_profile.update(updates)
        if "get_started" in updates:
            page.get_started_payload = str(updates["get_started"]["payload"])
        meta._touch()  # noqa: SLF001
        return {"result": "success"}

    def personas(
        self, method: str, node: str, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        meta = self.meta
        _, page = meta.page_caller(token, node)
        if method == "GET":
            return {
                "data": [
                    {"id": p.id, "name": p.name, "profile_picture_url": p.profile_picture_url}
                    for p in meta.personas.values()
                    if p.page_id == page.id
                ]
            }
        if method != "POST":
            raise errors.unsupported_method(method, f"{node}/personas")
        name = params.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 50:
            raise errors.invalid_parameter("param name must be 1 to 50 characters")
        picture = params.get("profile_picture_url")
        if not isinstance(picture, str) or not picture.startswith(("http://", "https://")):
            raise errors.invalid_parameter("param profile_picture_url must be a valid URL")
        from .meta import Persona

        persona = Persona(str(secrets.randbelow(9 * 10**14) + 10**14), page.id, name, picture)
        meta.personas[persona.id] = persona
        return {"id": persona.id}

    def secondary_receivers(self, node: str, token: str | None) -> dict[str, Any]:
        meta = self.meta
        _, page = meta.page_caller(token, node)
        return {
            "data": [
                {"id": a.id, "name": a.name}
                for a in meta.world.page_apps(page.id)
                if a.id != page.default_app_id
            ]
        }

    # --- batch ----------------------------------------------------------------------------------

    async def batch(
        self, params: dict[str, Any], token: str | None, version: str
    ) -> list[dict[str, Any] | None]:
        items = params.get("batch")
        if not isinstance(items, list) or not items:
            raise errors.invalid_parameter("param batch must be a non-empty JSON array")
        if len(items) > MAX_BATCH:
            raise errors.invalid_parameter(
                f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}",
                subcode=None,
            )
        # Graph wants a token for the request itself, even when every item names its own: the
        # items that name none are made with it. A refused one refuses the whole request.
        identity.check_token(self.meta.world, token, self.meta.clock.now())
        results: list[dict[str, Any] | None] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("relative_url"), str):
                raise errors.invalid_parameter("Each batch item needs method and relative_url")
            method = str(item.get("method", "GET")).upper()
            url = item["relative_url"]
            path, _, query = url.partition("?")
            sub: dict[str, Any] = {}
            from urllib.parse import parse_qsl

            for key, value in parse_qsl(query) + parse_qsl(str(item.get("body", ""))):
                sub[key] = lenient_json(value)
            sub_token = str(sub.get("access_token") or token or "") or None
            _, parts = split_path(path)
            try:
                body, headers = await self.dispatch(method, parts, sub, sub_token, None, version)
                status = 200
            except GraphError as err:
                body, headers, status = err.body(), err.headers, err.status
            results.append(
                {
                    "code": status,
                    "headers": [{"name": "Content-Type", "value": "text/javascript; charset=UTF-8"}]
                    + [{"name": k, "value": v} for k, v in headers.items()],
                    "body": json.dumps(body),
                }
            )
        return results


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _cursor_index(value: Any) -> int:
    if value is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4)).decode()
        if not text.startswith("idx:"):
            raise ValueError(text)
        return max(0, int(text[4:]))
    except ValueError:
        raise errors.invalid_parameter("Invalid paging cursor") from None


def _profile_rate_limit(meta: Meta, page: Page) -> None:
    """Messenger Profile API: 10 calls per 10 minutes per Page (digest §10)."""
    now = meta.clock.now()
    calls = [t for t in meta.profile_calls.get(page.id, []) if now - t < 600]
    if len(calls) >= 10:
        raise errors.rate_limited({})
    calls.append(now)
    meta.profile_calls[page.id] = calls


def _validate_profile(updates: dict[str, Any], page: Page) -> None:
    get_started = updates.get("get_started")
    if get_started is not None and (
        not isinstance(get_started, dict)
        or not isinstance(get_started.get("payload"), str)
        or not 0 < len(get_started["payload"]) <= 1000
    ):
        raise errors.invalid_parameter("param get_started[payload] must be 1 to 1000 characters")
    greeting = updates.get("greeting")
    if greeting is not None and (
        not isinstance(greeting, list)
        or not all(
            isinstance(g, dict) and isinstance(g.get("text"), str) and len(g["text"]) <= 160
            for g in greeting
        )
    ):
        raise errors.invalid_parameter("param greeting must be a list of {locale, text ≤ 160}")
    menu = updates.get("persistent_menu")
    if menu is not None:
        if "get_started" not in updates and page.get_started_payload is None:
            raise errors.invalid_parameter("A persistent menu needs a Get Started button first")
        if not page.published:  # digest §11: the menu needs a published Page
            raise errors.invalid_parameter("A persistent menu needs a published Page")
        if not isinstance(menu, list):
            raise errors.invalid_parameter("param persistent_menu must be a list")
    breakers = updates.get("ice_breakers")
    if breakers is not None and (not isinstance(breakers, list) or len(breakers) > 4):
        raise errors.invalid_parameter("param ice_breakers must be a list of at most 4 items")
    domains = updates.get("whitelisted_domains")
    if domains is not None and (
        not isinstance(domains, list)
        or len(domains) > 50
        or not all(isinstance(d, str) and d.startswith("https://") for d in domains)
    ):
        raise errors.invalid_parameter("param whitelisted_domains must be a list of https URLs")
