"""A Messenger echo bot built against the Meta emulator, with httpx and the standard library only.

It does what every Messenger bot does on the real Meta, in order:

1. serves a webhook (the verification handshake, and signed event POSTs);
2. has a Page admin log in through the Facebook Login dialog, then trades the code for a
   short-lived and a long-lived user token;
3. finds the Page and its Page token in `me/accounts`;
4. subscribes the app to webhooks (`/{app-id}/subscriptions`, app token) and the app to the Page
   (`/{page-id}/subscribed_apps`, Page token);
5. waits for a person to write, checks the signature, and replies with the Send API.

Only step 5's "a person writes" and the closing transcript use the emulator's control API
(`/_emulator/...`); everything else is the Graph API as Meta documents it, so the same code runs
against graph.facebook.com with real ids. Nothing here imports Frontdesk.

    frontdesk emulator --port 8081 &
    python examples/echo_bot.py --emulator http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import queue
import secrets
import sys
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

GRAPH = "v25.0"
# The ids of the emulator's default world (`frontdesk emulator` with no --scenario).
DEFAULT_APP_ID = "900100200300400"
DEFAULT_APP_SECRET = "demo-app-secret-0123456789abcdef"  # noqa: S105 - the demo world's, not a secret
PAGE_ID = "104857600012345"  # Lisbon Tees
ADMIN_ID = "10150000000000001"  # Morgan Reyes, who manages the Page
CUSTOMER_ID = "7100000000000001"  # João Pereira, a Messenger user
SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata"
FIELDS = "messages,messaging_postbacks"


class BotError(Exception):
    """A step failed; the message says which and why."""


# --- the webhook: what Meta calls ------------------------------------------------------------


class Webhook(BaseHTTPRequestHandler):
    """Answers Meta's handshake and queues the events of every correctly signed POST."""

    verify_token: str
    app_secret: bytes
    events: queue.Queue[dict[str, Any]]

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        # Echo the challenge only to someone who knows our verify token.
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            query.get("hub.verify_token", ""), self.verify_token
        ):
            self._answer(200, query.get("hub.challenge", ""))
        else:
            self._answer(403, "")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        # HMAC the bytes exactly as received: re-encoding the parsed JSON would change the `\u`
        # and `\/` escapes Meta sends, and the digest with them.
        expected = "sha256=" + hmac.new(self.app_secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256", "")):
            self._answer(403, "bad signature")
            return
        body = json.loads(raw)
        # One callback serves every Page the app is on: `entry[].id` says which Page it is for.
        for entry in body.get("entry", []):
            for event in entry.get("messaging", []):
                self.events.put({"page_id": entry["id"], "raw": raw, **event})
        # Answer at once and work later: Meta gives up on a callback after a few seconds.
        self._answer(200, "EVENT_RECEIVED")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # keep the walkthrough's output to the story


def start_webhook(app_secret: str, verify_token: str) -> tuple[ThreadingHTTPServer, queue.Queue]:
    """Serve the webhook on a free loopback port, in a background thread."""
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    handler = type(
        "BotWebhook",
        (Webhook,),
        {"verify_token": verify_token, "app_secret": app_secret.encode(), "events": events},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, events


# --- the Graph API: what we call -------------------------------------------------------------


def graph(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """One Graph call; Meta's error envelope becomes a BotError naming the call."""
    response = client.request(method, f"/{GRAPH}/{path}", **kwargs)
    try:
        body = response.json()
    except ValueError:
        raise BotError(f"{method} {path}: HTTP {response.status_code}, not JSON") from None
    if response.is_error or (isinstance(body, dict) and "error" in body):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code = error.get("code"), error.get("error_subcode")
        raise BotError(f"{method} {path}: {error.get('message', response.text)} {code}")
    return body


class LoginForm(HTMLParser):
    """Reads the Login dialog's grant form the way a browser submits it."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag != "input" or not a.get("name") or "disabled" in a:
            return
        # Hidden fields carry the request; ticked boxes are the Pages and permissions granted.
        if a.get("type") == "hidden" or (a.get("type") == "checkbox" and "checked" in a):
            self.fields.setdefault(str(a["name"]), []).append(a.get("value") or "")


def log_in(client: httpx.Client, app_id: str, redirect_uri: str) -> str:
    """Walk the Login dialog as the Page admin, press Continue, return the code."""
    state = secrets.token_urlsafe(16)  # our CSRF check on the way back
    query = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": SCOPE,
        "response_type": "code",
    }
    # `as=` picks who is signed in to "Facebook" (in a browser, the dialog asks).
    dialog = client.get(f"/{GRAPH}/dialog/oauth", params={**query, "as": ADMIN_ID})
    if dialog.status_code != 200:
        raise BotError(f"the Login dialog answered {dialog.status_code}: {dialog.text[:200]}")
    form = LoginForm()
    form.feed(dialog.text)
    if PAGE_ID not in form.fields.get("page", []):
        raise BotError(f"the Login dialog does not offer Page {PAGE_ID} to {ADMIN_ID}")
    answer = client.post(f"/{GRAPH}/dialog/oauth", data={**form.fields, "action": "allow"})
    if answer.status_code != 302:
        raise BotError(f"the Login dialog did not redirect: {answer.status_code}")
    back = parse_qs(urlparse(answer.headers["location"]).query)
    if back.get("state") != [state]:
        raise BotError("the Login redirect came back with another state: not ours")
    if "code" not in back:
        raise BotError(f"the Login was refused: {back.get('error_description')}")
    return back["code"][0]


def page_token(client: httpx.Client, app: dict[str, str], code: str, redirect_uri: str) -> str:
    """Code → short-lived user token → long-lived one → the Page's token (never expires)."""
    short = graph(
        client,
        "GET",
        "oauth/access_token",
        params={**app, "redirect_uri": redirect_uri, "code": code},
    )
    long = graph(
        client,
        "GET",
        "oauth/access_token",
        params={
            **app,
            "grant_type": "fb_exchange_token",
            "fb_exchange_token": short["access_token"],
        },
    )
    accounts = graph(client, "GET", "me/accounts", params={"access_token": long["access_token"]})
    for page in accounts["data"]:
        if page["id"] == PAGE_ID:
            print(f"Logged in; managing {page['name']} ({page['id']}) with tasks {page['tasks']}")
            return str(page["access_token"])
    raise BotError(f"Page {PAGE_ID} is not in me/accounts")


def subscribe(
    client: httpx.Client, app: dict[str, str], token: str, callback_url: str, verify_token: str
) -> None:
    """App-level subscription (Meta verifies our callback now), then the Page-level one."""
    graph(
        client,
        "POST",
        f"{app['client_id']}/subscriptions",
        data={
            "object": "page",
            "callback_url": callback_url,
            "verify_token": verify_token,
            "fields": FIELDS,
            # An app token is literally "id|secret": only ever used server-side.
            "access_token": f"{app['client_id']}|{app['client_secret']}",
        },
    )
    graph(
        client,
        "POST",
        f"{PAGE_ID}/subscribed_apps",
        params={"subscribed_fields": FIELDS, "access_token": token},
    )
    print(f"Webhook verified at {callback_url}; the app is subscribed to the Page")


# --- the bot ---------------------------------------------------------------------------------


def next_message(events: queue.Queue, timeout: float) -> dict[str, Any]:
    """The next text a person sent (echoes, receipts and the like are skipped)."""
    while True:
        try:
            event = events.get(timeout=timeout)
        except queue.Empty:
            raise BotError(f"no signed webhook arrived within {timeout:g} s") from None
        message = event.get("message", {})
        if message.get("text") and not message.get("is_echo"):
            return event


def reply(client: httpx.Client, token: str, psid: str, text: str) -> str:
    """Answer inside the 24-hour window that the person's message just opened."""
    sent = graph(
        client,
        "POST",
        "me/messages",
        params={"access_token": token},
        json={
            "recipient": {"id": psid},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        },
    )
    return str(sent["message_id"])


def run(args: argparse.Namespace) -> None:
    verify_token = secrets.token_urlsafe(16)
    app = {"client_id": args.app_id, "client_secret": args.app_secret}
    server, events = start_webhook(args.app_secret, verify_token)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(base_url=args.emulator, timeout=args.timeout) as client:
            # The redirect URI only has to be a loopback URL: we read the code off the redirect.
            redirect_uri = f"{base}/login/done"
            code = log_in(client, args.app_id, redirect_uri)
            token = page_token(client, app, code, redirect_uri)
            subscribe(client, app, token, f"{base}/webhook", verify_token)

            # The control API plays the customer typing in Messenger.
            said = client.post(
                "/_emulator/act/message",
                json={"page_id": PAGE_ID, "person_id": CUSTOMER_ID, "text": args.text},
            )
            if said.status_code != 200:
                raise BotError(f"the customer could not write: {said.text}")

            event = next_message(events, args.timeout)
            text, psid = event["message"]["text"], event["sender"]["id"]
            page, size = event["page_id"], len(event["raw"])
            print(
                f"Webhook for Page {page}: {psid} wrote {text!r} ({size} bytes, signature verified)"
            )
            mid = reply(client, token, psid, f"You said: {text}")

            transcript = client.get(
                "/_emulator/conversation", params={"page_id": PAGE_ID, "person_id": CUSTOMER_ID}
            ).json()
    finally:
        server.shutdown()
        server.server_close()
    print("Transcript, as the Messenger client shows it:")
    for message in transcript["messages"]:
        who = "Page  " if message["direction"] == "out" else "Person"
        print(f"  {who}  {message['text'] or '[attachment]'}")
    if mid not in [m["mid"] for m in transcript["messages"]]:
        raise BotError("our reply is missing from the transcript")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emulator", default="http://127.0.0.1:8081", help="emulator base URL")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--text", default="Olá! Do you ship to Porto? 👕", help="what João says")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per step")
    args = parser.parse_args(argv)
    try:
        run(args)
    except BotError as err:
        print(f"echo_bot: {err}", file=sys.stderr)
        return 1
    except httpx.HTTPError as err:
        print(f"echo_bot: cannot talk to the emulator at {args.emulator}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
