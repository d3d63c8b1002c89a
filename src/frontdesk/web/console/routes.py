"""The console's URL map: every page and form, behind the gate, with errors mapped to HTTP here.

`signed_in` views need a session (else the browser goes to the login page); `anonymous` views
(first run, login, invitations) work without one. Every POST is checked before its view runs:
the session (of a signed-in view) and the Origin before its body is read, then the size and
shape of the form, and the CSRF token (a file upload's before a byte of its file is written).

Plain Starlette routes, like the webhook's: these are server-rendered form pages, and FastAPI's
additions (JSON models, OpenAPI) would serve none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from frontdesk.store import accounts
from frontdesk.store import channels as channel_store
from frontdesk.store.channels import ChannelSummary
from frontdesk.web.access import Forbidden, NotFound

from . import account, checks, connect, home, linking, manual, meta_app, removing, signin, team
from .botpage import routes as bot_routes
from .context import Ask, Console
from .forms import Fields, FormReader, FormRefused, read_plain_form
from .gate import (
    CSRF_FIELD,
    SESSION_COOKIE,
    CsrfRejected,
    SignInRequired,
    Visit,
    check_origin,
    check_token,
    cookie_token,
)
from .pages import redirect

View = Callable[[Console, Ask], Awaitable[Response]]
log = logging.getLogger("frontdesk.console")


async def _visit(
    console: Console, request: Request
) -> tuple[Visit, accounts.Workspace | None, list[ChannelSummary]]:
    token = cookie_token(request, SESSION_COOKIE)
    if token is None:
        return Visit.anonymous(request), None, []
    limits = console.config
    async with console.engine.begin() as conn:
        session = await accounts.session_for(
            conn,
            token,
            console.clock(),
            idle=limits.session_idle,
            lifetime=limits.session_lifetime,
        )
        if session is None:
            return Visit.anonymous(request), None, []
        workspace = await accounts.workspace(conn, session.user.workspace_id)
        # The banner of every page: the workspace's channels with a problem.
        flagged = await channel_store.flagged(conn, session.user.workspace_id)
    return Visit(session, token, session.csrf_token), workspace, flagged


def _error(console: Console, ask: Ask, status: int, title: str, detail: str) -> Response:
    return ask.render(console, "error.html", status, title=title, detail=detail)


def gate(
    console: Console, view: View, *, signed_in: bool, reader: FormReader = read_plain_form
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        visit, workspace, flagged = await _visit(console, request)
        if not signed_in and visit.session is not None:
            # Pages for people without a session use the form cookie, even in a signed-in
            # browser: their forms create accounts and sessions, never act as the session.
            # The session's cookie stays known, so that a login can end it (rotation).
            previous = visit.session_token
            visit, workspace, flagged = Visit.anonymous(request), None, []
            visit.session_token = previous
        ask = Ask(request, visit, Fields({}), workspace, flagged)
        try:
            if signed_in and visit.session is None:
                raise SignInRequired
            if request.method == "POST":
                # The session (above) and the Origin before a byte of the body is read; the
                # token as soon as the reader meets it (an upload's comes before its file).
                check_origin(request, console.config.public_url)
                expected = None if visit.new_form_cookie else visit.form_token

                def token(submitted: str) -> None:
                    check_token(submitted, expected)

                ask.form = Fields(await reader(request, console.config.max_form_bytes, token))
                check_token(ask.form.raw(CSRF_FIELD), expected)
            response = await view(console, ask)
        except SignInRequired:
            target = request.url.path
            if request.method == "GET" and target != "/":
                response = _redirect_to_login(target)
            else:
                response = _redirect_to_login(None)
        except CsrfRejected as err:
            log.warning("form refused: %s (%s %s)", err, request.method, request.url.path)
            response = _error(
                console,
                ask,
                403,
                "This form cannot be accepted",
                f"Frontdesk refused it because {err}. Go back, reload the page and try again.",
            )
        except FormRefused as err:
            response = _error(
                console, ask, err.status, "This form cannot be read", f"{_sentence(err)}."
            )
        except NotFound:
            response = _error(
                console, ask, 404, "Not found", "There is nothing here, or not for your account."
            )
        except Forbidden as err:
            response = _error(console, ask, 403, "Not allowed", f"{_sentence(err)}.")
        if visit.new_form_cookie:
            console.cookies.set_form(response, visit.form_token)
        return response

    return endpoint


def _sentence(err: Exception) -> str:
    text = str(err)
    return text[:1].upper() + text[1:]


def _redirect_to_login(target: str | None) -> Response:
    return redirect("/login" if target is None else f"/login?next={quote(target, safe='/')}")


def console_routes(console: Console) -> list[BaseRoute]:
    """Every route of the console; app.py mounts them beside the webhook's."""

    def page(path: str, view: View, *, methods: list[str], signed_in: bool = True) -> Route:
        return Route(path, gate(console, view, signed_in=signed_in), methods=methods)

    return [
        page("/", home.dashboard, methods=["GET"]),
        page("/channels/{channel_id:int}", home.channel, methods=["GET"]),
        *bot_routes(page),
        page("/channels/{channel_id:int}/live", home.live, methods=["GET"]),
        page("/channels/{channel_id:int}/test-message", home.send_test, methods=["POST"]),
        page("/channels/{channel_id:int}/link", linking.show, methods=["GET"]),
        page("/channels/{channel_id:int}/link", linking.save, methods=["POST"]),
        page("/channels/{channel_id:int}/reconnect", connect.reconnect, methods=["GET"]),
        page("/channels/{channel_id:int}/remove", removing.show, methods=["GET"]),
        page("/channels/{channel_id:int}/remove", removing.remove, methods=["POST"]),
        page("/channels/{channel_id:int}/doctor", checks.show, methods=["GET"]),
        page("/channels/{channel_id:int}/doctor", checks.run, methods=["POST"]),
        page("/channels/connect", connect.start, methods=["GET"]),
        page("/channels/connect/facebook", connect.facebook, methods=["GET"]),
        page("/channels/connect/callback", connect.callback, methods=["GET"]),
        page("/channels/connect/{login_id:int}", connect.choose_page, methods=["GET"]),
        page("/channels/connect/{login_id:int}", connect.choose, methods=["POST"]),
        page("/channels/connect/{login_id:int}/progress", connect.progress_page, methods=["GET"]),
        page("/channels/connect/{login_id:int}/next", connect.next_page, methods=["POST"]),
        page("/channels/manual", manual.start, methods=["GET"]),
        page("/channels/manual", manual.create, methods=["POST"]),
        page("/channels/manual/{hook_id:int}", manual.show, methods=["GET"]),
        page("/channels/manual/{hook_id:int}", manual.connect, methods=["POST"]),
        page("/channels/manual/{hook_id:int}/discard", manual.discard, methods=["POST"]),
        page("/setup", signin.setup_page, methods=["GET"], signed_in=False),
        page("/setup", signin.setup, methods=["POST"], signed_in=False),
        page("/login", signin.login_page, methods=["GET"], signed_in=False),
        page("/login", signin.login, methods=["POST"], signed_in=False),
        page("/logout", signin.logout, methods=["POST"]),
        page("/invitations/{token}", signin.invitation_page, methods=["GET"], signed_in=False),
        page("/invitations/{token}", signin.accept_invitation, methods=["POST"], signed_in=False),
        page("/team", team.show, methods=["GET"]),
        page("/team/invitations", team.invite, methods=["POST"]),
        page("/team/invitations/{invitation_id:int}/revoke", team.revoke, methods=["POST"]),
        page("/team/members/{member_id:int}/role", team.change_role, methods=["POST"]),
        page("/team/members/{member_id:int}/remove", team.remove, methods=["POST"]),
        page("/settings/meta", meta_app.show, methods=["GET"]),
        page("/settings/meta", meta_app.save, methods=["POST"]),
        page("/settings/meta/verify-token", meta_app.regenerate, methods=["POST"]),
        page("/account", account.show, methods=["GET"]),
        page("/account/password", account.change_password, methods=["POST"]),
        Mount(
            "/assets",
            app=StaticFiles(packages=[("frontdesk.web.console", "static")]),
            name="assets",
        ),
    ]
