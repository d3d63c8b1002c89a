"""The rule engine: one turn of a bot, from an event and the conversation's memory to an Outcome.

Replies, memory changes, a handoff or a pause: pure, the caller stores and sends what it returns.

A turn goes, in order:
1. A continuation (`turn.resumed`) of the bot's own wait or call carries on where it paused,
   if its token is still the one waited for (anything else is stale and changes nothing).
2. A flow waiting for an answer takes the message as the answer: valid, it is kept in the
   contact field and the flow goes on; not valid, the retry prompt and the question again,
   until `tries` are spent (then `on_fail`, or the flow ends). A postback, or a quick reply
   that is not an answer, leaves the question and is matched as below.
3. Otherwise the rules, in order: the first whose trigger fires and whose conditions hold
   runs its actions. When none does: on a conversation's first message, the first `welcome`
   rule; else the first default rule whose conditions hold, at most once per its period.

Flow state is kept in `Outcome.state` under the bot's key: a flow of a bot that has since
changed, or one left waiting longer than `flow_timeout`, is abandoned, never resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from typing import Any
from urllib.parse import quote

from ..handlers import CallResult, HttpCall, InboundEvent, Later, Outcome, Resumed, Turn
from ..models import (
    BUTTON_TEXT_LIMIT,
    TEXT_LIMIT,
    Attachment,
    EventKind,
    HandoffRequest,
    InvalidReply,
    QuickReply,
    Reply,
)
from . import schema
from .answers import accept
from .matching import words
from .model import Bot, Hours, Rule, seconds
from .wording import fold, render

MAX_STEPS = 50
"""Actions one turn may run: a `goto` loop stops here instead of spinning."""
MAX_REPLIES = 10
KINDS = tuple(schema.ACTIONS)


@dataclass(frozen=True)
class Run:
    """A turn's outcome, with what happened in words (the console's "Try it" shows it)."""

    outcome: Outcome
    trace: tuple[str, ...]


def respond(bot: Bot, turn: Turn) -> Run:
    """Take one turn of `bot`. Never raises for anything a contact can send."""
    return _Turn(bot, turn).run()


def kind_of(action: Mapping[str, Any]) -> str:
    """Which action this is: the first of the schema's action keys it has."""
    return next(kind for kind in KINDS if kind in action)


def is_open(hours: Hours, turn: Turn) -> bool:
    local = turn.now.astimezone(hours.zone)
    moment = dt_time(local.hour, local.minute, local.second)
    return any(start <= moment < end for start, end in hours.days.get(local.weekday(), ()))


