"""The inbox in headless Chromium, the emulator's Messenger client on the other side: the
stories of docs/inbox.md, as an agent and a customer live them. Screenshots of each step are
kept in test-results/inbox/ (ignored by git, removed by `make clean`)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from frontdesk.core.people import Role
from frontdesk.store import outbox

from .stage import CHLOE, JOAO, PASSWORD, Stage, Tab, staged

pytestmark = pytest.mark.browser

HOUR = 3600.0


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    with staged(Path(tmp_path_factory.mktemp("inbox"))) as made:
        made.member("morgan@example.com", "Morgan Reyes", Role.OWNER)
        made.member("ana@example.com", "Ana Lima", Role.AGENT)
        yield made


def log_in(tab: Tab, email: str) -> Page:
    page = tab.page
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator("#live-state")).to_have_text("Live")
    return page


def row(page: Page, text: str):
    return page.locator("#conversations .row").filter(has_text=text)


def test_a_customer_writes_and_the_open_inbox_shows_it_live(browser: Browser, stage: Stage) -> None:
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    agent.shot("01-inbox-empty")

    stage.say("Olá! Do you have the M size? 👕", person=CHLOE)
    stage.say("Olá! Where is my order?", person=JOAO)
    # No reload: the rows come in as the customers write (the demo Page's bot answers them),
    # the newest first, unread.
    expect(row(page, "João Pereira")).to_be_visible()
    expect(page.locator("#conversations .row").first).to_contain_text("João Pereira")
    expect(row(page, "Chloé Martin")).to_contain_text("Unread: 1")
    agent.shot("02-inbox-live")

    row(page, "João Pereira").get_by_role("link").click()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Olá! Where is my order?")
    # Shown, so read: the page's script says so (the page itself, a GET, changes nothing).
    expect(page.get_by_role("button", name="Mark as read")).to_have_count(0)
    expect(row(page, "João Pereira")).not_to_contain_text("Unread")
    expect(row(page, "Chloé Martin")).to_contain_text("Unread: 1")
    expect(page.locator("#window")).to_contain_text(re.compile(r"Replies allowed for 2[34] h"))
    stage.say("Are you there?", person=JOAO)
    expect(transcript).to_contain_text("Are you there?")  # the open conversation, live too
    agent.shot("03-conversation")
    agent.close()


def messenger(browser: Browser, stage: Stage, person: str) -> tuple[Tab, Page]:
    """The customer's side: the emulator's Messenger client, chatting with the demo Page."""
    customer = Tab(browser, stage.emulator)
    page = customer.page
    page.goto(f"/messenger?person={person}&page={stage.page_id}")
    expect(page.locator("#live")).to_contain_text("Live")
    return customer, page


def open_conversation(page: Page, name: str) -> None:
    page.goto("/inbox")
    row(page, name).get_by_role("link").click()
    expect(page.locator("#conversation-title")).to_have_text(name)


def test_the_agent_replies_and_the_customer_sees_it_delivered_then_seen(
    browser: Browser, stage: Stage
) -> None:
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")
    open_conversation(page, "João Pereira")
    expect(page.locator("#how")).to_have_text(
        "Goes as a standard reply, inside the 24-hour window."
    )
    page.get_by_label("Reply").fill("Olá João! Ana here, I'm looking at your order now.")
    page.get_by_role("button", name="Send", exact=True).click()
    mine = page.locator("#transcript .item.outbound").filter(has_text="Ana here")
    expect(mine).to_contain_text("Ana Lima")
    expect(page.get_by_label("Reply")).to_have_value("")  # sent without leaving the page
    expect(page.locator("#holder")).to_contain_text("Ana Lima has it")

    customer, chat = messenger(browser, stage, JOAO)
    expect(chat.locator("#messages")).to_contain_text("Ana here, I'm looking at your order now.")
    customer.shot("04-customer-sees-the-reply")
    # Delivered, then seen once the customer's Messenger shows it: live in the agent's inbox.
    expect(mine.locator(".mark")).to_have_text("Seen")
    agent.shot("05-reply-seen")

    # The bot stays silent now that a person has the conversation.
    stage.say("Thank you!", person=JOAO)
    expect(page.locator("#transcript")).to_contain_text("Thank you!")
    expect(page.locator("#transcript .item.message").last).to_contain_text("Thank you!")
    customer.close()
    agent.close()


def test_the_composer_follows_the_window_past_24_hours_and_7_days(
    browser: Browser, stage: Stage
) -> None:
    stage.database(lambda conn: outbox.set_human_agent(conn, 1, True))
    stage.say("Any news?", person=JOAO)
    stage.advance(30 * HOUR)
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")  # a day later: logged in again
    open_conversation(page, "João Pereira")
    expect(page.locator("#how")).to_contain_text("Goes with the human agent tag")
    expect(page.locator("#window")).to_contain_text(
        "Only a person can reply, with the human agent tag, until"
    )
    page.get_by_label("Reply").fill("Sorry for the wait: your order ships today.")
    page.get_by_role("button", name="Send", exact=True).click()
    tagged = page.locator("#transcript .item.outbound").filter(has_text="ships today")
    expect(tagged).to_contain_text("human agent tag")
    expect(tagged.locator(".mark")).to_have_text(re.compile("Sent|Delivered|Seen"))
    agent.shot("06-human-agent-tag")

    stage.advance(7 * 24 * HOUR)
    page = log_in(agent, "ana@example.com")
    open_conversation(page, "João Pereira")
    expect(page.locator("#how")).to_contain_text(
        "Blocked: The customer's last message was 8 days ago; even a human agent can only "
        "reply within 7 days."
    )
    expect(page.locator("#window")).to_have_text("Closed — the customer must write first")
    page.get_by_label("Reply").fill("Hello?")
    page.get_by_role("button", name="Send", exact=True).click()
    blocked = page.locator("#transcript .item.outbound").filter(has_text="Hello?")
    expect(blocked.locator(".mark")).to_contain_text("Blocked: The customer's last message")
    agent.shot("07-blocked")
    agent.close()


def test_two_agents_see_each_others_replies_and_who_has_the_conversation_live(
    browser: Browser, stage: Stage
) -> None:
    stage.say("Bonjour ! I have a question about sizes.", person=CHLOE)
    ana_tab, rui_tab = Tab(browser, stage.frontdesk), Tab(browser, stage.frontdesk)
    ana = log_in(ana_tab, "ana@example.com")
    rui = log_in(rui_tab, "morgan@example.com")
    for page in (ana, rui):
        open_conversation(page, "Chloé Martin")
    ana.get_by_role("button", name="Take it", exact=True).click()
    # Morgan sees, without reloading, that Ana has it now.
    expect(rui.locator("#holder")).to_contain_text("Ana Lima has it")
    expect(rui.get_by_role("button", name="Take it over")).to_be_visible()
    ana.get_by_label("Reply").fill("Bonjour Chloé ! Which size do you usually wear?")
    ana.get_by_role("button", name="Send", exact=True).click()
    expect(rui.locator("#transcript")).to_contain_text("Which size do you usually wear?")
    expect(rui.locator("#transcript")).to_contain_text("Ana Lima took the conversation.")
    rui.get_by_label("Reply").fill("Our M fits a 38-40 chest.")
    rui.get_by_role("button", name="Send", exact=True).click()
    expect(ana.locator("#transcript")).to_contain_text("Our M fits a 38-40 chest.")
    # Morgan's reply did not take it from Ana.
    expect(ana.locator("#holder")).to_contain_text("Ana Lima has it")
    ana_tab.shot("08-two-agents-ana")
    rui_tab.shot("09-two-agents-morgan")
    rui_tab.close()
    ana_tab.close()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# One green pixel, as a real PNG (the browser shows it).
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _chunk(b"IDAT", zlib.compress(b"\x00\x2e\x8b\x57"))
    + _chunk(b"IEND", b"")
)


def test_the_agent_sends_a_file_and_a_name_that_would_lie_is_refused(
    browser: Browser, stage: Stage
) -> None:
    tiago = stage.control("people", {"name": "Tiago Alves", "locale": "pt_PT"})["id"]
    stage.say("Can you send me a photo of the tee?", person=tiago)
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")
    open_conversation(page, "Tiago Alves")
    chooser = page.get_by_label("Send a file (up to 25 MB)")
    chooser.set_input_files(files=[{"name": "tee.png", "mimeType": "image/png", "buffer": PNG}])
    page.get_by_role("button", name="Send the file").click()
    expect(page.locator("#transcript img[alt='Image: tee.png']")).to_be_visible()

    # "invoice<RLO>gnp.exe" would show as "invoiceexe.png": refused, and the page says why.
    chooser.set_input_files(
        files=[{"name": "invoice\u202egnp.exe", "mimeType": "image/png", "buffer": PNG}]
    )
    page.get_by_role("button", name="Send the file").click()
    expect(page.locator("#form-problem")).to_contain_text("control characters")
    agent.shot("14-file-sent-and-one-refused")
    assert [p for p in agent.problems if "/upload" in p] == [
        p for p in agent.problems if p.startswith("400 ")
    ]
    agent.problems = [p for p in agent.problems if "/upload" not in p]
    agent.close()


ANA_SILVA = "7100000000000003"


def test_a_customer_asks_for_a_person_an_agent_takes_it_and_hands_it_back(
    browser: Browser, stage: Stage
) -> None:
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "ana@example.com")
    page.get_by_role("link", name=re.compile("^Pending")).click()
    customer, chat = messenger(browser, stage, ANA_SILVA)
    chat.get_by_role("textbox", name="Message").fill("When are you open?")
    chat.get_by_role("button", name="Send", exact=True).click()
    expect(chat.locator("#messages")).to_contain_text("We're open Monday to Friday")  # the bot
    chat.get_by_role("textbox", name="Message").fill("human")
    chat.get_by_role("button", name="Send", exact=True).click()
    # It appears as pending, live, waiting for a person.
    waiting = row(page, "Ana Silva")
    expect(waiting).to_contain_text("Waiting for a person")
    agent.shot("10-pending")
    waiting.get_by_role("link").click()
    expect(page.locator("#holder")).to_contain_text(
        'Waiting for a person: The customer asked for a person: "human"'
    )
    expect(page.locator("#transcript")).to_contain_text(
        'Waiting for a person: The customer asked for a person: "human"'
    )
    page.get_by_role("button", name="Take it", exact=True).click()
    expect(page.locator("#holder")).to_contain_text("Ana Lima has it")

    # The bot stays silent while a person has it.
    chat.get_by_role("textbox", name="Message").fill("What are your opening hours?")
    chat.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#transcript")).to_contain_text("What are your opening hours?")
    page.get_by_label("Reply").fill("We open at 10:00 every weekday.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(chat.locator("#messages")).to_contain_text("We open at 10:00 every weekday.")
    assert chat.locator("#messages").get_by_text("We're open Monday to Friday").count() == 1

    # Handed back, the bot answers again.
    page.get_by_role("button", name="Hand back to the bot").click()
    expect(page.locator("#transcript")).to_contain_text(
        "Ana Lima handed the conversation back: the bot answers again."
    )
    chat.get_by_role("textbox", name="Message").fill("hours")
    chat.get_by_role("button", name="Send", exact=True).click()
    expect(chat.locator("#messages").get_by_text("We're open Monday to Friday")).to_have_count(2)
    expect(page.locator("#holder")).to_contain_text("The bot answers")
    agent.shot("11-handed-back")
    customer.shot("12-customer-bot-again")
    customer.close()
    agent.close()


def test_a_reply_from_metas_page_inbox_shows_as_a_persons_and_claims_the_conversation(
    browser: Browser, stage: Stage
) -> None:
    stage.say("Is the black tee back in stock?", person=CHLOE)
    agent = Tab(browser, stage.frontdesk)
    page = log_in(agent, "morgan@example.com")
    open_conversation(page, "Chloé Martin")
    # Morgan lets go of it (Ana had it), so the bot holds it again.
    page.get_by_role("button", name="Hand back to the bot").click()
    expect(page.locator("#holder")).to_contain_text("The bot answers")
    stage.control(
        "act/page_inbox_reply",
        {"page_id": stage.page_id, "person_id": CHLOE, "text": "Yes! Morgan here, from Meta."},
    )
    reply = page.locator("#transcript .item.outbound").filter(has_text="Morgan here, from Meta.")
    expect(reply).to_contain_text("Meta Page Inbox")
    expect(page.locator("#holder")).to_contain_text("A person in Meta's Page Inbox has it")
    expect(page.locator("#transcript")).to_contain_text(
        "Someone replied from Meta's Page Inbox: a person has the conversation now"
    )
    agent.shot("13-page-inbox-claims")
    agent.close()


def shown(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.evaluate("() => window.shownNotifications")
    return found


def test_notifications_for_new_handoffs_and_new_messages_in_my_conversations(
    browser: Browser, stage: Stage
) -> None:
    rita = stage.control("people", {"name": "Rita Costa", "locale": "pt_PT"})["id"]
    agent = Tab(browser, stage.frontdesk, notifications=True)
    page = log_in(agent, "ana@example.com")
    expect(page.locator("#notify-on")).to_be_hidden()  # granted already: nothing to ask
    stage.say("human", person=rita)
    expect(row(page, "Waiting for a person")).to_have_count(1)
    page.wait_for_function("() => window.shownNotifications.length === 1")
    [handoff] = shown(page)
    assert handoff["title"] == "Waiting for a person"
    assert handoff["body"].endswith("is waiting for a person.")

    row(page, "Waiting for a person").get_by_role("link").click()
    page.get_by_role("button", name="Take it", exact=True).click()
    expect(page.locator("#holder")).to_contain_text("Ana Lima has it")
    page.goto("/inbox")  # looking at the list, not at the conversation
    expect(page.locator("#live-state")).to_have_text("Live")
    stage.say("Está aí alguém?", person=rita)
    page.wait_for_function("() => window.shownNotifications.length === 1")
    [mine] = shown(page)
    assert mine["title"] == "New message"
    assert mine["body"].endswith(": Está aí alguém?")
    # A message in someone else's conversation is no news for Ana.
    stage.say("Bonjour ?", person=CHLOE)
    expect(row(page, "Chloé Martin")).to_contain_text("Bonjour ?")
    assert len(shown(page)) == 1
    agent.close()
