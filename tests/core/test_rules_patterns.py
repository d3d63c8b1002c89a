"""Bot regular expressions that could backtrack for ever are refused when the bot is saved,
with the reason at the rule's line and field; ordinary ones pass."""

from __future__ import annotations

import re
import time

import pytest

from frontdesk.core.rules.patterns import LONGEST, problem
from frontdesk.web.botfile import BotFileError, load

SAFE = [
    r"order\s*#?\s*(\d+)",
    r"^(hi|hello|hey)\b",
    r"(\d{3})-(\d{4})",
    r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}",
    r"(?:ab)+",
    r"^(?!no\b).*yes",
]
REFUSED = {
    r"(a+)+$": "repeats something that repeats",
    r"(\w+\s?)*$": "repeats something that repeats",
    r"(x+x+)+y": "repeats something that repeats",
    r"(a|ab)*c": "repeats a choice",
    r"(.*a){12}": "repeats something that repeats",
    r"(.)\1": "backreference",
    r"(?P<x>a)(?P=x)": "backreference",
    "x" * (LONGEST + 1): "longer than",
}


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert problem(pattern) is None


@pytest.mark.parametrize(("pattern", "why"), list(REFUSED.items()))
def test_patterns_that_can_take_exponential_time_are_refused(pattern: str, why: str) -> None:
    reason = problem(pattern)
    assert reason is not None
    assert why in reason


def test_the_refused_shapes_really_are_slow_and_the_check_is_not() -> None:
    """Why the check exists: the first refused pattern takes exponential time in `re`."""
    evil = re.compile(r"(a+)+$")
    started = time.perf_counter()
    evil.search("a" * 18 + "!")
    slow = time.perf_counter() - started
    started = time.perf_counter()
    problem(r"(a+)+$")
    check = time.perf_counter() - started
    assert check * 10 < slow


def test_not_a_regular_expression_is_an_error() -> None:
    with pytest.raises(re.error):
        problem("(unclosed")


def test_a_bot_file_with_such_a_pattern_names_its_line_and_field() -> None:
    source = """name: Risky
rules:
  - name: Greedy
    when:
      regex: "(a+)+$"
    do:
      - text: "Hi"
"""
    with pytest.raises(BotFileError) as caught:
        load(source, "k")
    [found] = [str(p) for p in caught.value.problems]
    assert "line 5" in found
    assert "regex" in found
    assert "repeats something" in found
