"""The published JSON Schema of a bot, and the checker that reads a bot against it.

The schema is the one description of the format: `check` validates with it (the subset of
JSON Schema it uses: type, properties, required, additionalProperties, enum, pattern,
lengths, item counts, bounds, and oneOf over objects told apart by their first required
key), docs/rule-bot.md's reference is generated from its descriptions, and it is published as
docs/rule-bot.schema.json for editors and other tools. Checks that need the whole bot (a
`goto` to a flow that exists, a regular expression that compiles) are `model`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..models import (
    BUTTONS_LIMIT,
    ELEMENT_TITLE_LIMIT,
    ELEMENTS_LIMIT,
    PAYLOAD_LIMIT,
    QUICK_REPLY_LIMIT,
    TEXT_LIMIT,
    TITLE_LIMIT,
)

Path = tuple[str | int, ...]

NAME = r"^[a-z][a-z0-9_]{0,39}$"
DURATION = r"^[1-9][0-9]{0,5}(s|m|h|d)$"
CLOCK_RANGES = (
    r"^([01][0-9]|2[0-4]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]"
    r"(, *([01][0-9]|2[0-4]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9])*$"
)
TARGET = r"^[a-z][a-z0-9_]{0,39}(/[a-z][a-z0-9_]{0,39})?$"
URL = r"^https?://[^\s]{1,1990}$"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXPECT = ("text", "email", "phone", "number", "date", "choice")
ATTACHMENT_KINDS = ("any", "image", "video", "audio", "file", "sticker")
MENU_LIMIT = 20
"""Persistent menu items at the top level. Meta's own limit is not confirmed in the digest;
20 is what Meta has documented, and the emulator refuses nothing under it."""
MENU_TITLE_LIMIT = 30
GREETING_LIMIT = 160
STEPS_LIMIT = 100
RULES_LIMIT = 1000
FLOWS_LIMIT = 200
WORDS_LIMIT = 100
WORD_LIMIT = 100
REGEX_LIMIT = 200
FIELD_VALUE_LIMIT = 500


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a bot: where (a path of keys and indexes), and what."""

    path: Path
    message: str

    @property
    def where(self) -> str:
        """The path as people read it: `rules[2].do[0].text`."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(the whole bot)"


def _text(description: str, most: int, *, least: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": least, "maxLength": most, "description": description}


def _pattern(description: str, pattern: str, most: int = 40) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "maxLength": most, "description": description}


def _list(description: str, items: dict[str, Any], most: int, least: int = 1) -> dict[str, Any]:
    return {
        "type": "array",
        "items": items,
        "minItems": least,
        "maxItems": most,
        "description": description,
    }


def _object(
    description: str, properties: dict[str, Any], required: Sequence[str] = ()
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    return out


_PAYLOAD = _text("What your bot receives when it is tapped (a postback payload).", PAYLOAD_LIMIT)
_PAYLOADS = _list(
    "Payloads; the rule fires on any of them.",
    _text("A payload.", PAYLOAD_LIMIT),
    WORDS_LIMIT,
)
_TARGET = _pattern(
    "A flow (`order_status`) or a step of a flow by its id (`order_status/confirm`).", TARGET, 81
)
_QUICK_REPLY = _object(
    "A quick reply chip. Tapping it sends its title as text with its payload.",
    {
        "title": _text(f"At most {TITLE_LIMIT} characters.", TITLE_LIMIT),
        "payload": _PAYLOAD,
    },
    ("title", "payload"),
)
_BUTTON: dict[str, Any] = {
    "type": "object",
    "description": "A button: a postback (`payload`) or a link (`url`), never both.",
    "oneOf": [
        _object(
            "A postback button.",
            {
                "payload": _PAYLOAD,
                "title": _text(f"At most {TITLE_LIMIT} characters.", TITLE_LIMIT),
            },
            ("payload", "title"),
        ),
        _object(
            "A link button.",
            {
                "url": _pattern("An http(s) address.", URL, 2000),
                "title": _text(f"At most {TITLE_LIMIT} characters.", TITLE_LIMIT),
            },
            ("url", "title"),
        ),
    ],
}
_QUICK_REPLIES = _list(
    f"Quick replies under the message, at most {QUICK_REPLY_LIMIT}.",
    _QUICK_REPLY,
    QUICK_REPLY_LIMIT,
)
_BUTTONS = _list(f"At most {BUTTONS_LIMIT} buttons.", _BUTTON, BUTTONS_LIMIT)
_MESSAGE_TEXT = _text(
    f"The message, with `{{{{variables}}}}`; under {TEXT_LIMIT} characters, or at most 640 "
    "with buttons.",
    TEXT_LIMIT - 1,
)

ACTIONS: dict[str, dict[str, Any]] = {
    "text": _object(
        "Send a text, with quick replies or buttons (not both).",
        {
            "text": _MESSAGE_TEXT,
            "quick_replies": _QUICK_REPLIES,
            "buttons": _BUTTONS,
            "id": _pattern("The step's id, for `goto: flow/id`.", NAME),
        },
        ("text",),
    ),
    "cards": _object(
        "Send a carousel of cards (a generic template).",
        {
            "cards": _list(
                f"At most {ELEMENTS_LIMIT} cards.",
                _object(
                    "One card.",
                    {
                        "title": _text(
                            f"At most {ELEMENT_TITLE_LIMIT} characters.", ELEMENT_TITLE_LIMIT
                        ),
                        "subtitle": _text(
                            f"At most {ELEMENT_TITLE_LIMIT} characters.", ELEMENT_TITLE_LIMIT
                        ),
                        "image": _pattern("The picture's http(s) address.", URL, 2000),
                        "url": _pattern("Where tapping the card goes.", URL, 2000),
                        "buttons": _BUTTONS,
                    },
                    ("title",),
                ),
                ELEMENTS_LIMIT,
            ),
            "quick_replies": _QUICK_REPLIES,
            "id": _pattern("The step's id, for `goto: flow/id`.", NAME),
        },
        ("cards",),
    ),
    **{
        kind: _object(
            f"Send {'an' if kind[0] in 'aeiou' else 'a'} {kind} by its public http(s) address.",
            {
                kind: _pattern("The http(s) address Meta fetches it from.", URL, 2000),
                "quick_replies": _QUICK_REPLIES,
                "id": _pattern("The step's id, for `goto: flow/id`.", NAME),
            },
            (kind,),
        )
        for kind in ("image", "video", "audio", "file")
    },
    "ask": _object(
        "Ask a question and keep the answer in a contact field; the flow waits for it.",
        {
            "ask": _text("The question, with `{{variables}}`.", 640),
            "field": _pattern("The contact field that keeps the answer.", NAME),
            "expect": {
                "enum": list(EXPECT),
                "description": "What a valid answer is (default `text`). `choice` takes one "
                "of `choices`; `date` takes 2025-03-31, 31/03/2025, 31-03-2025 or 31.03.2025 "
                "(day first), kept as 2025-03-31.",
            },
            "choices": _list(
                "The answers offered as quick replies (and the only ones `choice` takes).",
                _text(f"At most {TITLE_LIMIT} characters.", TITLE_LIMIT),
                QUICK_REPLY_LIMIT,
            ),
            "retry": _text("Said when an answer is not valid, before asking again.", 640),
            "tries": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10,
                "description": "Answers taken before giving up (default 3).",
            },
            "on_fail": _TARGET,
            "id": _pattern("The step's id, for `goto: flow/id`.", NAME),
        },
        ("ask", "field"),
    ),
    "goto": _object(
        "Go on with another flow, or a step of one.",
        {"goto": _TARGET, "id": _pattern("The step's id.", NAME)},
        ("goto",),
    ),
    "set": _object(
        "Set contact fields (`{{variables}}` allowed); an empty value removes the field.",
        {
            "set": {
                "type": "object",
                "description": "Field name → value.",
                "propertyNames": {"pattern": NAME},
                "additionalProperties": {"type": "string", "maxLength": FIELD_VALUE_LIMIT},
                "minProperties": 1,
                "maxProperties": 20,
            },
            "id": _pattern("The step's id.", NAME),
        },
        ("set",),
    ),
    "tag": _object(
        "Give the contact a tag.",
        {"tag": _pattern("The tag.", NAME), "id": _pattern("The step's id.", NAME)},
        ("tag",),
    ),
    "untag": _object(
        "Take a tag away from the contact.",
        {"untag": _pattern("The tag.", NAME), "id": _pattern("The step's id.", NAME)},
        ("untag",),
    ),
    "wait": _object(
        "Pause with the typing indicator on, then go on (at most 30s).",
        {
            "wait": _pattern("How long: `2s`.", r"^([1-9]|[12][0-9]|30)s$", 3),
            "id": _pattern("The step's id.", NAME),
        },
        ("wait",),
    ),
    "handoff": _object(
        "Say a message and hand the conversation to a person; the bot is silent meanwhile.",
        {
            "handoff": _text("Said to the customer.", 640),
            "reason": _text("Shown to your team in the inbox.", 200),
            "id": _pattern("The step's id.", NAME),
        },
        ("handoff",),
    ),
    "resolve": _object(
        "Mark the conversation resolved and end the flow.",
        {"resolve": {"const": True, "description": "`true`."}, "id": _pattern("Id.", NAME)},
        ("resolve",),
    ),
    "call": _object(
        "Call an HTTP endpoint and keep fields of its JSON answer; the flow waits for it.",
        {
            "call": _pattern(
                "The endpoint's http(s) address, with `{{variables}}` (URL-encoded).", URL, 2000
            ),
            "method": {"enum": ["GET", "POST"], "description": "Default `GET`."},
            "body": {
                "type": "object",
                "description": "Sent as JSON with POST: name → text, with `{{variables}}`.",
                "additionalProperties": {"type": "string", "maxLength": FIELD_VALUE_LIMIT},
                "maxProperties": 20,
            },
            "save": {
                "type": "object",
                "description": "Contact field → where its value is in the answer "
                "(`order.status`, `items.0.name`).",
                "propertyNames": {"pattern": NAME},
                "additionalProperties": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,200}$"},
                "maxProperties": 20,
            },
            "timeout": _pattern("At most `10s` (default `5s`).", r"^([1-9]|10)s$", 3),
            "on_error": _TARGET,
            "id": _pattern("The step's id.", NAME),
        },
        ("call",),
    ),
}

ACTION: dict[str, Any] = {
    "type": "object",
    "description": "One action; its first key says which.",
    "oneOf": list(ACTIONS.values()),
}
_ACTIONS = _list("Actions, done in order.", ACTION, STEPS_LIMIT)

TRIGGERS: dict[str, dict[str, Any]] = {
    "welcome": {
        "const": True,
        "description": "The Get Started button; and the first message of a new conversation "
        "when no other rule fires for it.",
    },
    "keywords": _object(
        "Words in a text message, case and accents ignored; any of them fires the rule.",
        {
            kind: _list(
                f"The message {words}.",
                _text("Words.", WORD_LIMIT),
                WORDS_LIMIT,
            )
            for kind, words in (
                ("is", "is exactly one of these"),
                ("contains", "contains one of these (as whole words)"),
                ("starts_with", "starts with one of these"),
            )
        },
    ),
    "regex": _text(
        "A regular expression (Python's) searched in the text, case ignored.", REGEX_LIMIT
    ),
    "postback": _PAYLOADS,
    "quick_reply": _PAYLOADS,
    "ref": _list(
        "The `ref` of an m.me link or an ad the contact came through.",
        _text("A ref.", 250),
        WORDS_LIMIT,
    ),
    "attachment": _list(
        "An attachment of one of these kinds (`any` for all).",
        {"enum": list(ATTACHMENT_KINDS)},
        len(ATTACHMENT_KINDS),
    ),
    "location": {"const": True, "description": "A shared location."},
    "default": _pattern(
        "When no other rule fires: `always`, or at most once per period (`4h`, `1d`).",
        r"^(always|[1-9][0-9]{0,3}(m|h|d))$",
        6,
    ),
}
CONDITIONS: dict[str, dict[str, Any]] = {
    "hours": _object(
        "Inside (`open`) or outside (`closed`) the bot's business hours.",
        {"hours": {"enum": ["open", "closed"], "description": "`open` or `closed`."}},
        ("hours",),
    ),
    "field": _object(
        "A contact field: `equals` a value, or `set` (true: has any value, false: none).",
        {
            "field": _pattern("The field.", NAME),
            "equals": _text("Compared case and accents ignored.", FIELD_VALUE_LIMIT, least=0),
            "set": {"type": "boolean", "description": "Whether the field has a value."},
        },
        ("field",),
    ),
    "tag": _object("The contact has the tag.", {"tag": _pattern("The tag.", NAME)}, ("tag",)),
    "not_tag": _object(
        "The contact does not have the tag.", {"not_tag": _pattern("The tag.", NAME)}, ("not_tag",)
    ),
}

RULE = _object(
    "A rule: when one of its triggers fires and all its conditions hold, its actions run. "
    "Rules are tried in order; the first that fires answers.",
    {
        "name": _text("What the rule is for, as the console lists it.", 100),
        "when": {
            **_object("The triggers; any of them fires the rule.", TRIGGERS),
            "minProperties": 1,
        },
        "if": _list(
            "Conditions that must all hold.",
            {"type": "object", "description": "One condition.", "oneOf": list(CONDITIONS.values())},
            20,
        ),
        "do": _ACTIONS,
    },
    ("when", "do"),
)

MENU_ITEM: dict[str, Any] = {
    "type": "object",
    "description": "A persistent menu item: a postback or a link.",
    "oneOf": [
        _object(
            "A postback item.",
            {
                "payload": _PAYLOAD,
                "title": _text(f"At most {MENU_TITLE_LIMIT} characters.", MENU_TITLE_LIMIT),
            },
            ("payload", "title"),
        ),
        _object(
            "A link item.",
            {
                "url": _pattern("An http(s) address.", URL, 2000),
                "title": _text(f"At most {MENU_TITLE_LIMIT} characters.", MENU_TITLE_LIMIT),
            },
            ("url", "title"),
        ),
    ],
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://frontdesk.invalid/schemas/rule-bot.json",
    "title": "Frontdesk rule-based bot",
    **_object(
        "A rule-based bot for one Messenger Page.",
        {
            "name": _text("The bot's name.", 100),
            "timezone": _text(
                "The IANA time zone of `hours` (default `UTC`), like `Europe/Lisbon`.", 60
            ),
            "hours": _object(
                "Business hours per day (`mon` … `sun`): `09:00-13:00, 14:00-19:00`. A day "
                "left out is closed.",
                {day: _pattern("Opening ranges.", CLOCK_RANGES, 200) for day in DAYS},
            ),
            "flow_timeout": _pattern(
                "A flow waiting for an answer is abandoned after this long without one "
                "(default `1h`).",
                DURATION,
                7,
            ),
            "profile": _object(
                "The Page's Messenger profile, pushed when the bot is linked or saved.",
                {
                    "get_started": _text(
                        "The Get Started button's payload; it fires `welcome` rules.",
                        PAYLOAD_LIMIT,
                    ),
                    "greeting": _text(
                        f"The greeting before a conversation, at most {GREETING_LIMIT} "
                        "characters (Messenger fills in `{{user_first_name}}`).",
                        GREETING_LIMIT,
                    ),
                    "menu": _list(
                        f"The persistent menu, at most {MENU_LIMIT} items; needs `get_started`.",
                        MENU_ITEM,
                        MENU_LIMIT,
                    ),
                },
            ),
            "rules": _list("The rules, in order.", RULE, RULES_LIMIT, least=0),
            "flows": {
                "type": "object",
                "description": "Named flows: lists of actions that rules and other flows `goto`.",
                "propertyNames": {"pattern": NAME},
                "additionalProperties": _ACTIONS,
                "maxProperties": FLOWS_LIMIT,
            },
        },
        ("name", "rules"),
    ),
}


# --- checking a bot against the schema -------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
}
_SAY_TYPE = {
    "object": "a mapping of names to values",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
}
_MAX_PROBLEMS = 50


def check(data: Any) -> list[Problem]:
    """Every way `data` departs from SCHEMA (at most 50), in document order."""
    problems: list[Problem] = []
    _check(data, SCHEMA, (), problems)
    return problems[:_MAX_PROBLEMS]


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer",) and isinstance(value, bool):
        return False
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _check(value: Any, schema: Mapping[str, Any], path: Path, out: list[Problem]) -> None:
    if len(out) >= _MAX_PROBLEMS:
        return
    if "const" in schema and value != schema["const"]:
        out.append(Problem(path, f"must be {_show(schema['const'])}"))
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_show(v) for v in schema["enum"])
        out.append(Problem(path, f"must be one of {choices}"))
        return
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        hint = ""
        if kind == "string" and isinstance(value, bool | int | float):
            hint = " (in quotes: YAML reads yes, no, on, off and numbers otherwise)"
        out.append(Problem(path, f"must be {_SAY_TYPE[kind]}{hint}"))
        return
    if isinstance(value, str):
        _check_text(value, schema, path, out)
    elif isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Problem(path, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Problem(path, f"must be at most {schema['maximum']}"))
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(Problem(path, f"needs at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(Problem(path, f"has {len(value)} items; at most {schema['maxItems']}"))
        for index, item in enumerate(value[: schema.get("maxItems", len(value))]):
            _check(item, schema["items"], (*path, index), out)
    elif isinstance(value, dict):
        if "oneOf" in schema:
            _check_one_of(value, schema["oneOf"], path, out)
        else:
            _check_object(value, schema, path, out)


def _check_text(value: str, schema: Mapping[str, Any], path: Path, out: list[Problem]) -> None:
    if len(value) < schema.get("minLength", 0):
        out.append(Problem(path, "must not be empty"))
    elif "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(Problem(path, f"has {len(value)} characters; at most {schema['maxLength']}"))
    elif "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(Problem(path, f"{_show(value[:60])} {_PATTERN_WORDS.get(schema['pattern'])}"))


_PATTERN_WORDS = {
    NAME: "is not a name: lowercase letters, digits and _, starting with a letter",
    DURATION: "is not a duration like 30s, 15m, 1h or 2d",
    CLOCK_RANGES: "is not a list of times like 09:00-13:00, 14:00-19:00",
    TARGET: "is not a flow (`name`) or a step (`flow/step`)",
    URL: "is not an http(s) address",
    r"^([1-9]|[12][0-9]|30)s$": "is not a wait of 1s to 30s",
    r"^([1-9]|10)s$": "is not a timeout of 1s to 10s",
    r"^(always|[1-9][0-9]{0,3}(m|h|d))$": "is not `always` or a period like 4h",
    r"^[A-Za-z0-9_.-]{1,200}$": "is not a path like order.status",
}


def _check_object(
    value: dict[Any, Any], schema: Mapping[str, Any], path: Path, out: list[Problem]
) -> None:
    for name in value:
        if not isinstance(name, str):
            out.append(Problem(path, f"has a key that is not text: {_show(name)}"))
            return
    for name in schema.get("required", ()):
        if name not in value:
            out.append(Problem((*path, name), "is missing"))
    if len(value) < schema.get("minProperties", 0):
        out.append(Problem(path, "must not be empty"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(Problem(path, f"has {len(value)} entries; at most {schema['maxProperties']}"))
    properties: Mapping[str, Any] = schema.get("properties", {})
    names = schema.get("propertyNames")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(item, properties[name], (*path, name), out)
            continue
        if names is not None and not re.search(names["pattern"], name):
            out.append(Problem((*path, name), f"{_PATTERN_WORDS[names['pattern']]}"))
        elif extra is False:
            known = ", ".join(properties) or "nothing"
            out.append(Problem((*path, name), f"is not known here (known: {known})"))
        elif isinstance(extra, Mapping):
            _check(item, extra, (*path, name), out)


def _check_one_of(
    value: dict[Any, Any], options: Sequence[Mapping[str, Any]], path: Path, out: list[Problem]
) -> None:
    """One of `options` applies, chosen by the key that each option names first in
    `required`: that is how actions, conditions and buttons say what they are."""
    keys = [option["required"][0] for option in options]
    present = [(key, option) for key, option in zip(keys, options, strict=True) if key in value]
    if not present:
        out.append(Problem(path, f"needs one of: {', '.join(dict.fromkeys(keys))}"))
    elif len(present) > 1:
        both = " and ".join(key for key, _ in present)
        out.append(Problem(path, f"has {both}: one per item"))
    else:
        _check_object(value, present[0][1], path, out)


def _show(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
