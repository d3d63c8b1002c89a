"""Which rule a contact's event fires: compiled triggers, and an index of them.

The index lets a bot of many rules look only at the few an event could fire."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..handlers import InboundEvent
from ..models import EventKind
from .wording import fold

_NOT_WORD = re.compile(r"[^\w]+")
TEXT_SCANNED = 1000
"""Characters of a message that keywords and regular expressions look at: a regex written by
a tenant runs in the worker, and a long message must not make it crawl."""


def words(text: str) -> str:
    """`text` folded, punctuation made spaces: "Horário?!" → "horario"."""
    return _NOT_WORD.sub(" ", fold(text[:TEXT_SCANNED])).strip()


@dataclass(frozen=True)
class Keywords:
    """Folded to `words` at build time, as messages are when they arrive."""

    exactly: frozenset[str] = frozenset()
    contains: tuple[str, ...] = ()
    starts_with: tuple[str, ...] = ()

    def match(self, said: str) -> bool:
        if said in self.exactly:
            return True
        padded = f" {said} "
        if any(f" {word} " in padded for word in self.contains):
            return True
        return any(said == word or said.startswith(f"{word} ") for word in self.starts_with)

    def first_words(self) -> Iterable[str]:
        for phrase in (*self.exactly, *self.contains, *self.starts_with):
            if phrase:
                yield phrase.split(" ", 1)[0]


@dataclass(frozen=True)
class Trigger:
    """A rule's `when`, compiled."""

    welcome: bool = False
    keywords: Keywords | None = None
    regex: re.Pattern[str] | None = None
    postbacks: frozenset[str] = frozenset()
    quick_replies: frozenset[str] = frozenset()
    refs: frozenset[str] = frozenset()
    attachments: frozenset[str] = frozenset()
    location: bool = False
    default_every: float | None = None
    """For a default rule: 0 for `always`, else the seconds between two default replies."""

    @property
    def is_default(self) -> bool:
        return self.default_every is not None

    @property
    def needs_scan(self) -> bool:
        """Fires on something the index does not key (welcome, a regex, media, location)."""
        return self.welcome or self.regex is not None or bool(self.attachments) or self.location

    def fires(self, event: InboundEvent, said: str, get_started: str) -> bool:
        """Whether this trigger fires for `event`; `said` is its text as `words` gives it.
        (`welcome` on a conversation's first message is the engine's: it comes after the
        other rules.)"""
        kind = event.kind
        if self.welcome and kind is EventKind.POSTBACK and event.payload == get_started:
            return True
        if event.payload is not None:
            if kind is EventKind.POSTBACK and event.payload in self.postbacks:
                return True
            if kind is EventKind.QUICK_REPLY and event.payload in self.quick_replies:
                return True
        if event.ref is not None and event.ref in self.refs:
            return True
        if event.text and kind in (EventKind.MESSAGE, EventKind.QUICK_REPLY):
            if self.keywords is not None and self.keywords.match(said):
                return True
            if self.regex is not None and self.regex.search(event.text[:TEXT_SCANNED]):
                return True
        if self.attachments and event.attachments:
            kinds = {item.kind for item in event.attachments}
            if "any" in self.attachments or kinds & self.attachments:
                return True
        return self.location and kind is EventKind.LOCATION


class RuleIndex:
    """Candidate rules for an event, in order: those keyed by one of its words (a keyword's
    first word), its payload or its ref, plus every rule the index cannot key."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        by_word: dict[str, set[int]] = defaultdict(set)
        by_postback: dict[str, set[int]] = defaultdict(set)
        by_quick_reply: dict[str, set[int]] = defaultdict(set)
        by_ref: dict[str, set[int]] = defaultdict(set)
        scanned: set[int] = set()
        for index, trigger in enumerate(triggers):
            if trigger.is_default:
                continue
            if trigger.keywords is not None:
                for word in trigger.keywords.first_words():
                    by_word[word].add(index)
            for payload in trigger.postbacks:
                by_postback[payload].add(index)
            for payload in trigger.quick_replies:
                by_quick_reply[payload].add(index)
            for ref in trigger.refs:
                by_ref[ref].add(index)
            if trigger.needs_scan:
                scanned.add(index)
        self._by_word: Mapping[str, frozenset[int]] = _freeze(by_word)
        self._by_postback = _freeze(by_postback)
        self._by_quick_reply = _freeze(by_quick_reply)
        self._by_ref = _freeze(by_ref)
        self._scanned = frozenset(scanned)

    def candidates(self, event: InboundEvent, said: str) -> list[int]:
        found = set(self._scanned)
        if said and event.kind in (EventKind.MESSAGE, EventKind.QUICK_REPLY):
            for word in set(said.split(" ")):
                found |= self._by_word.get(word, frozenset())
        if event.payload is not None:
            table = self._by_postback if event.kind is EventKind.POSTBACK else self._by_quick_reply
            found |= table.get(event.payload, frozenset())
        if event.ref is not None:
            found |= self._by_ref.get(event.ref, frozenset())
        return sorted(found)


def _freeze(table: Mapping[str, set[int]]) -> dict[str, frozenset[int]]:
    return {key: frozenset(value) for key, value in table.items()}
