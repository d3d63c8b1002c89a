"""The control API under `/_emulator/`: build the world, act as people, inject faults, move time."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import GraphError
from .meta import MAX_IMAGE_UPLOAD, Meta
from .scenario import ScenarioError, dump_world
from .world import ALL_TASKS, APP_ROLES, App, Page, Person, WorldError, new_token

MAX_CONTROL_BODY = 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class InvalidRequestError(ValueError):
    """The control request is malformed; answered 400 with the reason."""


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_CONTROL_BODY:
        raise InvalidRequestError("the request body is larger than 1 MiB")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise InvalidRequestError(f"the body is not valid JSON: {err}") from err
    except RecursionError as err:
        raise InvalidRequestError("the body is nested too deeply") from err
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


def _str(body: dict[str, Any], key: str, *, required: bool = True, limit: int = 5000) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidRequestError(f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRequestError(f"{key} must be a string")
    text = str(value)
    if len(text) > limit:
        raise InvalidRequestError(f"{key} is longer than {limit} characters")
    return text


def _guard(handler: Callable[[Meta, Request], Awaitable[Response]], meta: Meta) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(meta, request)
        except InvalidRequestError as err:
            return _problem(400, str(err))
        except (ValueError, ScenarioError) as err:
            return _problem(400, str(err))
        except WorldError as err:
            return _problem(404, str(err))
        except GraphError as err:
            return _problem(409, err.message)

    return endpoint


def _person_of(meta: Meta, body: dict[str, Any]) -> tuple[str, str]:
    page_id = _str(body, "page_id") or ""
    meta.world.page(page_id)
    person_id = _str(body, "person_id", required=False)
    if person_id is None:
        psid = _str(body, "psid", required=False)
        if psid is None:
            raise InvalidRequestError("person_id or psid is required")
        person = meta.world.person_by_psid(page_id, psid)
        if person is None:
            raise WorldError(f"no person with PSID {psid} on Page {page_id}")
        person_id = person.id
    meta.world.person(person_id)
    return page_id, person_id


def _app_view(app: App) -> dict[str, Any]:
    sub = app.subscription
    return {
        "id": app.id,
        "name": app.name,
        "secret": app.secret,
        "mode": app.mode,
        "permissions": app.permissions,
        "features": app.features,
        "roles": app.roles,
        "redirect_uris": app.redirect_uris,
        "login_configs": [
            {"id": c.id, "name": c.name, "permissions": c.permissions} for c in app.login_configs
        ],
        "subscription": None
        if sub is None
        else {
            "callback_url": sub.callback_url,
            "fields": sub.fields,
            "active": sub.active,
            "version": sub.version,
        },
    }


def _page_view(meta: Meta, page: Page) -> dict[str, Any]:
    return {
        "id": page.id,
        "name": page.name,
        "category": page.category,
        "username": page.username,
        "published": page.published,
        "restricted": page.restricted,
        "messaging_enabled": page.messaging_enabled,
        "business_id": page.business_id,
        "roles": page.roles,
        "subscribed_apps": page.subscribed_apps,
        "default_app_id": page.default_app_id,
        "blocked_by": page.blocked_by,
        "get_started_payload": page.get_started_payload,
        "psids": {p: meta.thread(page.id, p).psid for p in meta.world.people},
    }


def _person_view(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "locale": person.locale,
    }


# --- world ---------------------------------------------------------------------------------


async def world_view(meta: Meta, request: Request) -> Response:
    return _ok(
        {
            "apps": [_app_view(a) for a in meta.world.apps.values()],
            "people": [_person_view(p) for p in meta.world.people.values()],
            "businesses": [
                {"id": b.id, "name": b.name, "page_ids": b.page_ids, "people": b.people}
                for b in meta.world.businesses.values()
            ],
            "pages": [_page_view(meta, p) for p in meta.world.pages.values()],
            "clock": meta.clock.now(),
        }
    )


async def world_dump(meta: Meta, request: Request) -> Response:
    return _ok(dump_world(meta.world, list(meta.threads.values()), meta.clock.now()))


async def create_app(meta: Meta, request: Request) -> Response:
    body = await _json(request)
    app_id = _str(body, "id", required=False) or meta.world.new_id()
    if app_id in meta.world.apps:
        raise InvalidRequestError(f"app {app_id} exists")
    app = App(
        id=app_id,
        secret=_str(body, "secret", required=False) or new_token("s")[:32],
        name=_str(body, "name", required=False, limit=100) or "Test App",
    )
    _patch_app(meta, app, body)
    meta.world.apps[app.id] = app
    return _ok(_app_view(app), 201)


def _patch_app(meta: Meta, app: App, body: dict[str, Any]) -> None:
    if "mode" in body:
        if body["mode"] not in ("development", "live"):
            raise InvalidRequestError("mode must be development or live")
        app.mode = body["mode"]
    if "permissions" in body:
        perms = body["permissions"]
        if not isinstance(perms, dict) or any(
            v not in ("standard", "advanced") for v in perms.values()
        ):
            raise InvalidRequestError(
                "permissions must map permission names to standard or advanced"
            )
        app.permissions = {str(k): v for k, v in perms.items()}
    if "features" in body:
        if not isinstance(body["features"], list) or not all(
            isinstance(f, str) for f in body["features"]
        ):
            raise InvalidRequestError("features must be a list of names")
        app.features = list(body["features"])
    if "roles" in body:
        roles = body["roles"]
        if not isinstance(roles, dict) or any(r not in APP_ROLES for r in roles.values()):
            raise InvalidRequestError(f"roles must map person ids to one of {', '.join(APP_ROLES)}")
        for person_id in roles:
            meta.world.person(str(person_id))
        app.roles = {str(k): str(v) for k, v in roles.items()}
    if "redirect_uris" in body:
        if not isinstance(body["redirect_uris"], list):
            raise InvalidRequestError("redirect_uris must be a list")
        app.redirect_uris = [str(u) for u in body["redirect_uris"]]
    if "name" in body:
        app.name = _str(body, "name", limit=100) or app.name


async def patch_app(meta: Meta, request: Request) -> Response:
    app = meta.world.app(request.path_params["app_id"])
    _patch_app(meta, app, await _json(request))
    return _ok(_app_view(app))


async def create_person(meta: Meta, request: Request) -> Response:
    body = await _json(request)
    person_id = _str(body, "id", required=False) or meta.world.new_id()
    if person_id in meta.world.people:
        raise InvalidRequestError(f"person {person_id} exists")
    person = Person(
        id=person_id,
        name=_str(body, "name", limit=100) or "",
        locale=_str(body, "locale", required=False, limit=10) or "en_US",
    )
    person.created_by_phone = bool(body.get("created_by_phone", False))
    meta.world.people[person.id] = person
    return _ok(_person_view(person), 201)


async def create_page(meta: Meta, request: Request) -> Response:
    body = await _json(request)
    page_id = _str(body, "id", required=False) or meta.world.new_id()
    if page_id in meta.world.pages:
        raise InvalidRequestError(f"page {page_id} exists")
    page = Page(
        id=page_id,
        name=_str(body, "name", limit=100) or "",
        category=_str(body, "category", required=False, limit=100) or "Business",
    )
    roles = body.get("roles", {})
    if not isinstance(roles, dict):
        raise InvalidRequestError("roles must map person ids to task lists")
    for person_id, tasks in roles.items():
        meta.world.person(str(person_id))
        if not isinstance(tasks, list) or any(t not in ALL_TASKS for t in tasks):
            raise InvalidRequestError(f"tasks must be from {', '.join(ALL_TASKS)}")
        page.roles[str(person_id)] = list(tasks)
    meta.world.pages[page.id] = page
    meta.set_page_state(
        page.id,
        {k: v for k, v in body.items() if k in ("published", "restricted", "messaging_enabled")},
    )
    return _ok(_page_view(meta, page), 201)


async def patch_page(meta: Meta, request: Request) -> Response:
    page = meta.set_page_state(request.path_params["page_id"], await _json(request))
    return _ok(_page_view(meta, page))


async def page_role(meta: Meta, request: Request) -> Response:
    page_id, person_id = request.path_params["page_id"], request.path_params["person_id"]
    if request.method == "DELETE":
        return _ok({"tokens_invalidated": meta.remove_page_role(page_id, person_id)})
    tasks = (await _json(request)).get("tasks")
    if not isinstance(tasks, list) or any(t not in ALL_TASKS for t in tasks) or not tasks:
        raise InvalidRequestError(f"tasks must be a non-empty list from {', '.join(ALL_TASKS)}")
    meta.set_page_role(page_id, person_id, tasks)
    return _ok({"page_id": page_id, "person_id": person_id, "tasks": tasks})


# --- acting as people -------------------------------------------------------------------------

ATTACHMENT_KINDS = ("image", "audio", "video", "file", "sticker", "fallback", "location")


def _attachments(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 10:
        raise InvalidRequestError("attachments must be a list of at most 10 items")
    for item in value:
        if not isinstance(item, dict) or item.get("type") not in ATTACHMENT_KINDS:
            raise InvalidRequestError(
                f"each attachment needs a type from {', '.join(ATTACHMENT_KINDS)}"
            )
    return value


def _location(body: dict[str, Any]) -> dict[str, Any]:
    try:
        lat, long = float(body["lat"]), float(body["long"])
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidRequestError("a location needs numeric lat and long") from err
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise InvalidRequestError("lat/long out of range")
    return {
        "type": "location",
        "title": _str(body, "title", required=False, limit=200) or "Pinned Location",
        "url": f"https://www.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps%2F%3Fcp%3D{lat}%257E{long}",
        "payload": {"coordinates": {"lat": lat, "long": long}},
    }


async def act(meta: Meta, request: Request) -> Response:
    action = request.path_params["action"]
    body = await _json(request)
    if action == "policy_enforcement":
        meta.policy_enforcement(
            _str(body, "page_id") or "",
            _str(body, "action") or "",
            _str(body, "reason", required=False),
        )
        return _ok({"ok": True})
    page_id, person_id = _person_of(meta, body)
    if action == "message":
        attachments = _attachments(body.get("attachments"))
        if body.get("location") is not None:
            loc = body["location"]
            if not isinstance(loc, dict):
                raise InvalidRequestError("location must be an object with lat and long")
            attachments = [*(attachments or []), _location(loc)]
        message = meta.user_message(
            page_id,
            person_id,
            text=_str(body, "text", required=False),
            attachments=attachments,
            quick_reply=_str(body, "quick_reply", required=False, limit=1000),
            reply_to=_str(body, "reply_to", required=False, limit=200),
        )
        return _ok(message.view())
    if action == "postback":
        message = meta.user_postback(
            page_id,
            person_id,
            _str(body, "title", limit=100) or "",
            _str(body, "payload", limit=1000) or "",
        )
        return _ok(message.view())
    if action == "get_started":
        message = meta.user_get_started(
            page_id, person_id, _str(body, "ref", required=False, limit=2083)
        )
        return _ok(message.view())
    if action == "reaction":
        meta.user_reaction(
            page_id,
            person_id,
            _str(body, "mid") or "",
            _str(body, "emoji", required=False, limit=16),
        )
        return _ok({"ok": True})
    if action == "read":
        return _ok({"watermark": meta.user_read(page_id, person_id)})
    if action == "delivery":
        return _ok({"watermark": meta.user_delivered(page_id, person_id)})
    if action == "referral":
        meta.user_referral(page_id, person_id, body)
        return _ok({"ok": True})
    if action == "optin":
        return _ok(
            {
                "user_ref": meta.user_optin(
                    page_id,
                    person_id,
                    {k: v for k, v in body.items() if k not in ("page_id", "person_id", "psid")},
                )
            }
        )
    if action == "edit":
        meta.user_edit(page_id, person_id, _str(body, "mid") or "", _str(body, "text") or "")
        return _ok({"ok": True})
    if action in ("block", "unblock"):
        meta.user_block(page_id, person_id, action == "block")
        return _ok({"ok": True})
    if action == "page_inbox_reply":
        return _ok(meta.page_inbox_reply(page_id, person_id, _str(body, "text") or "").view())
    if action == "account_linking":
        meta.account_linking(page_id, person_id, _str(body, "status") or "")
        return _ok({"ok": True})
    raise WorldError(f"no action {action}")


async def upload(meta: Meta, request: Request) -> Response:
    """A person attaches a file: stored on the emulator's CDN, returned as an attachment."""
    # The form owns spooled temporary files: closing it here, not at garbage collection.
    async with request.form(max_files=1, max_fields=5) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidRequestError("send the file as multipart field 'file'")
        content = await file.read(MAX_IMAGE_UPLOAD * 4 + 1)
    if len(content) > MAX_IMAGE_UPLOAD * 4:
        raise InvalidRequestError("files are limited to 32 MiB")
    content_type = file.content_type or "application/octet-stream"
    kind = next(
        (k for k in ("image", "audio", "video") if content_type.startswith(k + "/")), "file"
    )
    name = (
        "".join(c for c in (file.filename or "upload") if c.isalnum() or c in "._-")[:80]
        or "upload"
    )
    media = meta.store_media(content, content_type, name)
    return _ok({"type": kind, "payload": {"url": meta.media_url(media)}})


