"""A bot as the engine runs it, built from its definition once the schema has passed it.

`build` is the only way to make a Bot: it checks the definition against the schema, then what
the schema cannot see (a `goto` to a flow that exists, a regular expression that compiles, a
condition on business hours of a bot that has none, Messenger's limits on a message with
buttons), and raises BotInvalid with every problem found, each with its path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..models import BUTTON_TEXT_LIMIT
from . import patterns, schema
from .matching import Keywords, RuleIndex, Trigger, words
from .schema import Path, Problem
from .wording import variables_in

BUILT_IN = frozenset({"first_name", "last_name", "name", "psid"})
"""Variables every text may use, from the contact's profile; no field may take these names."""
DEFAULT_GET_STARTED = "GET_STARTED"


class BotInvalid(ValueError):  # noqa: N818 - reads as "the bot is invalid"
    """The definition is not a bot; `problems` says where and why, in document order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: _order(p.path))
        super().__init__("; ".join(f"{p.where}: {p.message}" for p in self.problems[:5]))


def _order(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in path)


def seconds(duration: str) -> float:
    """`30s`, `15m`, `1h`, `2d` in seconds (the schema's DURATION)."""
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[-1]]
    return float(int(duration[:-1]) * unit)


@dataclass(frozen=True)
class Rule:
    index: int
    name: str
    trigger: Trigger
    conditions: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Hours:
    """Opening ranges per weekday (0 is Monday), in `zone`."""

    zone: ZoneInfo
    days: Mapping[int, tuple[tuple[time, time], ...]]


@dataclass(frozen=True)
class Bot:
    """A compiled bot. `key` names the exact definition (a digest, or "draft"): flow state
    saved under another key is abandoned rather than resumed in a changed bot."""

    key: str
    name: str
    rules: tuple[Rule, ...]
    flows: Mapping[str, tuple[Mapping[str, Any], ...]]
    steps: Mapping[tuple[str, str], int]
    """(flow, step id) → the step's index in its flow."""
    hours: Hours | None
    flow_timeout: float
    get_started: str
    profile: Mapping[str, Any] = field(default_factory=dict)
    definition: Mapping[str, Any] = field(default_factory=dict)
    index: RuleIndex = field(default_factory=lambda: RuleIndex(()))
    defaults: tuple[Rule, ...] = ()
    """The default rules, in order: tried when no other rule fires."""


def build(definition: Any, key: str) -> Bot:
    """The Bot of a definition (plain data, as JSON or YAML give it); raises BotInvalid."""
    problems = schema.check(definition)
    if problems:
        raise BotInvalid(problems)
    return _Builder(definition).bot(key)