@dataclass
class _Turn:
    bot: Bot
    turn: Turn
    state: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    changed_fields: dict[str, str | None] = field(default_factory=dict)
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    replies: list[Reply] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    handoff: HandoffRequest | None = None
    resolve: bool = False
    later: Later | None = None
    steps: int = 0

    def __post_init__(self) -> None:
        memory = self.turn.memory
        self.state = dict(memory.state or {})
        self.before = dict(self.state)
        self.fields = dict(memory.fields)
        self.tags = set(memory.tags)
        self.now = self.turn.now.timestamp()

    # --- the turn ------------------------------------------------------------------------

    def run(self) -> Run:
        event = self.turn.event
        self._forget_stale()
        if self.turn.resumed is not None:
            self._resume(self.turn.resumed)
        elif not (self.state.get("asking") and self._answer(event)):
            if self.state.get("paused"):
                self.trace.append("The contact wrote during a pause: the paused flow ends.")
                self._end_flow()
            self._match(event)
        return Run(self._outcome(), tuple(self.trace))

    def _forget_stale(self) -> None:
        if "at" not in self.state:
            return
        if self.state.get("bot") != self.bot.key:
            self.trace.append("The bot changed since the flow began: the flow is abandoned.")
            self._end_flow()
        elif self.now - float(self.state.get("since", self.now)) > self.bot.flow_timeout:
            self.trace.append("The flow waited longer than flow_timeout: it is abandoned.")
            self._end_flow()

    def _resume(self, resumed: Resumed) -> None:
        paused = self.state.get("paused")
        if not paused or paused.get("token") != resumed.token:
            self.trace.append("A stale continuation (the flow moved on meanwhile): ignored.")
            return
        where, index = self.state["at"], int(self.state["step"])
        self._end_flow()
        action = self._action_at(where, index)
        if action is None:
            return
        if "call" in action:
            if self._took_call(action, resumed.result or CallResult(error="no result")):
                self._play(where, index + 1)
            else:
                target = action.get("on_error")
                if target:
                    self._goto(target)
                else:
                    self.trace.append("The call failed and has no on_error: the flow ends.")
        else:
            self.trace.append("The wait is over.")
            self._play(where, index + 1)

    def _took_call(self, action: Mapping[str, Any], result: CallResult) -> bool:
        if not result.ok:
            problem = result.error or f"HTTP {result.status}"
            self.trace.append(f"The call to {action['call']} failed: {problem}.")
            return False
        self.trace.append(f"The call answered HTTP {result.status}.")
        for name, where in action.get("save", {}).items():
            value = _dig(result.body, where)
            if value is None:
                self.trace.append(f"The answer has no {where}: {name} is left as it was.")
            else:
                self._set_field(name, value)
        return True

    # --- answers to a question -----------------------------------------------------------

    def _answer(self, event: InboundEvent) -> bool:
        """Take `event` as the answer to the question asked; False to match it as usual."""
        where, index = self.state["at"], int(self.state["step"])
        action = self._action_at(where, index)
        if action is None or "ask" not in action:
            self._end_flow()
            return False
        if event.kind is EventKind.POSTBACK:
            self.trace.append("A button tap during a question: the question is left.")
            self._end_flow()
            return False
        expect = action.get("expect", "text")
        value = None
        if event.text is not None:
            value = accept(expect, event.text, action.get("choices", ()), event.payload)
        if value is None and event.kind is EventKind.QUICK_REPLY:
            self.trace.append("A quick reply that is not an answer: the question is left.")
            self._end_flow()
            return False
        if value is not None:
            self.trace.append(f"Answer accepted: {action['field']} = {value!r}.")
            self._set_field(action["field"], value)
            self._end_flow()
            self._play(where, index + 1)
            return True
        tries = int(self.state.get("tries", 0)) + 1
        most = int(action.get("tries", 3))
        if tries >= most:
            self.trace.append(f"No valid answer in {most} tries.")
            self._end_flow()
            target = action.get("on_fail")
            if target:
                self._goto(target)
            return True
        self.trace.append(f"Not a valid {expect} (try {tries} of {most}).")
        if "retry" in action:
            self._say_text(action["retry"])
        self._ask(where, index, action, tries)
        return True

    # --- rules ---------------------------------------------------------------------------

    def _match(self, event: InboundEvent) -> None:
        said = words(event.text) if event.text else ""
        first = not self.turn.history
        for index in self.bot.index.candidates(event, said):
            rule = self.bot.rules[index]
            if not rule.trigger.fires(event, said, self.bot.get_started):
                continue
            if self._conditions_hold(rule):
                self.trace.append(f'Rule "{rule.name}" fired.')
                self._play(("rule", rule.index), 0)
                return
            self.trace.append(f'Rule "{rule.name}" fired, but its conditions do not hold.')
        if event.kind is EventKind.RESUME:
            return
        if first and event.kind is not EventKind.POSTBACK:
            for rule in self.bot.rules:
                if rule.trigger.welcome and self._conditions_hold(rule):
                    self.trace.append(f'A new conversation: welcome rule "{rule.name}".')
                    self._play(("rule", rule.index), 0)
                    return
        for rule in self.bot.defaults:
            if not self._conditions_hold(rule):
                continue
            every = rule.trigger.default_every or 0.0
            last = self.state.get("default_at")
            if every and last is not None and self.now - float(last) < every:
                self.trace.append(f'Default rule "{rule.name}": already answered lately.')
                return
            self.trace.append(f'No rule fired: default rule "{rule.name}".')
            self.state["default_at"] = self.now
            self._play(("rule", rule.index), 0)
            return
        self.trace.append("No rule fired, and no default rule: no answer.")

    def _conditions_hold(self, rule: Rule) -> bool:
        for condition in rule.conditions:
            if "hours" in condition:
                hours = self.bot.hours
                if hours is None or is_open(hours, self.turn) != (condition["hours"] == "open"):
                    return False
            elif "field" in condition:
                value = self.fields.get(condition["field"], "")
                if "set" in condition and bool(value) != condition["set"]:
                    return False
                if "equals" in condition and fold(value) != fold(condition["equals"]):
                    return False
            elif ("tag" in condition and condition["tag"] not in self.tags) or (
                "not_tag" in condition and condition["not_tag"] in self.tags
            ):
                return False
        return True

    # --- actions -------------------------------------------------------------------------

    def _actions(self, where: tuple[str, Any]) -> tuple[Mapping[str, Any], ...] | None:
        if where[0] == "rule":
            number = int(where[1])
            return self.bot.rules[number].actions if 0 <= number < len(self.bot.rules) else None
        return self.bot.flows.get(str(where[1]))

    def _action_at(self, where: Any, index: int) -> Mapping[str, Any] | None:
        actions = self._actions(tuple(where))
        if actions is None or not 0 <= index < len(actions):
            self.trace.append("The flow's step is gone: the flow is abandoned.")
            self._end_flow()
            return None
        return actions[index]

    def _goto(self, target: str) -> None:
        flow, _, step = target.partition("/")
        self.trace.append(f"Go to {target}.")
        self._play(("flow", flow), self.bot.steps.get((flow, step), 0) if step else 0)

    def _play(self, where: tuple[str, Any], index: int) -> None:
        """Run actions from `index` until the sequence ends, a question or pause waits, or
        the turn hands off or resolves."""
        actions = self._actions(where) or ()
        while index < len(actions):
            self.steps += 1
            if self.steps > MAX_STEPS:
                self.trace.append(f"Stopped after {MAX_STEPS} actions in one turn (a loop?).")
                return
            action = actions[index]
            kind = kind_of(action)
            if kind == "goto":
                flow, _, step = action["goto"].partition("/")
                self.trace.append(f"Go to {action['goto']}.")
                where = ("flow", flow)
                actions = self.bot.flows[flow]
                index = self.bot.steps.get((flow, step), 0) if step else 0
                continue
            if kind == "ask":
                self._ask(where, index, action, 0)
                return
            if kind == "wait":
                delay = seconds(action["wait"])
                self._pause(where, index, Later(self._token(), delay=delay))
                self.trace.append(f"Wait {action['wait']} with the typing indicator.")
                return
            if kind == "call":
                call = self._call(action)
                self._pause(where, index, Later(self._token(), call=call))
                self.trace.append(f"Call {call.method} {call.url}.")
                return
            if kind == "handoff":
                self._say_text(action["handoff"])
                reason = action.get("reason") or "The bot handed the conversation to a person"
                self.handoff = HandoffRequest(reason)
                self.trace.append(f"Hand off to a person: {reason}.")
                return
            if kind == "resolve":
                self.resolve = True
                self.trace.append("The conversation is resolved.")
                return
            self._do(kind, action)
            index += 1

    def _do(self, kind: str, action: Mapping[str, Any]) -> None:
        if kind == "text":
            self._say_text(action["text"], action)
        elif kind == "cards":
            self._say_cards(action)
        elif kind in ("image", "video", "audio", "file"):
            media = Attachment(kind, url=action[kind])  # type: ignore[arg-type]
            self._send(lambda: Reply(attachment=media, quick_replies=_chips(action)))
        elif kind == "set":
            for name, value in action["set"].items():
                self._set_field(name, render(value, self._values()))
        elif kind == "tag":
            self.tags.add(action["tag"])
            self.added.add(action["tag"])
            self.removed.discard(action["tag"])
            self.trace.append(f"Tag {action['tag']}.")
        elif kind == "untag":
            self.tags.discard(action["untag"])
            self.removed.add(action["untag"])
            self.added.discard(action["untag"])
            self.trace.append(f"Untag {action['untag']}.")

    def _ask(
        self, where: tuple[str, Any], index: int, action: Mapping[str, Any], tries: int
    ) -> None:
        expect = action.get("expect", "text")
        chips: tuple[QuickReply, ...] = ()
        if "choices" in action:
            chips = tuple(QuickReply(title=c, payload=c) for c in action["choices"])
        elif expect == "email":
            chips = (QuickReply(content_type="user_email"),)
        elif expect == "phone":
            chips = (QuickReply(content_type="user_phone_number"),)
        text = self._render(action["ask"], TEXT_LIMIT - 1)
        if text:
            self._send(lambda: Reply(text=text, quick_replies=chips))
        self._wait_here(where, index)
        self.state["asking"] = True
        self.state["tries"] = tries
        if tries == 0:
            self.trace.append(f"Ask for {action['field']} ({expect}).")

    def _pause(self, where: tuple[str, Any], index: int, later: Later) -> None:
        self._wait_here(where, index)
        self.state["paused"] = {"token": later.token}
        self.later = later

    def _wait_here(self, where: tuple[str, Any], index: int) -> None:
        self.state.update(bot=self.bot.key, at=list(where), step=index, since=self.now)

    def _token(self) -> str:
        number = int(self.state.get("seq", 0)) + 1
        self.state["seq"] = number
        return str(number)

    def _end_flow(self) -> None:
        for key in ("bot", "at", "step", "since", "asking", "tries", "paused"):
            self.state.pop(key, None)

    def _call(self, action: Mapping[str, Any]) -> HttpCall:
        values = self._values()
        url = render(action["call"], {k: _quote(v) for k, v in values.items()})
        body = None
        if "body" in action:
            body = {name: render(text, values) for name, text in action["body"].items()}
        timeout = seconds(action.get("timeout", "5s"))
        return HttpCall(action.get("method", "GET"), url, (), body, timeout)

    # --- messages ------------------------------------------------------------------------

    def _values(self) -> dict[str, str]:
        contact = self.turn.contact
        full = (contact.name or "").strip()
        first = (contact.first_name or full.split(" ", 1)[0]).strip()
        last = full.split(" ", 1)[1].strip() if " " in full else ""
        return {
            **self.fields,
            "first_name": first,
            "last_name": last,
            "name": full,
            "psid": contact.psid,
        }

    def _render(self, template: str, most: int) -> str:
        text = render(template, self._values()).strip()
        if len(text) > most:
            text = text[: most - 1].rstrip() + "…"
        return text

    def _say_text(self, template: str, action: Mapping[str, Any] | None = None) -> None:
        action = action or {}
        if "buttons" in action:
            text = self._render(template, BUTTON_TEXT_LIMIT)
            payload = {
                "template_type": "button",
                "text": text,
                "buttons": [_button(b) for b in action["buttons"]],
            }
            if text:
                self._send(lambda: Reply(template=payload))
            return
        text = self._render(template, TEXT_LIMIT - 1)
        if not text:
            self.trace.append("A text came out empty once its variables were filled: skipped.")
            return
        self._send(lambda: Reply(text=text, quick_replies=_chips(action)))

    def _say_cards(self, action: Mapping[str, Any]) -> None:
        values = self._values()
        elements = []
        for card in action["cards"]:
            element: dict[str, Any] = {"title": render(card["title"], values)[:80] or "·"}
            if "subtitle" in card:
                element["subtitle"] = render(card["subtitle"], values)[:80]
            if "image" in card:
                element["image_url"] = card["image"]
            if "url" in card:
                element["default_action"] = {"type": "web_url", "url": card["url"]}
            if "buttons" in card:
                element["buttons"] = [_button(b) for b in card["buttons"]]
            elements.append(element)
        payload = {"template_type": "generic", "elements": elements}
        self._send(lambda: Reply(template=payload, quick_replies=_chips(action)))

    def _send(self, make: Any) -> None:
        if len(self.replies) >= MAX_REPLIES:
            self.trace.append(f"More than {MAX_REPLIES} messages in one turn: the rest is skipped.")
            return
        try:
            self.replies.append(make())
        except InvalidReply as err:
            self.trace.append(f"A message Messenger would refuse was skipped: {err}.")

    def _set_field(self, name: str, value: str) -> None:
        value = value.strip()[: schema.FIELD_VALUE_LIMIT]
        if value:
            self.fields[name] = value
            self.changed_fields[name] = value
            self.trace.append(f"Set {name} = {value!r}.")
        else:
            self.fields.pop(name, None)
            self.changed_fields[name] = None
            self.trace.append(f"Remove {name}.")

    def _outcome(self) -> Outcome:
        return Outcome(
            replies=tuple(self.replies),
            handoff=self.handoff,
            typing=self.later is not None and self.later.delay > 0,
            state=None if self.state == self.before else dict(self.state),
            fields=dict(self.changed_fields),
            add_tags=frozenset(self.added - set(self.turn.memory.tags)),
            remove_tags=frozenset(self.removed & set(self.turn.memory.tags)),
            resolve=self.resolve,
            later=self.later,
        )


def _chips(action: Mapping[str, Any]) -> tuple[QuickReply, ...]:
    return tuple(
        QuickReply(title=chip["title"], payload=chip["payload"])
        for chip in action.get("quick_replies", ())
    )


def _button(button: Mapping[str, Any]) -> dict[str, Any]:
    if "url" in button:
        return {"type": "web_url", "url": button["url"], "title": button["title"]}
    return {"type": "postback", "payload": button["payload"], "title": button["title"]}


def _quote(value: str) -> str:
    return quote(value, safe="")


def _dig(body: Any, where: str) -> str | None:
    """The value at a dotted path of a JSON answer, as text; None when there is none."""
    current = body
    for part in where.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    if current is None or isinstance(current, Mapping | list):
        return None
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)
