"""The Messenger client and the console in headless Chromium, against the emulator on loopback.

One emulator (uvicorn in a background thread) and one browser serve the whole module; every test
chats as a person of its own, so tests do not see each other's conversations.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from frontdesk.emulator import Clock, WebhookSettings, build_meta, create_app, psid_for

from .conftest import (
    ADMIN,
    ALL_FIELDS,
    APP_ID,
    APP_SECRET,
    CALLBACK,
    PAGE,
    PAGE2,
    REDIRECT,
    START,
    VERIFY_TOKEN,
    Receiver,
)

pytestmark = pytest.mark.browser

SCOPE = "pages_show_list,pages_messaging,pages_manage_metadata"
SCREENSHOTS = Path("/tmp")  # screenshots are for a person to look at, never the repo
T = TypeVar("T")


@dataclass
class Served:
    url: str
    http: httpx.Client
    receiver: Receiver
    page_token: str

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.ok(self.http.request(method, f"/_emulator/{path}", json=body))

    def send(self, person: str, body: dict[str, Any]) -> Any:
        """What the Page sends, through the Graph Send API exactly as an app calls it."""
        response = self.http.post(
            "/v25.0/me/messages",
            params={"access_token": self.page_token},
            json={"recipient": {"id": psid_for(PAGE, person)}, **body},
        )
        return self.ok(response)

    def conversation(self, person: str, page: str = PAGE) -> dict[str, Any]:
        result: dict[str, Any] = self.control(
            "GET", f"conversation?page_id={page}&person_id={person}"
        )
        return result

    def events(self, key: str) -> list[dict[str, Any]]:
        self.control("POST", "drain")
        return self.receiver.of_kind(key)


def user_token(served: Served, person: str = ADMIN) -> str:
    """The Login dialog form POST, the code exchange, then the long-lived token (digest §8)."""
    http = served.http
    query = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "st4te", "scope": SCOPE}
    form = {
        **query,
        "person_id": person,
        "action": "allow",
        "page": [PAGE, PAGE2],
        "permission": ["public_profile", *SCOPE.split(",")],
    }
    redirect = http.post("/v25.0/dialog/oauth", data=form)
    assert redirect.status_code == 302, redirect.text
    code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
    app = {"client_id": APP_ID, "client_secret": APP_SECRET}
    short = served.ok(
        http.get(
            "/v25.0/oauth/access_token", params={**app, "redirect_uri": REDIRECT, "code": code}
        )
    )
    long = served.ok(
        http.get(
            "/v25.0/oauth/access_token",
            params={
                **app,
                "grant_type": "fb_exchange_token",
                "fb_exchange_token": short["access_token"],
            },
        )
    )
    return str(long["access_token"])


def page_token(served: Served, page: str = PAGE, person: str = ADMIN) -> str:
    accounts = served.ok(
        served.http.get("/v25.0/me/accounts", params={"access_token": user_token(served, person)})
    )
    return next(str(p["access_token"]) for p in accounts["data"] if p["id"] == page)


def eventually(check: Callable[[], T], seconds: float = 5.0) -> T:
    """Poll `check` until it returns something truthy; the emulator answers asynchronously."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "the condition did not hold in time"
            return result
        time.sleep(0.05)


