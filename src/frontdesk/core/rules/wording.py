"""Words as a bot compares and writes them: folding for matching, and `{{variables}}` in texts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

VARIABLE = re.compile(r"\{\{\s*([a-z][a-z0-9_.]{0,79})\s*(?:\|([^{}]{0,200}))?\}\}")
"""`{{first_name}}`, `{{order_number|unknown}}`: a name, then an optional default after `|`."""
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """`text` as keywords compare it: case- and accent-insensitive, spaces collapsed.

    "  Horário  DE Abertura " and "horario de abertura" fold alike; letters that are not
    accented Latin ones (ß, ø, Greek, Cyrillic) are kept as casefold leaves them."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare).strip()


def variables_in(template: str) -> list[str]:
    """The variable names a text uses, in order."""
    return [match.group(1) for match in VARIABLE.finditer(template)]


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace each `{{name|default}}` with its value; an unknown or empty value gives the
    default, or nothing. Values are inserted as they are: nothing a contact typed is read as
    a variable again."""

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1), "")
        if found.strip():
            return found
        return (match.group(2) or "").strip()

    return VARIABLE.sub(value, template)