async def conversation(meta: Meta, request: Request) -> Response:
    page_id, person_id = _person_of(meta, dict(request.query_params))
    return _ok(meta.thread(page_id, person_id).view(meta.clock.now()))


async def sent(meta: Meta, request: Request) -> Response:
    page_id, person_id = _person_of(meta, dict(request.query_params))
    thread = meta.thread(page_id, person_id)
    return _ok({"data": [m.view() for m in thread.messages if m.direction == "out"]})


# --- webhooks, faults, time, settings --------------------------------------------------------


async def deliveries(meta: Meta, request: Request) -> Response:
    app_id = request.query_params.get("app_id")
    try:
        limit = max(1, min(5000, int(request.query_params.get("limit", "200"))))
    except ValueError as err:
        raise InvalidRequestError("limit must be a number") from err
    log = [a.view() for a in meta.webhooks.log if app_id in (None, a.app_id)]
    return _ok({"data": log[-limit:]})


async def alerts(meta: Meta, request: Request) -> Response:
    return _ok({"data": [a.view() for a in meta.webhooks.alerts]})


async def drain(meta: Meta, request: Request) -> Response:
    await meta.drain()
    return _ok({"drained": True})


async def faults(meta: Meta, request: Request) -> Response:
    if request.method == "GET":
        return _ok({"data": [f.view() for f in meta.faults.all()]})
    if request.method == "DELETE":
        return _ok({"cleared": meta.faults.clear()})
    return _ok(meta.faults.add(await _json(request)).view(), 201)


