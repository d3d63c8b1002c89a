"""Which regular expressions a bot may use: none that can backtrack for ever on a message.

Python's `re` has no time limit, and a rule's pattern runs on every customer message in the
worker (and in the console's "Try it"), so one pattern like `(a+)+$` would stall a whole
process for seconds per message. The shapes that take exponential time are refused when the
bot is saved: a repetition inside a repetition, an alternation under a repetition, and
backreferences. What is left backtracks at most polynomially, and messages are matched on
their first 1,000 characters only (`matching`).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The parser behind `re.compile` (Python >= 3.11; the stubs do not know it).
sre: Any = importlib.import_module("re._parser")

LONGEST = 300
"""Characters a pattern may have."""

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


def problem(pattern: str) -> str | None:
    """Why `pattern` is refused, in words for the bot's author; None when it may be used.

    Raises `re.error` for what is not a regular expression at all.
    """
    if len(pattern) > LONGEST:
        return f"is longer than {LONGEST} characters"
    re.compile(pattern)
    return _walk(sre.parse(pattern), inside_repeat=False)


def _walk(items: Any, *, inside_repeat: bool) -> str | None:
    for op, arg in items:
        if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            return "uses a backreference (\\1, (?P=name)), which can take exponential time"
        if op in _REPEATS:
            _low, high, body = arg
            repeats = high is sre.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                return (
                    "repeats something that repeats, like (a+)+, which can take exponential "
                    "time on some messages: write it without the outer repetition"
                )
            found = _walk(body, inside_repeat=inside_repeat or repeats)
        elif op is sre.BRANCH:
            if inside_repeat:
                return (
                    "repeats a choice, like (a|ab)*, which can take exponential time on some "
                    "messages: use keywords, or a character class like [ab]*"
                )
            found = _first(arg[1], inside_repeat)
        elif op is sre.SUBPATTERN:
            found = _walk(arg[-1], inside_repeat=inside_repeat)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            found = _walk(arg[1], inside_repeat=inside_repeat)
        else:
            found = None
        if found is not None:
            return found
    return None


def _first(branches: Any, inside_repeat: bool) -> str | None:
    for branch in branches:
        found = _walk(branch, inside_repeat=inside_repeat)
        if found is not None:
            return found
    return None
