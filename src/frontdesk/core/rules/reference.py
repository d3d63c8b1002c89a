"""The bot format's reference in Markdown, generated from the schema (docs/rule-bot.md holds it).

Regenerate the doc's reference after changing the schema:

    .venv/bin/python -c "from frontdesk.core.rules.reference import markdown; print(markdown())"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import ACTIONS, CONDITIONS, MENU_ITEM, RULE, SCHEMA, TRIGGERS


def _type(schema: Mapping[str, Any]) -> str:
    if "const" in schema:
        return f"`{_literal(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{_literal(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        inner = _type(items) if "type" in items or "enum" in items else "item"
        most = f", at most {schema['maxItems']}" if "maxItems" in schema else ""
        return f"list of {inner}{most}"
    if kind == "object":
        return "mapping"
    if kind == "string":
        most = f" ≤ {schema['maxLength']}" if "maxLength" in schema else ""
        return f"text{most}"
    if kind == "integer":
        return f"number {schema.get('minimum', '')} to {schema.get('maximum', '')}"
    return str(kind or "value")


def _literal(value: Any) -> str:
    if value is True:
        return "true"
    return str(value)


def _table(schema: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    required = set(schema.get("required", ()))
    lines = ["| key | value | required | meaning |", "|---|---|---|---|"]
    for name, item in schema.get("properties", {}).items():
        if name in skip:
            continue
        description = item.get("description", "").replace("|", "\\|")
        if "pattern" in item and not description.endswith("."):
            description += "."
        lines.append(
            f"| `{name}` | {_type(item)} | {'yes' if name in required else ''} | {description} |"
        )
    return lines


def markdown() -> str:
    """The reference section of docs/rule-bot.md."""
    out: list[str] = ["### The bot", "", SCHEMA["description"], "", *_table(SCHEMA), ""]
    profile = SCHEMA["properties"]["profile"]
    out += ["### `profile`", "", profile["description"], "", *_table(profile), ""]
    out += ["Each `menu` item is one of:", ""]
    for option in MENU_ITEM["oneOf"]:
        out += [f"- {option['description']}", "", *_table(option), ""]
    out += ["### A rule", "", RULE["description"], "", *_table(RULE), ""]
    out += [
        "### Triggers (`when`)",
        "",
        "Any of these fires the rule; `default` stands alone.",
        "",
        "| trigger | value | meaning |",
        "|---|---|---|",
    ]
    for name, item in TRIGGERS.items():
        described = item.get("description", "").replace("|", "\\|")
        out.append(f"| `{name}` | {_type(item)} | {described} |")
    keywords = TRIGGERS["keywords"]
    out += ["", "`keywords` holds any of:", "", *_table(keywords), ""]
    out += ["### Conditions (`if`)", "", "Each item is one of:", ""]
    for name, item in CONDITIONS.items():
        out += [f"#### `{name}`", "", item["description"], "", *_table(item), ""]
    out += ["### Actions (`do`, and the steps of `flows`)", ""]
    out += ["Each item is one action, told by its first key. Every action may have an `id`.", ""]
    for name, item in ACTIONS.items():
        out += [f"#### `{name}`", "", item["description"], "", *_table(item, skip=("id",)), ""]
    out += [
        "Buttons are a postback (`title`, `payload`) or a link (`title`, `url`); quick replies",
        "have a `title` (at most 20 characters) and a `payload`.",
    ]
    return "\n".join(out).rstrip() + "\n"