async def fault_delete(meta: Meta, request: Request) -> Response:
    try:
        fault_id = int(request.path_params["fault_id"])
    except ValueError as err:
        raise InvalidRequestError("fault id must be a number") from err
    return _ok({"cleared": meta.faults.clear(fault_id)})


async def world_fault(meta: Meta, request: Request) -> Response:
    """Faults that change the world: password change, expiry, role loss, app removal."""
    kind = request.path_params["kind"]
    body = await _json(request)
    if kind == "password-change":
        return _ok({"tokens_invalidated": meta.change_password(_str(body, "person_id") or "")})
    if kind == "expire-token":
        token, person_id = (
            _str(body, "token", required=False),
            _str(body, "person_id", required=False),
        )
        if token is None and person_id is None:
            raise InvalidRequestError("token or person_id is required")
        return _ok({"tokens_expired": meta.expire_tokens(person_id=person_id, token=token)})
    if kind == "remove-role":
        return _ok(
            {
                "tokens_invalidated": meta.remove_page_role(
                    _str(body, "page_id") or "", _str(body, "person_id") or ""
                )
            }
        )
    if kind == "remove-app":
        return _ok(
            {
                "tokens_invalidated": meta.remove_app_from_page(
                    _str(body, "page_id") or "", _str(body, "app_id") or ""
                )
            }
        )
    raise WorldError(f"no fault {kind}")