def png(width: int = 48, height: int = 32) -> bytes:
    """A real PNG (a blue-to-green gradient), so the browser has something to decode."""
    rows = b"".join(
        b"\x00"
        + b"".join(
            bytes((20, 100 + 150 * x // width, 255 - 200 * y // height)) for x in range(width)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The emulator on a free loopback port; webhooks go in-process to a recording receiver."""
    receiver = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    meta = build_meta(
        clock=Clock(START, frozen=True),
        transport=httpx.ASGITransport(app=receiver.app()),
        base_url=url,
        webhooks=WebhookSettings(retry_delays=[0.0, 0.0], seed=7),
    )
    config = uvicorn.Config(
        create_app(meta),
        log_level="warning",
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="emulator")
    thread.start()
    try:
        eventually(lambda: server.started or not thread.is_alive(), seconds=10)
        assert thread.is_alive(), "the emulator did not start"
        with httpx.Client(base_url=url, timeout=10) as http:
            served = Served(url, http, receiver, "")
            served.ok(
                http.post(
                    f"/v25.0/{APP_ID}/subscriptions",
                    data={
                        "object": "page",
                        "callback_url": CALLBACK,
                        "verify_token": VERIFY_TOKEN,
                        "fields": ",".join(ALL_FIELDS),
                        "access_token": f"{APP_ID}|{APP_SECRET}",
                    },
                )
            )
            served.page_token = page_token(served)
            served.ok(
                http.post(
                    f"/v25.0/{PAGE}/subscribed_apps",
                    params={
                        "subscribed_fields": ",".join(ALL_FIELDS),
                        "access_token": served.page_token,
                    },
                )
            )
            yield served
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), "the emulator did not shut down"


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    """A fresh browser context per test; a script error or a missing asset fails the test.

    Control API errors are not in that list: the pages show them inline, and tests check that.
    """
    context = browser.new_context(base_url=served.url, viewport={"width": 1200, "height": 860})
    tab = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text}")

    def response(answer: Response) -> None:
        path = urlparse(answer.url).path
        if answer.status >= 400 and not path.startswith("/_emulator/"):
            problems.append(f"{answer.status} for {answer.url}")

    tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    tab.on("console", console)
    tab.on("response", response)
    try:
        yield tab
    finally:
        context.close()
    assert problems == []


_people = itertools.count(1)


@pytest.fixture
def person(served: Served) -> str:
    """Someone new to the Pages, so each test starts from an empty thread."""
    number = next(_people)
    created = served.control("POST", "people", {"name": f"Inês Costa {number}"})
    return str(created["id"])


def open_chat(page: Page, person: str, page_id: str = PAGE) -> None:
    page.goto(f"/messenger?person={person}&page={page_id}")
    expect(page.locator("#live")).to_have_text("Live")


def say(served: Served, person: str, text: str, page_id: str = PAGE) -> dict[str, Any]:
    result: dict[str, Any] = served.control(
        "POST", "act/message", {"page_id": page_id, "person_id": person, "text": text}
    )
    return result


# --- the Messenger client ------------------------------------------------------------------------


def test_typing_a_message_shows_it_and_stores_it(page: Page, served: Served, person: str) -> None:
    open_chat(page, person)
    expect(page.locator("#welcome")).to_be_visible()
    page.locator("#text").fill("Olá! Do you ship to Lisbon?")
    page.locator("#text").press("Enter")

    expect(page.locator(".msg.me .bubble")).to_have_text("Olá! Do you ship to Lisbon?")
    expect(page.locator("#text")).to_have_value("")
    expect(page.locator("#welcome")).to_be_hidden()
    [message] = served.conversation(person)["messages"]
    assert (message["direction"], message["text"]) == ("in", "Olá! Do you ship to Lisbon?")
    [event] = [e for e in served.events("message") if e["message"]["mid"] == message["mid"]]
    assert event["sender"] == {"id": psid_for(PAGE, person)}
    assert page.url.endswith(f"/messenger?person={person}&page={PAGE}")


def test_a_page_reply_appears_live_and_is_marked_read(
    page: Page, served: Served, person: str
) -> None:
    say(served, person, "Do you have this in blue?")
    open_chat(page, person)
    expect(page.locator(".msg.me .bubble")).to_have_text("Do you have this in blue?")

    sent = served.send(
        person, {"messaging_type": "RESPONSE", "message": {"text": "Yes, in M and L."}}
    )

    reply = page.locator(f"[data-mid='{sent['message_id']}']")
    expect(reply.locator(".bubble")).to_have_text("Yes, in M and L.")
    expect(reply.locator(".sender")).to_have_text("via Frontdesk Demo")
    expect(reply.locator(".status")).to_have_text("Read")
    conversation = served.conversation(person)
    assert conversation["read_watermark"] >= conversation["messages"][-1]["timestamp"]

    persona = served.ok(
        served.http.post(
            f"/v25.0/{PAGE}/personas",
            params={"access_token": served.page_token},
            json={"name": "Rita", "profile_picture_url": f"{served.url}/static/avatar.svg"},
        )
    )
    by_rita = served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {"text": "Rita here!"},
            "persona_id": persona["id"],
        },
    )
    from_rita = page.locator(f"[data-mid='{by_rita['message_id']}']")
    expect(from_rita.locator(".sender")).to_have_text("Sent by Rita · via Frontdesk Demo")
    expect(from_rita.locator("img.avatar")).to_have_attribute(
        "src", f"{served.url}/static/avatar.svg"
    )
    assert [
        e["read"]["watermark"]
        for e in served.events("read")
        if e["sender"]["id"] == psid_for(PAGE, person)
    ]


