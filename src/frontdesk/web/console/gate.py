"""Who is asking, and whether their form may be believed: the session cookie, CSRF tokens and
the Origin check.

A signed-in browser carries the session cookie; its forms carry the session's CSRF token. A
browser that is not signed in (the login, first-run and invitation pages) gets a random form
cookie, and its forms carry the same value (double submit): a page on another site can make
the browser send the cookie, but cannot read it to put it in the form. Every form POST must
also come from our own origin. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from frontdesk.store.accounts import Session

SESSION_COOKIE = "frontdesk_session"
FORM_COOKIE = "frontdesk_form"
CSRF_FIELD = "csrf_token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


class CsrfRejected(Exception):  # noqa: N818 - reads as the condition it reports
    """A form POST without the right token, or from another origin: HTTP 403."""


class SignInRequired(Exception):  # noqa: N818 - reads as the condition it reports
    """The page needs a signed-in person: the browser is sent to the login page."""


def cookie_token(request: Request, name: str) -> str | None:
    """The cookie's value if it has the shape of one of our tokens (anything else is ignored,
    never looked up)."""
    value = request.cookies.get(name)
    return value if value is not None and _TOKEN.fullmatch(value) else None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, public_url: str) -> None:
    """The POST came from a page of ours: its Origin (or, without one, its Referer) is the
    public URL's origin or the one the browser addressed this request to."""
    claimed = request.headers.get("origin")
    if claimed is None or claimed == "null":
        referer = request.headers.get("referer")
        claimed = origin_of(referer) if referer else None
    if not claimed:
        raise CsrfRejected("the form did not say which site it came from (no Origin header)")
    allowed = {origin_of(public_url)}
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host}".lower())
    if claimed.lower() not in allowed:
        raise CsrfRejected("the form was sent from another site")


def check_token(submitted: str, expected: str | None) -> None:
    if expected is None:
        raise CsrfRejected("this browser did not keep the form's cookie: allow cookies")
    if not hmac.compare_digest(submitted.encode("utf-8"), expected.encode("utf-8")):
        raise CsrfRejected("the form is out of date or was not made by Frontdesk")


@dataclass
class Visit:
    """One request's view of the person: their session (or None) and their form token."""

    session: Session | None
    session_token: str | None
    """The session cookie's value as sent (when it opened a session)."""
    form_token: str
    """The CSRF token this browser's forms carry."""
    new_form_cookie: bool = False
    """The anonymous form cookie is new: set it on the response."""

    @classmethod
    def anonymous(cls, request: Request) -> Visit:
        token = cookie_token(request, FORM_COOKIE)
        if token is None:
            return cls(None, None, secrets.token_urlsafe(32), new_form_cookie=True)
        return cls(None, None, token)


class Cookies:
    """The console's cookies: HttpOnly, SameSite=Lax, Secure when the public URL is https."""

    def __init__(self, public_url: str, session_lifetime: float) -> None:
        self.secure = urlsplit(public_url).scheme == "https"
        self.session_lifetime = session_lifetime

    def set_session(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self.session_lifetime),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def set_form(self, response: Response, token: str) -> None:
        # A browser session cookie (no Max-Age): it only has to outlive a form being filled in.
        response.set_cookie(
            FORM_COOKIE, token, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