async def clock(meta: Meta, request: Request) -> Response:
    if request.method == "POST":
        seconds = (await _json(request)).get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= 10 * 365 * 86400
        ):
            raise InvalidRequestError("seconds must be a number between 0 and ten years")
        meta.clock.advance(float(seconds))
    return _ok(
        {"now": meta.clock.now(), "now_ms": meta.clock.now_ms(), "frozen": meta.clock.frozen}
    )


async def settings(meta: Meta, request: Request) -> Response:
    if request.method == "PATCH":
        body = await _json(request)
        for key in body:
            if key not in ("webhooks", "meta", "rate_limits"):
                raise InvalidRequestError("settings has sections webhooks, meta and rate_limits")
        if isinstance(body.get("webhooks"), dict):
            meta.webhook_settings.update(body["webhooks"])
        if isinstance(body.get("meta"), dict):
            meta.settings.update(body["meta"])
        if isinstance(body.get("rate_limits"), dict):
            for key, value in body["rate_limits"].items():
                if (
                    key not in ("text_per_second", "media_per_second")
                    or not isinstance(value, int)
                    or value < 1
                ):
                    raise InvalidRequestError(
                        "rate_limits: text_per_second and media_per_second, positive integers"
                    )
                setattr(meta.rate_limits, key, value)
    return _ok(
        {
            "webhooks": meta.webhook_settings.view(),
            "meta": {k: getattr(meta.settings, k) for k in meta.settings.__dataclass_fields__},
            "rate_limits": {
                "text_per_second": meta.rate_limits.text_per_second,
                "media_per_second": meta.rate_limits.media_per_second,
            },
        }
    )