def test_quick_reply_chips_send_their_payload_and_then_disappear(
    page: Page, served: Served, person: str
) -> None:
    say(served, person, "Which sizes?")
    open_chat(page, person)
    served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Which size?",
                "quick_replies": [
                    {"content_type": "text", "title": "Small", "payload": "SIZE_S"},
                    {"content_type": "text", "title": "Large", "payload": "SIZE_L"},
                ],
            },
        },
    )
    chips = page.locator("#quick-replies .chip")
    expect(chips).to_have_text(["Small", "Large"])

    chips.filter(has_text="Large").click()

    expect(page.locator(".msg.me .bubble").last).to_have_text("Large")
    expect(page.locator("#quick-replies")).to_be_hidden()
    last = served.conversation(person)["messages"][-1]
    assert (last["text"], last["quick_reply_payload"]) == ("Large", "SIZE_L")
    [tap] = [e for e in served.events("message") if e["message"]["mid"] == last["mid"]]
    assert tap["message"]["quick_reply"] == {"payload": "SIZE_L"}


def test_a_button_template_postback_button_sends_a_postback(
    page: Page, served: Served, person: str
) -> None:
    say(served, person, "Where is my order?")
    open_chat(page, person)
    served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "What do you need?",
                        "buttons": [
                            {"type": "postback", "title": "Track order", "payload": "TRACK"},
                            {"type": "web_url", "title": "Shop", "url": f"{served.url}/console"},
                            {
                                "type": "phone_number",
                                "title": "Call us",
                                "payload": "+351210000000",
                            },
                        ],
                    },
                }
            },
        },
    )
    card = page.locator(".tpl-button-template")
    expect(card.locator(".tpl-text")).to_have_text("What do you need?")
    expect(card.locator("a[data-kind=web_url]")).to_have_attribute("target", "_blank")
    expect(card.locator("a[data-kind=phone_number]")).to_contain_text("+351210000000")

    card.get_by_role("button", name="Track order").click()

    expect(page.locator(".msg.me .bubble").last).to_have_text("Track order")
    [postback] = eventually(
        lambda: [
            e for e in served.events("postback") if e["sender"]["id"] == psid_for(PAGE, person)
        ]
    )
    assert postback["postback"]["title"] == "Track order"
    assert postback["postback"]["payload"] == "TRACK"


def test_typing_indicator_follows_sender_actions(page: Page, served: Served, person: str) -> None:
    say(served, person, "Hello?")
    open_chat(page, person)
    expect(page.locator("#typing")).to_be_hidden()

    served.send(person, {"sender_action": "typing_on"})
    expect(page.locator("#typing")).to_be_visible()

    served.send(person, {"sender_action": "typing_off"})
    expect(page.locator("#typing")).to_be_hidden()


def test_seen_appears_after_mark_seen(page: Page, served: Served, person: str) -> None:
    open_chat(page, person)
    page.locator("#text").fill("Is anyone there?")
    page.locator("#text").press("Enter")
    mine = page.locator(".msg.me").last
    expect(mine.locator(".status")).to_have_text("Sent")

    served.send(person, {"sender_action": "mark_seen"})

    expect(mine.locator(".status")).to_have_text("Seen")


