"""A bot's file, YAML or JSON: read with the line of every value, so each problem names its line
and field; written back out for export.

The text comes from people (the console's editor, an imported file), so it is read defensively:
at most MAX_BYTES, no YAML anchors or aliases (a few lines of them expand into millions of
values), no key given twice (YAML would silently keep the last), no nesting deeper than
MAX_DEPTH. Only plain data comes out (YAML's safe loader: no objects, no tags).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from frontdesk.core.rules import Bot, BotInvalid, build
from frontdesk.core.rules.schema import Path, Problem

Format = Literal["yaml", "json"]
FORMATS: tuple[Format, ...] = ("yaml", "json")
MAX_BYTES = 256 * 1024
MAX_DEPTH = 30


@dataclass(frozen=True, order=True)
class Located:
    """A problem with its line in the file (None when it has none: a missing key at the top)."""

    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        at = f"line {self.line}, " if self.line is not None else ""
        return f"{at}{self.where}: {self.message}"


class BotFileError(ValueError):
    """The file is not a valid bot; `problems` are in file order."""

    def __init__(self, problems: list[Located]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5]))


@dataclass(frozen=True)
class BotFile:
    data: dict[str, Any]
    bot: Bot
    lines: dict[Path, int]


def load(text: str, key: str, fmt: Format = "yaml") -> BotFile:
    """Read and build a bot; raises BotFileError with every problem, each at its line."""
    data, lines = parse(text, fmt)
    try:
        bot = build(data, key)
    except BotInvalid as err:
        raise BotFileError(locate(err.problems, lines)) from err
    return BotFile(data, bot, lines)


def parse(text: str, fmt: Format = "yaml") -> tuple[dict[str, Any], dict[Path, int]]:
    """The file's data and the line (1-based) of each path in it; raises BotFileError for a
    file that cannot be read at all."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise BotFileError([Located(None, "(the file)", f"is over {MAX_BYTES // 1024} KiB")])
    if "\x00" in text:
        raise BotFileError([Located(None, "(the file)", "holds a NUL character")])
    if fmt == "json":
        data = _json(text)
        try:
            lines = _lines(text)
        except (BotFileError, yaml.YAMLError, RecursionError):
            lines = {}  # valid JSON that YAML reads otherwise: problems come without lines
    else:
        lines, data = _yaml(text)
    if not isinstance(data, dict):
        raise BotFileError([Located(1, "(the file)", "must be a mapping: name, rules, flows…")])
    return data, lines


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise BotFileError([Located(err.lineno, "(the file)", f"is not JSON: {err.msg}")]) from err
    except RecursionError as err:
        raise BotFileError([Located(None, "(the file)", "is nested too deeply")]) from err
    except _DuplicateKeyError as err:
        raise BotFileError([Located(None, "(the file)", str(err))]) from err


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _DuplicateKeyError(f'the key "{name[:40]}" is given twice in one object')
        out[name] = value
    return out


def _yaml(text: str) -> tuple[dict[Path, int], Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, None
        lines: dict[Path, int] = {}
        _walk(node, (), lines, set(), 0)
        return lines, loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context or "cannot be read"
        raise BotFileError([Located(line, "(the file)", f"is not valid YAML: {problem}")]) from err
    except yaml.YAMLError as err:
        raise BotFileError([Located(None, "(the file)", f"is not valid YAML: {err}")]) from err
    except RecursionError as err:
        raise BotFileError([Located(None, "(the file)", "is nested too deeply")]) from err
    finally:
        loader.dispose()


def _lines(text: str) -> dict[Path, int]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        if node is not None:
            _walk(node, (), lines, set(), 0)
        return lines
    finally:
        loader.dispose()


def _walk(
    node: yaml.Node, path: Path, lines: dict[Path, int], seen: set[int], depth: int, at: int = 1
) -> None:
    """Record each path's line; `at` is the line where this node is referred to (an alias
    node carries the position of its anchor, not of the reference)."""
    if id(node) in seen:
        raise BotFileError([Located(at, _where(path), "uses a YAML alias (*): write it out")])
    if depth > MAX_DEPTH:
        raise BotFileError([Located(at, _where(path), "is nested too deeply")])
    seen.add(id(node))
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        names: set[Any] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else id(key)
            key_line = key.start_mark.line + 1
            child = (*path, str(name))
            if name in names:
                raise BotFileError([Located(key_line, _where(child), "is given twice")])
            names.add(name)
            lines[child] = key_line
            _walk(value, child, lines, seen, depth + 1, key_line)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, seen, depth + 1, line)


def _where(path: Path) -> str:
    return Problem(path, "").where


def locate(problems: list[Problem], lines: dict[Path, int]) -> list[Located]:
    """Each problem with the line of its path, or of the nearest enclosing one that exists."""
    out = []
    for problem in problems:
        path = problem.path
        while path and path not in lines:
            path = path[:-1]
        out.append(Located(lines.get(path), problem.where, problem.message))
    return sorted(out, key=lambda p: (p.line or 0, p.where))


def dump(data: Any, fmt: Format = "yaml") -> str:
    """The bot's data as a file, keys in the order they were written."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