async def tokens(meta: Meta, request: Request) -> Response:
    now = meta.clock.now()
    from .identity import token_problem

    data = []
    for token in meta.world.tokens.values():
        problem = token_problem(meta.world, token, now)
        data.append(
            {
                "token": token.value,
                "type": token.type_name,
                "kind": token.kind,
                "app_id": token.app_id,
                "person_id": token.person_id,
                "page_id": token.page_id,
                "issued_at": token.issued_at,
                "expires_at": token.expires_at,
                "valid": problem is None,
                "error": None
                if problem is None
                else {"code": problem.code, "subcode": problem.subcode, "message": problem.message},
            }
        )
    return _ok({"data": data})


def routes(meta: Meta) -> list[Route]:
    def r(
        path: str, handler: Callable[[Meta, Request], Awaitable[Response]], methods: list[str]
    ) -> Route:
        return Route("/_emulator" + path, _guard(handler, meta), methods=methods)

    return [
        r("/world", world_view, ["GET"]),
        r("/world/dump", world_dump, ["GET"]),
        r("/apps", create_app, ["POST"]),
        r("/apps/{app_id}", patch_app, ["PATCH"]),
        r("/people", create_person, ["POST"]),
        r("/pages", create_page, ["POST"]),
        r("/pages/{page_id}", patch_page, ["PATCH"]),
        r("/pages/{page_id}/roles/{person_id}", page_role, ["PUT", "DELETE"]),
        r("/act/upload", upload, ["POST"]),
        r("/act/{action}", act, ["POST"]),
        r("/conversation", conversation, ["GET"]),
        r("/sent", sent, ["GET"]),
        r("/deliveries", deliveries, ["GET"]),
        r("/alerts", alerts, ["GET"]),
        r("/drain", drain, ["POST"]),
        r("/faults", faults, ["GET", "POST", "DELETE"]),
        r("/faults/{fault_id:int}", fault_delete, ["DELETE"]),
        r("/faults/{kind}", world_fault, ["POST"]),
        r("/clock", clock, ["GET"]),
        r("/clock/advance", clock, ["POST"]),
        r("/settings", settings, ["GET", "PATCH"]),
        r("/tokens", tokens, ["GET"]),
    ]