def test_sending_an_image_uploads_it_and_shows_it(page: Page, served: Served, person: str) -> None:
    open_chat(page, person)
    page.locator("#file").set_input_files(
        {"name": "shirt.png", "mimeType": "image/png", "buffer": png()}
    )

    image = page.locator(".msg.me .media img")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('.msg.me .media img').naturalWidth === 48")
    [attachment] = served.conversation(person)["messages"][-1]["attachments"]
    assert attachment["type"] == "image"
    assert attachment["payload"]["url"].startswith(f"{served.url}/cdn/")
    assert served.http.get(attachment["payload"]["url"]).content == png()


def test_sending_a_location(page: Page, served: Served, person: str) -> None:
    open_chat(page, person)
    page.get_by_role("button", name="Send a location").click()
    page.locator("#location-preset").select_option(label="Porto, Portugal")
    page.get_by_role("button", name="Send location").click()

    expect(page.locator(".msg.me .map-card")).to_contain_text("41.1579, -8.6291")
    [attachment] = served.conversation(person)["messages"][-1]["attachments"]
    assert attachment["type"] == "location"
    assert attachment["payload"]["coordinates"] == {"lat": 41.1579, "long": -8.6291}


def test_reacting_to_a_page_message(page: Page, served: Served, person: str) -> None:
    say(served, person, "Thanks!")
    sent = served.send(person, {"messaging_type": "RESPONSE", "message": {"text": "Anytime."}})
    open_chat(page, person)
    message = page.locator(f"[data-mid='{sent['message_id']}']")
    message.hover()
    message.get_by_role("button", name="React").click()
    page.locator("#reaction-picker").get_by_role("button", name="Love").click()

    expect(message.locator(".reaction")).to_have_text("❤️")
    reacted = served.conversation(person)["messages"][-1]
    assert reacted["reactions"] == {"user": "❤️"}
    [event] = [e for e in served.events("reaction") if e["reaction"]["mid"] == sent["message_id"]]
    assert event["reaction"]["action"] == "react"


def test_get_started_needs_the_page_to_set_it(page: Page, served: Served, person: str) -> None:
    open_chat(page, person, PAGE2)
    page.get_by_role("button", name="Get Started").click()
    expect(page.locator("#error")).to_contain_text("no Get Started button")
    assert served.conversation(person, PAGE2)["messages"] == []

    served.ok(
        served.http.post(
            "/v25.0/me/messenger_profile",
            params={"access_token": served.page_token},
            json={"get_started": {"payload": "GET_STARTED"}},
        )
    )
    page.get_by_label("with Page").select_option(PAGE)
    expect(page).to_have_url(f"{served.url}/messenger?person={person}&page={PAGE}")
    page.get_by_role("button", name="Get Started").click()

    expect(page.locator(".msg.me .bubble").first).to_have_text("Get Started")
    expect(page.locator("#error")).to_be_hidden()
    [started] = served.conversation(person)["messages"]
    assert started["quick_reply_payload"] == "GET_STARTED"


