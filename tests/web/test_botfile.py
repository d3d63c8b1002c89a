"""A bot's YAML or JSON file: every problem named by its line and field; hostile files refused
before they cost anything; what is exported reads back the same."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from frontdesk.web.botfile import MAX_BYTES, BotFileError, Located, dump, load, parse

GOOD = """\
name: Tiny
rules:
  - name: Hello
    when:
      keywords:
        is: [hello]
    do:
      - text: Hi!
"""


def problems(text: str, fmt: str = "yaml") -> list[str]:
    with pytest.raises(BotFileError) as caught:
        load(text, "k", fmt)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def test_a_good_file_builds_a_bot() -> None:
    found = load(GOOD, "k")
    assert found.bot.rules[0].name == "Hello"
    assert found.lines[("rules", 0, "do", 0, "text")] == 8


CASES = [
    ("a missing key", "name: X\n", ["line 1, rules: is missing"]),
    (
        "an unknown key",
        GOOD + "colour: blue\n",
        [
            "line 9, colour: is not known here (known: name, timezone, hours, flow_timeout, "
            "profile, rules, flows)"
        ],
    ),
    (
        "a title over Messenger's limit",
        GOOD.replace(
            "- text: Hi!",
            "- text: Hi!\n        quick_replies:\n"
            "          - {title: This title is far too long, payload: P}",
        ),
        ["line 10, rules[0].do[0].quick_replies[0].title: has 26 characters; at most 20"],
    ),
    (
        "too many quick replies",
        GOOD.replace(
            "- text: Hi!",
            "- text: Hi!\n        quick_replies:\n"
            + "".join(f"          - {{title: T{n}, payload: P}}\n" for n in range(14)),
        ),
        ["line 9, rules[0].do[0].quick_replies: has 14 items; at most 13"],
    ),
    (
        "yes read as true",
        GOOD.replace("- text: Hi!", "- text: yes"),
        [
            "line 8, rules[0].do[0].text: must be text (in quotes: YAML reads yes, no, on, off "
            "and numbers otherwise)"
        ],
    ),
    (
        "an action of no kind",
        GOOD.replace("- text: Hi!", "- say: Hi!"),
        [
            "line 8, rules[0].do[0]: needs one of: text, cards, image, video, audio, file, ask, "
            "goto, set, tag, untag, wait, handoff, resolve, call"
        ],
    ),
    (
        "two actions in one item",
        GOOD.replace("- text: Hi!", "- text: Hi!\n        goto: x"),
        ["line 8, rules[0].do[0]: has text and goto: one per item"],
    ),
    (
        "a goto to no flow",
        GOOD.replace("- text: Hi!", "- goto: nowhere"),
        ['line 8, rules[0].do[0].goto: names no flow: there is no flow "nowhere"'],
    ),
    (
        "a regex that does not compile",
        GOOD.replace("keywords:\n        is: [hello]", "regex: '(unclosed'"),
        [
            "line 5, rules[0].when.regex: is not a regular expression: missing ), unterminated "
            "subpattern at position 0"
        ],
    ),
    (
        "hours condition without hours",
        GOOD.replace("    do:", "    if:\n      - hours: open\n    do:"),
        ["line 1, hours: is needed: a rule has an `hours` condition"],
    ),
    (
        "buttons text over 640",
        GOOD.replace(
            "- text: Hi!", "- text: " + "x" * 700 + "\n        buttons: [{title: B, payload: P}]"
        ),
        ["line 8, rules[0].do[0].text: has 700 characters; with buttons at most 640"],
    ),
    (
        "a field named like a built-in",
        GOOD.replace("- text: Hi!", "- set: {first_name: Bob}"),
        [
            'line 8, rules[0].do[0].set.first_name: "first_name" is the contact\'s own; choose '
            "another field name"
        ],
    ),
    (
        "a bad time zone",
        "timezone: Mars/Olympus\n" + GOOD,
        ['line 1, timezone: "Mars/Olympus" is not a time zone, like Europe/Lisbon'],
    ),
    (
        "closing before opening",
        "hours:\n  mon: '18:00-09:00'\n" + GOOD,
        ['line 2, hours.mon: "18:00-09:00" does not end after it starts'],
    ),
    (
        "default with another trigger",
        GOOD.replace("keywords:\n        is: [hello]", "default: always\n      postback: [X]"),
        ["line 5, rules[0].when.default: is a trigger of its own: no other with it"],
    ),
    (
        "a menu without get started",
        "profile:\n  menu:\n    - {title: Hours, payload: HOURS}\n" + GOOD,
        ["line 2, profile.menu: needs profile.get_started (Messenger's rule)"],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_problems_name_the_line_and_the_field(name: str, text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_json_problems_have_lines_too() -> None:
    data = {"name": "X", "rules": [{"when": {"postback": ["A"]}, "do": [{"text": ""}]}]}
    text = json.dumps(data, indent=2)
    assert problems(text, "json") == ["line 12, rules[0].do[0].text: must not be empty"]


HOSTILE = [
    ("not yaml", "name: [unclosed\n", "line 2, (the file): is not valid YAML"),
    ("a list", "- a\n- b\n", "line 1, (the file): must be a mapping"),
    ("aliases", "a: &x [1, 2]\nb: *x\n", "line 2, b: uses a YAML alias (*): write it out"),
    ("a key twice", "name: a\nname: b\nrules: []\n", "line 2, name: is given twice"),
    ("python objects", "name: !!python/object:os.system {}\n", "is not valid YAML"),
    ("deep nesting", "a: " + "[" * 200 + "]" * 200 + "\n", "is nested too deeply"),
    ("NUL", "name: a\x00\n", "(the file): holds a NUL character"),
    ("too large", "# " + "x" * MAX_BYTES + "\n", "(the file): is over 256 KiB"),
]


@pytest.mark.parametrize(("name", "text", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_with_a_reason(name: str, text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert expected in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "x", "name": "y"}', 'the key "name" is given twice'),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"name": ', "line 1, (the file): is not JSON"),
    ],
)
def test_hostile_json_is_refused(text: str, expected: str) -> None:
    with pytest.raises(BotFileError) as caught:
        parse(text, "json")
    assert expected in str(caught.value)


def test_a_billion_laughs_is_refused_quickly() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [*{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}]\n"
        for n in range(20)
    )
    assert "uses a YAML alias" in problems(laughs)[0]


def test_the_shipped_example_exports_and_reads_back_in_both_formats() -> None:
    text = (resources.files("frontdesk.handlers") / "examples" / "shop-assistant.yaml").read_text()
    original = load(text, "k")
    for fmt in ("yaml", "json"):
        again = load(dump(original.data, fmt), "k", fmt)  # type: ignore[arg-type]
        assert again.data == original.data


def test_located_problems_read_as_sentences() -> None:
    assert str(Located(3, "rules[0].do", "is missing")) == "line 3, rules[0].do: is missing"
    assert str(Located(None, "rules", "is missing")) == "rules: is missing"