class _Builder:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []
        self.flows: Mapping[str, list[Mapping[str, Any]]] = data.get("flows", {})
        self.steps: dict[tuple[str, str], int] = {}

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def bot(self, key: str) -> Bot:
        data = self.data
        for name, steps in self.flows.items():
            for index, step in enumerate(steps):
                if "id" in step:
                    if (name, step["id"]) in self.steps:
                        self.fail(("flows", name, index, "id"), "is used twice in this flow")
                    self.steps[(name, step["id"])] = index
        hours = self._hours()
        rules = tuple(self._rule(index, rule) for index, rule in enumerate(data["rules"]))
        for name, steps in self.flows.items():
            self._actions(("flows", name), steps)
        profile = data.get("profile", {})
        if "menu" in profile and "get_started" not in profile:
            self.fail(("profile", "menu"), "needs profile.get_started (Messenger's rule)")
        uses_hours = any(
            "hours" in condition for rule in data["rules"] for condition in rule.get("if", ())
        )
        if uses_hours and hours is None:
            self.fail(("hours",), "is needed: a rule has an `hours` condition")
        if self.problems:
            raise BotInvalid(self.problems)
        return Bot(
            key=key,
            name=data["name"],
            rules=rules,
            flows={name: tuple(steps) for name, steps in self.flows.items()},
            steps=self.steps,
            hours=hours,
            flow_timeout=seconds(data.get("flow_timeout", "1h")),
            get_started=profile.get("get_started", DEFAULT_GET_STARTED),
            profile=profile,
            definition=data,
            index=RuleIndex([rule.trigger for rule in rules]),
            defaults=tuple(rule for rule in rules if rule.trigger.is_default),
        )

    def _hours(self) -> Hours | None:
        zone_name = self.data.get("timezone", "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(("timezone",), f'"{zone_name}" is not a time zone, like Europe/Lisbon')
            return None
        if "hours" not in self.data:
            return None
        days: dict[int, tuple[tuple[time, time], ...]] = {}
        for day, ranges in self.data["hours"].items():
            parsed = []
            for part in ranges.split(","):
                start, end = (_clock(text.strip()) for text in part.split("-"))
                if start is None or end is None or end <= start:
                    self.fail(("hours", day), f'"{part.strip()}" does not end after it starts')
                    continue
                parsed.append((start, end))
            days[schema.DAYS.index(day)] = tuple(parsed)
        return Hours(zone, days)

    def _rule(self, index: int, rule: Mapping[str, Any]) -> Rule:
        path: Path = ("rules", index)
        when = rule["when"]
        if "default" in when and len(when) > 1:
            self.fail((*path, "when", "default"), "is a trigger of its own: no other with it")
        regex = None
        if "regex" in when:
            try:
                refused = patterns.problem(when["regex"])
                if refused is None:
                    regex = re.compile(when["regex"], re.IGNORECASE)
                else:
                    self.fail((*path, "when", "regex"), refused)
            except re.error as err:
                self.fail((*path, "when", "regex"), f"is not a regular expression: {err}")
        phrases = when.get("keywords")
        keywords = None
        if phrases is not None:
            if not phrases:
                self.fail((*path, "when", "keywords"), "needs is, contains or starts_with")
            keywords = Keywords(
                frozenset(words(w) for w in phrases.get("is", ())),
                tuple(words(w) for w in phrases.get("contains", ())),
                tuple(words(w) for w in phrases.get("starts_with", ())),
            )
        every = when.get("default")
        trigger = Trigger(
            welcome=bool(when.get("welcome")),
            keywords=keywords,
            regex=regex,
            postbacks=frozenset(when.get("postback", ())),
            quick_replies=frozenset(when.get("quick_reply", ())),
            refs=frozenset(when.get("ref", ())),
            attachments=frozenset(when.get("attachment", ())),
            location=bool(when.get("location")),
            default_every=None if every is None else (0.0 if every == "always" else seconds(every)),
        )
        for number, condition in enumerate(rule.get("if", ())):
            if "field" in condition:
                self._field_name((*path, "if", number, "field"), condition["field"])
                if ("equals" in condition) == ("set" in condition):
                    self.fail((*path, "if", number), "needs exactly one of equals or set")
        self._actions((*path, "do"), rule["do"])
        return Rule(
            index,
            rule.get("name") or f"Rule {index + 1}",
            trigger,
            tuple(rule.get("if", ())),
            tuple(rule["do"]),
        )

    def _field_name(self, path: Path, name: str) -> None:
        if name in BUILT_IN:
            self.fail(path, f'"{name}" is the contact\'s own; choose another field name')

    def _target(self, path: Path, target: str) -> None:
        flow, _, step = target.partition("/")
        if flow not in self.flows:
            self.fail(path, f'names no flow: there is no flow "{flow}"')
        elif step and (flow, step) not in self.steps:
            self.fail(path, f'names no step: flow "{flow}" has no step with id "{step}"')

    def _actions(self, path: Path, actions: list[Mapping[str, Any]]) -> None:
        for index, action in enumerate(actions):
            here = (*path, index)
            for name, value in action.items():
                if isinstance(value, str) and name not in ("call",):
                    self._variables((*here, name), value)
            if "text" in action:
                if "buttons" in action and "quick_replies" in action:
                    self.fail(here, "has buttons and quick_replies: Messenger takes one or other")
                if "buttons" in action and len(action["text"]) > BUTTON_TEXT_LIMIT:
                    self.fail(
                        (*here, "text"),
                        f"has {len(action['text'])} characters; with buttons at most "
                        f"{BUTTON_TEXT_LIMIT}",
                    )
            elif "ask" in action:
                self._field_name((*here, "field"), action["field"])
                if action.get("expect") == "choice" and "choices" not in action:
                    self.fail((*here, "choices"), "is missing: expect choice needs choices")
                if "on_fail" in action:
                    self._target((*here, "on_fail"), action["on_fail"])
            elif "goto" in action:
                self._target((*here, "goto"), action["goto"])
            elif "set" in action:
                for name, value in action["set"].items():
                    self._field_name((*here, "set", name), name)
                    self._variables((*here, "set", name), value)
            elif "call" in action:
                self._variables((*here, "call"), action["call"])
                for name in action.get("save", {}):
                    self._field_name((*here, "save", name), name)
                if "on_error" in action:
                    self._target((*here, "on_error"), action["on_error"])
                if "body" in action and action.get("method", "GET") != "POST":
                    self.fail((*here, "body"), "is sent with method POST only")

    def _variables(self, path: Path, text: str) -> None:
        for name in variables_in(text):
            if "." in name:
                self.fail(path, f"{{{{{name}}}}} is not a variable: names have no dots")


def _clock(text: str) -> time | None:
    hours, _, minutes = text.partition(":")
    if int(hours) == 24 and int(minutes) == 0:
        return time.max
    if int(hours) > 23:
        return None
    return time(int(hours), int(minutes))