def test_templates_render_as_cards(page: Page, served: Served, person: str) -> None:
    """A rich thread: generic carousel, receipt, quick replies; screenshotted for a person."""
    picture = f"{served.url}/static/page.svg"
    say(served, person, "Show me your tees")
    served.send(
        person,
        {"messaging_type": "RESPONSE", "message": {"text": "Here are this week's favourites 👕"}},
    )
    served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "generic",
                        "elements": [
                            {
                                "title": f"Tram 28 tee · {colour}",
                                "subtitle": f"100% organic cotton · €{price}",
                                "image_url": picture,
                                "default_action": {"type": "web_url", "url": picture},
                                "buttons": [
                                    {"type": "postback", "title": "Buy", "payload": f"BUY_{n}"},
                                    {"type": "web_url", "title": "Details", "url": picture},
                                ],
                            }
                            for n, (colour, price) in enumerate(
                                [("Yellow", 25), ("Navy", 25), ("Sand", 22)]
                            )
                        ],
                    },
                }
            },
        },
    )
    say(served, person, "Buy the navy one please")
    served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "receipt",
                        "recipient_name": "Inês Costa",
                        "merchant_name": "Lisbon Tees",
                        "order_number": f"LT-{person[-6:]}",
                        "currency": "EUR",
                        "payment_method": "Visa 1234",
                        "elements": [{"title": "Tram 28 tee · Navy", "price": 25, "quantity": 1}],
                        "summary": {"subtotal": 25, "shipping_cost": 4.5, "total_cost": 29.5},
                    },
                }
            },
        },
    )
    served.send(
        person,
        {
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Anything else?",
                "quick_replies": [
                    {"content_type": "text", "title": "That's all", "payload": "DONE"},
                    {"content_type": "text", "title": "Talk to a human", "payload": "HUMAN"},
                ],
            },
        },
    )
    open_chat(page, person)

    cards = page.locator(".carousel .generic-card")
    expect(cards).to_have_count(3)
    expect(cards.first.locator("strong")).to_have_text("Tram 28 tee · Yellow")
    expect(cards.nth(1).locator("small")).to_have_text("100% organic cotton · €25")
    expect(cards.first.locator(".tpl-image img")).to_have_attribute("src", picture)
    receipt = page.locator(".receipt")
    expect(receipt).to_contain_text(f"Order #LT-{person[-6:]}")
    expect(receipt.locator("dd.total")).to_contain_text("29.50")
    expect(page.locator("#quick-replies .chip")).to_have_count(2)

    page.screenshot(path=str(SCREENSHOTS / "frontdesk-messenger.png"))
    cards.nth(1).get_by_role("button", name="Buy").click()
    postbacks = eventually(
        lambda: [
            e for e in served.events("postback") if e["sender"]["id"] == psid_for(PAGE, person)
        ]
    )
    assert postbacks[-1]["postback"]["payload"] == "BUY_1"


# --- the console ---------------------------------------------------------------------------------


def test_console_shows_deliveries_and_token_validity(
    page: Page, served: Served, person: str
) -> None:
    # A second Page admin whose password will change; everyone else's tokens must survive it.
    dana = str(served.control("POST", "people", {"name": "Dana Moreau"})["id"])
    served.control("PUT", f"pages/{PAGE2}/roles/{dana}", {"tasks": ["MESSAGING", "MODERATE"]})
    dana_token = user_token(served, dana)

    page.goto("/console")
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.locator("[data-app-id] h3")).to_have_text(["Frontdesk Demo"])
    expect(page.locator(f"[data-page-id='{PAGE}']")).to_contain_text("message_reads")
    dana_row = page.locator(f"tr[data-token='{dana_token}']")
    expect(dana_row.locator(".token-status")).to_have_text("Valid")

    said = say(served, person, "Is the console watching?")
    served.control("POST", "drain")
    [attempt] = [a for a in served.control("GET", "deliveries")["data"] if said["mid"] in a["body"]]
    entry = page.locator(f".delivery[data-id='{attempt['id']}']")
    expect(entry.locator("summary")).to_contain_text(CALLBACK)
    expect(entry.locator("summary")).to_contain_text("200")
    expect(entry.locator("summary")).to_contain_text(f"{attempt['latency_ms']:.1f} ms")
    entry.locator("summary").click()
    expect(entry.locator("pre.body")).to_contain_text(said["mid"])
    expect(entry.locator("pre.body")).to_contain_text("Is the console watching?")

    served.control("POST", "faults/password-change", {"person_id": dana})

    expect(dana_row.locator(".token-status")).to_contain_text("Invalid · 190/460")
    admin_row = page.locator(f"tr[data-token='{served.page_token}']")
    expect(admin_row.locator(".token-status")).to_have_text("Valid")
    expect(entry).to_have_attribute("open", "")  # the open entry stays open across refreshes

    before = page.locator("#clock-now").inner_text()
    page.get_by_role("button", name="Advance 1 h").click()
    expect(page.locator("#clock-now")).not_to_have_text(before)
    page.screenshot(path=str(SCREENSHOTS / "frontdesk-console.png"), full_page=True)
