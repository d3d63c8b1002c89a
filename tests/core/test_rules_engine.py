"""The rule engine, table by table: every trigger, condition and action, questions and their
answers, pauses, and the memory it hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from frontdesk.core import (
    Attachment,
    Author,
    Contact,
    EventKind,
    HandoffRequest,
    HistoryLine,
    InboundEvent,
    QuickReply,
    ReceivedAttachment,
    Reply,
)
from frontdesk.core.handlers import CallResult, HttpCall, Memory, Outcome, Resumed, Turn
from frontdesk.core.rules import Bot, build, respond
from frontdesk.core.rules.answers import accept
from frontdesk.core.rules.engine import MAX_STEPS

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 12:00 in Lisbon (WET) too
SUNDAY_NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANA = Contact("7300000000001234", name="Ana Silva")


def bot_of(*rules: Mapping[str, Any], **extra: Any) -> Bot:
    return build({"name": "Test", "rules": list(rules), **extra}, "v1")


def text(said: str) -> InboundEvent:
    return InboundEvent(EventKind.MESSAGE, text=said)


def postback(payload: str, title: str = "Button") -> InboundEvent:
    return InboundEvent(EventKind.POSTBACK, text=title, payload=payload)


def chip(title: str, payload: str) -> InboundEvent:
    return InboundEvent(EventKind.QUICK_REPLY, text=title, payload=payload)


@dataclass
class Chat:
    """A conversation with a bot, memory carried from turn to turn as the worker stores it."""

    bot: Bot
    now: datetime = MONDAY_NOON
    memory: Memory = field(default_factory=Memory)
    history: tuple[HistoryLine, ...] = (HistoryLine(Author.CONTACT, "earlier"),)
    contact: Contact = ANA
    trace: tuple[str, ...] = ()

    def turn(self, event: InboundEvent, resumed: Resumed | None = None) -> Outcome:
        run = respond(
            self.bot,
            Turn(
                "1",
                "1",
                self.contact,
                event,
                self.history,
                self.now,
                memory=self.memory,
                resumed=resumed,
            ),
        )
        outcome = run.outcome
        self.trace = run.trace
        fields = dict(self.memory.fields)
        for name, value in outcome.fields.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        state = self.memory.state if outcome.state is None else outcome.state
        tags = (self.memory.tags | outcome.add_tags) - outcome.remove_tags
        self.memory = Memory(state, fields, tags)
        return outcome

    def says(self, event: InboundEvent | str) -> list[str]:
        """The texts the bot answers (a template's text, a card's title, a media's kind)."""
        outcome = self.turn(text(event) if isinstance(event, str) else event)
        return [shown(reply) for reply in outcome.replies]

    def resume(self, result: CallResult | None = None) -> Outcome:
        assert self.memory.state is not None
        token = self.memory.state["paused"]["token"]
        return self.turn(InboundEvent(EventKind.RESUME), Resumed(token, result))


def shown(reply: Reply) -> str:
    if reply.text is not None:
        return reply.text
    if reply.attachment is not None:
        return f"[{reply.attachment.kind}]"
    assert reply.template is not None
    if reply.template["template_type"] == "button":
        return str(reply.template["text"])
    elements: Any = reply.template["elements"]
    return " | ".join(str(card["title"]) for card in elements)


def answering(when: Mapping[str, Any]) -> Bot:
    return bot_of({"when": when, "do": [{"text": "fired"}]})


# --- triggers --------------------------------------------------------------------------------

WELCOME = {"welcome": True}
TRIGGERS: list[tuple[str, Mapping[str, Any], InboundEvent, bool]] = [
    ("get started", WELCOME, postback("GET_STARTED", "Get Started"), True),
    ("another postback", WELCOME, postback("HOURS"), False),
    ("is: exact", {"keywords": {"is": ["hello"]}}, text("Hello!"), True),
    ("is: more words", {"keywords": {"is": ["hello"]}}, text("hello there"), False),
    ("is: accents", {"keywords": {"is": ["horário"]}}, text("HORARIO"), True),
    ("contains: word", {"keywords": {"contains": ["order"]}}, text("Where's my ORDER?"), True),
    ("contains: whole words", {"keywords": {"contains": ["order"]}}, text("disorder"), False),
    (
        "contains: phrase",
        {"keywords": {"contains": ["opening hours"]}},
        text("your Opening  hours?"),
        True,
    ),
    ("contains: any of", {"keywords": {"contains": ["a1", "refund"]}}, text("refund please"), True),
    ("starts_with", {"keywords": {"starts_with": ["track"]}}, text("Track 10234"), True),
    (
        "starts_with: not inside",
        {"keywords": {"starts_with": ["track"]}},
        text("please track"),
        False,
    ),
    ("starts_with: whole word", {"keywords": {"starts_with": ["track"]}}, text("tracking"), False),
    ("regex", {"regex": r"\b[0-9]{5}\b"}, text("order 10234 please"), True),
    ("regex: case ignored", {"regex": "^HI"}, text("hi"), True),
    ("regex: no match", {"regex": r"^[0-9]+$"}, text("abc"), False),
    ("keywords not on postbacks", {"keywords": {"is": ["hours"]}}, postback("X", "hours"), False),
    ("postback", {"postback": ["HOURS"]}, postback("HOURS"), True),
    ("postback: other", {"postback": ["HOURS"]}, postback("RETURNS"), False),
    ("postback is not a quick reply", {"postback": ["HOURS"]}, chip("Hours", "HOURS"), False),
    ("quick reply", {"quick_reply": ["HOURS"]}, chip("Hours", "HOURS"), True),
    ("quick reply's text is a text", {"keywords": {"is": ["hours"]}}, chip("Hours", "H"), True),
    (
        "ref on a postback",
        {"ref": ["summer"]},
        InboundEvent(EventKind.POSTBACK, payload="GET_STARTED", ref="summer"),
        True,
    ),
    (
        "ref on a message (ad)",
        {"ref": ["ad-7"]},
        InboundEvent(EventKind.MESSAGE, text="hi", ref="ad-7"),
        True,
    ),
    (
        "another ref",
        {"ref": ["summer"]},
        InboundEvent(EventKind.MESSAGE, text="hi", ref="winter"),
        False,
    ),
    (
        "attachment: any",
        {"attachment": ["any"]},
        InboundEvent(EventKind.ATTACHMENT, attachments=(ReceivedAttachment("video", "u"),)),
        True,
    ),
    (
        "attachment: kind",
        {"attachment": ["image"]},
        InboundEvent(EventKind.ATTACHMENT, attachments=(ReceivedAttachment("image", "u"),)),
        True,
    ),
    (
        "attachment: other kind",
        {"attachment": ["image"]},
        InboundEvent(EventKind.ATTACHMENT, attachments=(ReceivedAttachment("audio", "u"),)),
        False,
    ),
    (
        "location",
        {"location": True},
        InboundEvent(EventKind.LOCATION, attachments=(ReceivedAttachment("location", ""),)),
        True,
    ),
    (
        "location: not a photo",
        {"location": True},
        InboundEvent(EventKind.ATTACHMENT, attachments=(ReceivedAttachment("image", "u"),)),
        False,
    ),
    (
        "any trigger of several",
        {"postback": ["HOURS"], "keywords": {"is": ["hours"]}},
        text("hours"),
        True,
    ),
]


@pytest.mark.parametrize(("name", "when", "event", "fires"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_each_trigger(name: str, when: Mapping[str, Any], event: InboundEvent, fires: bool) -> None:
    assert Chat(answering(when)).says(event) == (["fired"] if fires else [])


def test_welcome_fires_on_the_first_message_of_a_conversation_only() -> None:
    bot = answering(WELCOME)
    assert Chat(bot, history=()).says("anything") == ["fired"]
    assert Chat(bot).says("anything") == []


def test_a_first_message_that_fires_a_rule_gets_that_rule_not_the_welcome() -> None:
    bot = bot_of(
        {"when": WELCOME, "do": [{"text": "welcome"}]},
        {"when": {"keywords": {"contains": ["order"]}}, "do": [{"text": "order"}]},
    )
    assert Chat(bot, history=()).says("my order?") == ["order"]
    assert Chat(bot, history=()).says("hi") == ["welcome"]
    assert Chat(bot).says(postback("GET_STARTED")) == ["welcome"]


def test_a_custom_get_started_payload_fires_welcome() -> None:
    bot = bot_of(
        {"when": WELCOME, "do": [{"text": "fired"}]}, profile={"get_started": "HELLO_THERE"}
    )
    assert Chat(bot).says(postback("HELLO_THERE")) == ["fired"]
    assert Chat(bot).says(postback("GET_STARTED")) == []


def test_rules_are_tried_in_order_and_the_first_that_fires_answers() -> None:
    bot = bot_of(
        {"when": {"keywords": {"contains": ["order"]}}, "do": [{"text": "first"}]},
        {"when": {"keywords": {"contains": ["order", "status"]}}, "do": [{"text": "second"}]},
        {"when": {"regex": "status"}, "do": [{"text": "third"}]},
    )
    assert Chat(bot).says("order status") == ["first"]
    assert Chat(bot).says("status") == ["second"]


def test_a_rule_far_down_a_long_bot_still_fires() -> None:
    rules = [
        {"when": {"keywords": {"is": [f"word{n}"]}}, "do": [{"text": f"{n}"}]} for n in range(500)
    ]
    rules.append({"when": {"regex": "^zz"}, "do": [{"text": "regex"}]})
    bot = bot_of(*rules)
    assert Chat(bot).says("word499") == ["499"]
    assert Chat(bot).says("zzz") == ["regex"]
    assert Chat(bot).says("word") == []


DEFAULT = {"when": {"default": "always"}, "do": [{"text": "default"}]}


def test_the_default_rule_answers_when_nothing_fires() -> None:
    bot = bot_of({"when": {"keywords": {"is": ["hours"]}}, "do": [{"text": "hours"}]}, DEFAULT)
    chat = Chat(bot)
    assert chat.says("hours") == ["hours"]
    assert chat.says("what?") == ["default"]
    assert chat.says("what?") == ["default"]


def test_a_default_rule_with_a_period_answers_once_per_period() -> None:
    bot = bot_of({"when": {"default": "4h"}, "do": [{"text": "default"}]})
    chat = Chat(bot)
    assert chat.says("a") == ["default"]
    chat.now += timedelta(hours=3, minutes=59)
    assert chat.says("b") == []
    chat.now += timedelta(minutes=1)
    assert chat.says("c") == ["default"]


def test_a_default_rule_whose_conditions_fail_lets_the_next_one_answer() -> None:
    bot = bot_of(
        {"when": {"default": "always"}, "if": [{"hours": "closed"}], "do": [{"text": "closed"}]},
        {"when": {"default": "always"}, "do": [{"text": "open"}]},
        hours={"mon": "09:00-18:00"},
    )
    assert Chat(bot).says("hi") == ["open"]
    assert Chat(bot, now=SUNDAY_NOON).says("hi") == ["closed"]


# --- conditions ------------------------------------------------------------------------------

LISBON_HOURS = {"timezone": "Europe/Lisbon", "hours": {"mon": "09:00-13:00, 14:00-18:00"}}
CONDITIONS: list[tuple[str, Mapping[str, Any], datetime, Memory, bool]] = [
    ("open, inside hours", {"hours": "open"}, MONDAY_NOON, Memory(), True),
    ("open, at lunch", {"hours": "open"}, MONDAY_NOON.replace(hour=13, minute=30), Memory(), False),
    ("open, a closed day", {"hours": "open"}, SUNDAY_NOON, Memory(), False),
    ("closed, a closed day", {"hours": "closed"}, SUNDAY_NOON, Memory(), True),
    ("open, at opening", {"hours": "open"}, MONDAY_NOON.replace(hour=9, minute=0), Memory(), True),
    (
        "open, at closing",
        {"hours": "open"},
        MONDAY_NOON.replace(hour=18, minute=0),
        Memory(),
        False,
    ),
    (
        "field equals",
        {"field": "plan", "equals": "Gold"},
        MONDAY_NOON,
        Memory(fields={"plan": "gold"}),
        True,
    ),
    (
        "field equals, other",
        {"field": "plan", "equals": "Gold"},
        MONDAY_NOON,
        Memory(fields={"plan": "silver"}),
        False,
    ),
    (
        "field set",
        {"field": "email", "set": True},
        MONDAY_NOON,
        Memory(fields={"email": "a@b.pt"}),
        True,
    ),
    ("field set, unset", {"field": "email", "set": True}, MONDAY_NOON, Memory(), False),
    ("field not set", {"field": "email", "set": False}, MONDAY_NOON, Memory(), True),
    ("tag", {"tag": "vip"}, MONDAY_NOON, Memory(tags=frozenset({"vip"})), True),
    ("tag, missing", {"tag": "vip"}, MONDAY_NOON, Memory(), False),
    ("not_tag", {"not_tag": "vip"}, MONDAY_NOON, Memory(), True),
    ("not_tag, present", {"not_tag": "vip"}, MONDAY_NOON, Memory(tags=frozenset({"vip"})), False),
]


@pytest.mark.parametrize(
    ("name", "condition", "now", "memory", "holds"), CONDITIONS, ids=[c[0] for c in CONDITIONS]
)
def test_each_condition(
    name: str, condition: Mapping[str, Any], now: datetime, memory: Memory, holds: bool
) -> None:
    bot = bot_of(
        {"when": {"keywords": {"is": ["go"]}}, "if": [condition], "do": [{"text": "yes"}]},
        **LISBON_HOURS,
    )
    assert Chat(bot, now=now, memory=memory).says("go") == (["yes"] if holds else [])


def test_business_hours_are_the_bots_time_zone() -> None:
    bot = bot_of(
        {"when": {"keywords": {"is": ["go"]}}, "if": [{"hours": "open"}], "do": [{"text": "open"}]},
        timezone="Asia/Tokyo",
        hours={"mon": "09:00-18:00"},
    )
    assert Chat(bot, now=MONDAY_NOON).says("go") == []  # 21:00 in Tokyo
    assert Chat(bot, now=MONDAY_NOON.replace(hour=1)).says("go") == ["open"]  # 10:00


def test_all_conditions_must_hold_and_a_failing_rule_lets_a_later_one_fire() -> None:
    bot = bot_of(
        {
            "when": {"keywords": {"is": ["go"]}},
            "if": [{"tag": "vip"}, {"field": "plan", "set": True}],
            "do": [{"text": "vip"}],
        },
        {"when": {"keywords": {"is": ["go"]}}, "do": [{"text": "everyone"}]},
    )
    assert Chat(bot, memory=Memory(tags=frozenset({"vip"}))).says("go") == ["everyone"]
    vip = Memory(fields={"plan": "gold"}, tags=frozenset({"vip"}))
    assert Chat(bot, memory=vip).says("go") == ["vip"]


# --- actions ---------------------------------------------------------------------------------


def outcome_of(*actions: Mapping[str, Any], memory: Memory | None = None, **extra: Any) -> Outcome:
    bot = bot_of({"when": {"keywords": {"is": ["go"]}}, "do": list(actions)}, **extra)
    return Chat(bot, memory=memory or Memory()).turn(text("go"))


ACTIONS: list[tuple[str, Mapping[str, Any], Reply]] = [
    (
        "text with variables",
        {"text": "Hi {{first_name}} {{last_name}}, {{plan|no plan}}!"},
        Reply(text="Hi Ana Silva, no plan!"),
    ),
    (
        "text with quick replies",
        {"text": "Pick", "quick_replies": [{"title": "A", "payload": "PA"}]},
        Reply(text="Pick", quick_replies=(QuickReply("A", "PA"),)),
    ),
    (
        "text with buttons",
        {
            "text": "Go",
            "buttons": [{"title": "Site", "url": "https://x.pt"}, {"title": "B", "payload": "PB"}],
        },
        Reply(
            template={
                "template_type": "button",
                "text": "Go",
                "buttons": [
                    {"type": "web_url", "url": "https://x.pt", "title": "Site"},
                    {"type": "postback", "payload": "PB", "title": "B"},
                ],
            }
        ),
    ),
    (
        "cards",
        {
            "cards": [
                {
                    "title": "Tee {{first_name}}",
                    "subtitle": "€20",
                    "image": "https://x.pt/t.png",
                    "url": "https://x.pt/t",
                    "buttons": [{"title": "Buy", "payload": "BUY"}],
                }
            ]
        },
        Reply(
            template={
                "template_type": "generic",
                "elements": [
                    {
                        "title": "Tee Ana",
                        "subtitle": "€20",
                        "image_url": "https://x.pt/t.png",
                        "default_action": {"type": "web_url", "url": "https://x.pt/t"},
                        "buttons": [{"type": "postback", "payload": "BUY", "title": "Buy"}],
                    }
                ],
            }
        ),
    ),
    (
        "image",
        {"image": "https://x.pt/a.png"},
        Reply(attachment=Attachment("image", url="https://x.pt/a.png")),
    ),
    (
        "file",
        {"file": "https://x.pt/a.pdf"},
        Reply(attachment=Attachment("file", url="https://x.pt/a.pdf")),
    ),
    (
        "video",
        {"video": "https://x.pt/a.mp4"},
        Reply(attachment=Attachment("video", url="https://x.pt/a.mp4")),
    ),
    (
        "audio",
        {"audio": "https://x.pt/a.mp3"},
        Reply(attachment=Attachment("audio", url="https://x.pt/a.mp3")),
    ),
]


@pytest.mark.parametrize(("name", "action", "reply"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_each_message_action(name: str, action: Mapping[str, Any], reply: Reply) -> None:
    assert outcome_of(action).replies == (reply,)


def test_set_tag_and_untag_change_the_contacts_memory() -> None:
    memory = Memory(fields={"old": "x", "plan": "silver"}, tags=frozenset({"lead"}))
    outcome = outcome_of(
        {"set": {"plan": "gold for {{first_name}}", "old": ""}},
        {"tag": "vip"},
        {"untag": "lead"},
        {"untag": "never_had"},
        {"text": "{{plan}}"},
        memory=memory,
    )
    assert outcome.fields == {"plan": "gold for Ana", "old": None}
    assert outcome.add_tags == {"vip"}
    assert outcome.remove_tags == {"lead"}
    assert [r.text for r in outcome.replies] == ["gold for Ana"]


def test_handoff_says_its_message_and_asks_for_a_person() -> None:
    outcome = outcome_of(
        {"text": "One moment"},
        {"handoff": "A person will answer, {{first_name}}.", "reason": "Wants a refund"},
        {"text": "never said"},
    )
    assert [r.text for r in outcome.replies] == ["One moment", "A person will answer, Ana."]
    assert outcome.handoff == HandoffRequest("Wants a refund")


def test_resolve_marks_the_conversation_and_stops() -> None:
    outcome = outcome_of({"text": "Bye"}, {"resolve": True}, {"text": "never said"})
    assert outcome.resolve
    assert [r.text for r in outcome.replies] == ["Bye"]


def test_goto_runs_a_flow_and_a_step_by_its_id() -> None:
    flows = {
        "a": [{"text": "a1"}, {"goto": "b/middle"}],
        "b": [{"text": "b1"}, {"text": "b2", "id": "middle"}, {"text": "b3"}],
    }
    outcome = outcome_of({"goto": "a"}, flows=flows)
    assert [r.text for r in outcome.replies] == ["a1", "b2", "b3"]
    assert outcome.state is None  # nothing waits: no flow state to keep


def test_a_goto_loop_stops() -> None:
    chat = Chat(
        bot_of(
            {"when": {"keywords": {"is": ["go"]}}, "do": [{"goto": "loop"}]},
            flows={"loop": [{"tag": "x"}, {"goto": "loop"}]},
        )
    )
    chat.says("go")
    assert f"Stopped after {MAX_STEPS} actions in one turn (a loop?)." in chat.trace


def test_wait_pauses_with_typing_then_goes_on() -> None:
    chat = Chat(
        bot_of(
            {
                "when": {"keywords": {"is": ["go"]}},
                "do": [{"text": "one"}, {"wait": "3s"}, {"text": "two"}],
            }
        )
    )
    first = chat.turn(text("go"))
    assert [r.text for r in first.replies] == ["one"]
    assert first.typing
    assert first.later is not None
    assert first.later.delay == 3.0
    assert first.later.call is None
    second = chat.resume()
    assert [r.text for r in second.replies] == ["two"]
    assert second.later is None
    assert chat.memory.state is not None
    assert "paused" not in chat.memory.state


def test_a_stale_continuation_changes_nothing() -> None:
    chat = Chat(
        bot_of(
            {"when": {"keywords": {"is": ["go"]}}, "do": [{"wait": "3s"}, {"text": "late"}]},
            DEFAULT,
        )
    )
    chat.turn(text("go"))
    assert chat.memory.state is not None
    token = chat.memory.state["paused"]["token"]
    assert chat.says("something else") == ["default"]  # the contact wrote: the pause ends
    outcome = chat.turn(InboundEvent(EventKind.RESUME), Resumed(token))
    assert outcome.replies == ()
    assert outcome.state is None


CALL = {
    "call": "https://shop.example/orders/{{order_number}}?who={{name}}",
    "save": {"status": "order.status", "first_item": "order.items.0"},
    "on_error": "trouble",
}


def test_call_asks_for_the_request_then_keeps_fields_of_the_answer() -> None:
    bot = bot_of(
        {
            "when": {"keywords": {"is": ["go"]}},
            "do": [CALL, {"text": "It is {{status}}, {{first_item}}"}],
        },
        flows={"trouble": [{"text": "Our order system is not answering."}]},
    )
    chat = Chat(bot, memory=Memory(fields={"order_number": "10 234/5"}))
    first = chat.turn(text("go"))
    assert first.later is not None
    assert first.later.call == HttpCall(
        "GET", "https://shop.example/orders/10%20234%2F5?who=Ana%20Silva", (), None, 5.0
    )
    assert not first.typing
    answer = CallResult(200, {"order": {"status": "shipped", "items": ["Tee", "Cap"]}})
    second = chat.resume(answer)
    assert second.fields == {"status": "shipped", "first_item": "Tee"}
    assert [r.text for r in second.replies] == ["It is shipped, Tee"]


@pytest.mark.parametrize(
    "result",
    [CallResult(error="timed out"), CallResult(500, {"error": "x"}), CallResult(404, None)],
    ids=["no answer", "server error", "not found"],
)
def test_a_failed_call_goes_to_on_error(result: CallResult) -> None:
    bot = bot_of(
        {"when": {"keywords": {"is": ["go"]}}, "do": [CALL, {"text": "never"}]},
        flows={"trouble": [{"text": "Our order system is not answering."}]},
    )
    chat = Chat(bot)
    chat.turn(text("go"))
    assert [r.text for r in chat.resume(result).replies] == ["Our order system is not answering."]


def test_a_post_call_sends_its_body() -> None:
    action = {
        "call": "https://x.pt/a",
        "method": "POST",
        "body": {"who": "{{first_name}}"},
        "timeout": "2s",
    }
    outcome = outcome_of(action)
    assert outcome.later is not None
    assert outcome.later.call == HttpCall("POST", "https://x.pt/a", (), {"who": "Ana"}, 2.0)


# --- questions -------------------------------------------------------------------------------


def asking(**ask: Any) -> Bot:
    return bot_of(
        {"when": {"keywords": {"is": ["go"]}}, "do": [{"goto": "quiz"}]},
        {"when": {"postback": ["MENU"]}, "do": [{"text": "menu"}]},
        DEFAULT,
        flows={
            "quiz": [
                {"ask": "Your answer?", "field": "answer", **ask},
                {"text": "Kept {{answer}}"},
            ],
            "failed": [{"text": "Let's stop there."}],
        },
    )


ANSWERS: list[tuple[str, str, tuple[str, ...], str, str | None]] = [
    ("text", "text", (), "  anything at all ", "anything at all"),
    ("email", "email", (), "Ana@Example.PT", "ana@example.pt"),
    ("email, no domain", "email", (), "ana@example", None),
    ("email, spaces", "email", (), "ana silva@example.pt", None),
    ("phone", "phone", (), "+351 912 345 678", "+351912345678"),
    ("phone, too short", "phone", (), "12 34", None),
    ("phone, letters", "phone", (), "call me", None),
    ("number", "number", (), "10234", "10234"),
    ("number, comma decimal", "number", (), "3,50", "3.5"),
    ("number, words", "number", (), "ten", None),
    ("date, iso", "date", (), "2026-03-31", "2026-03-31"),
    ("date, day first", "date", (), "31/03/2026", "2026-03-31"),
    ("date, dots", "date", (), "1.3.2026", "2026-03-01"),
    ("date, impossible", "date", (), "31/02/2026", None),
    ("date, words", "date", (), "tomorrow", None),
    ("choice", "choice", ("Wrong size", "Damaged"), "damaged", "Damaged"),
    ("choice, not one", "choice", ("Wrong size", "Damaged"), "meh", None),
]


@pytest.mark.parametrize(
    ("name", "expect", "choices", "said", "kept"), ANSWERS, ids=[a[0] for a in ANSWERS]
)
def test_answers_are_checked_by_what_was_asked(
    name: str, expect: str, choices: tuple[str, ...], said: str, kept: str | None
) -> None:
    assert accept(expect, said, choices) == kept


def test_an_oversized_answer_is_not_kept() -> None:
    assert accept("text", "x" * 501) is None
    assert accept("text", "   ") is None


def test_question_invalid_answer_retry_then_kept_then_next_step() -> None:
    chat = Chat(asking(expect="number", retry="Digits only, please.", tries=3))
    assert chat.says("go") == ["Your answer?"]
    assert chat.says("soon") == ["Digits only, please.", "Your answer?"]
    assert chat.says("42") == ["Kept 42"]
    assert chat.memory.fields == {"answer": "42"}
    assert chat.memory.state == {}  # the flow is over


def test_a_question_gives_up_after_its_tries_and_goes_to_on_fail() -> None:
    chat = Chat(asking(expect="number", tries=2, on_fail="failed", retry="Again?"))
    chat.says("go")
    assert chat.says("a") == ["Again?", "Your answer?"]
    assert chat.says("b") == ["Let's stop there."]
    assert chat.says("c") == ["default"]  # no longer asked


def test_choices_are_offered_as_quick_replies_and_a_tap_answers() -> None:
    chat = Chat(asking(expect="choice", choices=["Small", "Large"]))
    outcome = chat.turn(text("go"))
    assert outcome.replies[0].quick_replies == (
        QuickReply("Small", "Small"),
        QuickReply("Large", "Large"),
    )
    assert chat.says(chip("Large", "Large")) == ["Kept Large"]


@pytest.mark.parametrize(
    ("expect", "content_type"), [("email", "user_email"), ("phone", "user_phone_number")]
)
def test_email_and_phone_questions_offer_messengers_own_chip(
    expect: str, content_type: str
) -> None:
    outcome = Chat(asking(expect=expect)).turn(text("go"))
    assert outcome.replies[0].quick_replies == (QuickReply(content_type=content_type),)  # type: ignore[arg-type]


def test_a_button_tap_during_a_question_leaves_it() -> None:
    chat = Chat(asking(expect="number"))
    chat.says("go")
    assert chat.says(postback("MENU")) == ["menu"]
    assert chat.says("42") == ["default"]


def test_a_question_left_unanswered_is_abandoned_after_flow_timeout() -> None:
    chat = Chat(asking(expect="number"))
    chat.says("go")
    chat.now += timedelta(hours=1, seconds=1)
    assert chat.says("42") == ["default"]
    assert "The flow waited longer than flow_timeout: it is abandoned." in chat.trace


def test_a_flow_of_a_bot_that_changed_is_abandoned() -> None:
    chat = Chat(asking(expect="number"))
    chat.says("go")
    chat.bot = build(chat.bot.definition, "v2")
    assert chat.says("42") == ["default"]


def test_flow_state_is_plain_json_that_survives_a_restart() -> None:
    import json

    chat = Chat(asking(expect="number"))
    chat.says("go")
    stored = json.loads(json.dumps(chat.memory.state))
    again = Chat(asking(expect="number"), memory=Memory(state=stored))
    assert again.says("7") == ["Kept 7"]


def test_nothing_a_contact_sends_makes_the_engine_fail() -> None:
    chat = Chat(asking(expect="date", tries=5))
    chat.says("go")
    traces: list[str] = []
    for event in (
        text("\x00" * 10),
        text("é" * 5000),
        InboundEvent(EventKind.ATTACHMENT, attachments=(ReceivedAttachment("image", ""),)),
        InboundEvent(EventKind.MESSAGE, text=None),
        text("{{first_name}}"),
    ):
        chat.turn(event)
        traces += chat.trace
    assert "No valid answer in 5 tries." in traces
    assert chat.memory.fields == {}
    assert chat.says(chip("x" * 3000, "y" * 3000)) == ["default"]


def test_variables_in_what_a_contact_typed_are_not_expanded() -> None:
    chat = Chat(asking(expect="text"))
    chat.says("go")
    assert chat.says("{{psid}}") == ["Kept {{psid}}"]


def test_an_overlong_text_after_variables_is_cut_not_dropped() -> None:
    memory = Memory(fields={"long": "x" * 500})
    outcome = outcome_of({"text": "{{long}}" * 5}, memory=memory)
    assert len(outcome.replies[0].text or "") == 1999
