"""The Facebook Login dialog (digest §8.1): pick Pages and businesses, grant or decline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlparse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from . import identity
from .meta import Meta
from .world import App

PERSON_COOKIE = "emulator_person"


class DialogError(ValueError):
    """The dialog cannot even start (bad app or redirect URI): shown as Meta's error page."""


def _redirect_allowed(app: App, uri: str) -> bool:
    if app.redirect_uris:
        return uri in app.redirect_uris
    # An app with no registered URIs accepts loopback ones: offline development convenience.
    try:
        parsed = urlparse(uri)
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False  # e.g. "http://[::1": not a URI at all
    return parsed.scheme in ("http", "https") and parsed.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


def _requested(app: App, params: dict[str, str]) -> tuple[list[str], bool]:
    """The permissions asked for, and whether they are all-or-nothing (Login for Business)."""
    config_id = params.get("config_id")
    if config_id:
        config = app.login_config(config_id)
        if config is None:
            raise DialogError(f"Invalid config_id {config_id!r} for this app")
        return list(config.permissions), True
    scope = params.get("scope", "")
    names = [s.strip() for s in scope.replace(" ", ",").split(",") if s.strip()]
    return list(dict.fromkeys(["public_profile", *names])), False


def _context(meta: Meta, params: dict[str, str]) -> dict[str, Any]:
    app = meta.world.apps.get(params.get("client_id", ""))
    if app is None:
        raise DialogError("Invalid App ID: the app does not exist")
    redirect_uri = params.get("redirect_uri", "")
    if not _redirect_allowed(app, redirect_uri):
        raise DialogError(
            "URL Blocked: This redirect failed because the redirect URI is not whitelisted in "
            "the app's Client OAuth Settings."
        )
    response_type = params.get("response_type", "code")
    if response_type != "code":
        raise DialogError("The emulator supports response_type=code only")
    permissions, all_or_nothing = _requested(app, params)
    return {
        "app": app,
        "redirect_uri": redirect_uri,
        "state": params.get("state", ""),
        "scope": params.get("scope", ""),
        "config_id": params.get("config_id", ""),
        "permissions": permissions,
        "all_or_nothing": all_or_nothing,
    }


class LoginDialog:
    def __init__(self, meta: Meta, templates: Jinja2Templates) -> None:
        self.meta = meta
        self.templates = templates

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.submit(request)
        params = dict(request.query_params)
        try:
            context = _context(self.meta, params)
        except DialogError as err:
            return self._error(request, str(err))
        world = self.meta.world
        # An explicit `as` wins over the cookie, even when empty: that is how "Not you?" signs out.
        person_id = params["as"] if "as" in params else request.cookies.get(PERSON_COOKIE, "")
        person = world.people.get(person_id)
        context.update(
            people=list(world.people.values()),
            person=person,
            pages=[p for p in world.pages.values() if person and p.tasks_of(person.id)],
            businesses=[b for b in world.businesses.values() if person and person.id in b.people],
            granted_before=identity.granted_scopes(
                world, context["app"].id, person.id if person else None
            ),
        )
        response = self.templates.TemplateResponse(request, "dialog.html", context)
        if person is not None:
            response.set_cookie(PERSON_COOKIE, person.id, httponly=True, samesite="lax")
        return response

    async def submit(self, request: Request) -> Response:
        form = await request.form(max_fields=500)
        params = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        try:
            context = _context(self.meta, params)
        except DialogError as err:
            return self._error(request, str(err))
        redirect_uri, state = context["redirect_uri"], context["state"]
        if params.get("action") != "allow":
            query = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
                "state": state,
            }
            return RedirectResponse(_append(redirect_uri, query), status_code=302)
        world = self.meta.world
        person = world.people.get(params.get("person_id", ""))
        if person is None:
            return self._error(request, "Pick who is logging in")
        requested = context["permissions"]
        chosen = [str(p) for p in form.getlist("permission") if str(p) in requested]
        if context["all_or_nothing"]:
            chosen = requested  # Login for Business: all requested permissions, or none
        chosen = list(dict.fromkeys(["public_profile", *chosen]))
        declined = [p for p in requested if p not in chosen]
        page_ids = [
            str(p)
            for p in form.getlist("page")
            if str(p) in world.pages and world.pages[str(p)].tasks_of(person.id)
        ]
        business_ids = [
            str(b)
            for b in form.getlist("business")
            if str(b) in world.businesses and person.id in world.businesses[str(b)].people
        ]
        code = identity.authorize(
            world,
            context["app"],
            person.id,
            redirect_uri,
            chosen,
            declined,
            page_ids,
            business_ids,
            self.meta.clock.now(),
        )
        response = RedirectResponse(
            _append(redirect_uri, {"code": code, "state": state}), status_code=302
        )
        response.set_cookie(PERSON_COOKIE, person.id, httponly=True, samesite="lax")
        return response

    def _error(self, request: Request, message: str) -> Response:
        return self.templates.TemplateResponse(
            request, "dialog_error.html", {"message": message}, status_code=400
        )


def _append(uri: str, query: dict[str, str]) -> str:
    separator = "&" if urlparse(uri).query else "?"
    return uri + separator + urlencode(query) + "#_=_"
