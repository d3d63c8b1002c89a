"""Rendering the console's pages: Jinja2 templates, escaped by default, with the headers every
console response carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .status import LINK_WORDS, STATUS_WORDS

# Everything is served from here (no CDN: it works offline); no inline script or style, no
# framing, forms post only back to us. Pages show account data: never cached.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Invitation links carry their token in the path: it must not leave in a Referer.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("frontdesk.web.console", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a missing value is a bug, not an empty string
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = when
        self.env.globals["status_words"] = STATUS_WORDS
        self.env.globals["link_words"] = LINK_WORDS

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> Response:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(url: str) -> Response:
    """303 See Other: after a form, the browser GETs the next page (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default`: a login's `next` must not send
    the person to another site ("//evil.example", "https://…", "/\\evil" all fail)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    return target
