"""docs/rule-bot.md and docs/rule-bot.schema.json say what the code does: the reference and the
published schema are the generated ones, the example in the doc is a valid bot, and the routes,
files and commands it names exist."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from frontdesk.core.rules import SCHEMA, build
from frontdesk.core.rules.reference import markdown
from frontdesk.web.botfile import load

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rule-bot.md"
PUBLISHED = ROOT / "docs" / "rule-bot.schema.json"


def test_the_reference_is_generated_from_the_schema() -> None:
    text = DOC.read_text("utf-8")
    found = re.search(r"<!-- reference:start -->\n(.*)<!-- reference:end -->", text, re.S)
    assert found, "docs/rule-bot.md has no reference section"
    assert found.group(1) == markdown(), "regenerate it: see frontdesk/core/rules/reference.py"


def test_the_published_schema_is_the_one_the_code_checks_with() -> None:
    assert json.loads(PUBLISHED.read_text("utf-8")) == SCHEMA


def test_every_trigger_condition_and_action_is_in_the_reference() -> None:
    reference = markdown()
    for name in (*SCHEMA["properties"], "welcome", "keywords", "default", "not_tag", "call"):
        assert f"`{name}`" in reference, name


def test_the_example_in_the_doc_is_a_valid_bot() -> None:
    [example] = re.findall(r"```yaml\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert load(example, "doc").bot.name == "Shop assistant"
    assert build(yaml.safe_load(example), "doc").rules[0].name == "Order status"


def test_the_files_and_routes_it_names_exist() -> None:
    text = DOC.read_text("utf-8")
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (DOC.parent / link).is_file(), link
    for path in re.findall(r"`(src/[^`]+)`", text):
        assert (ROOT / path).is_file(), path
    assert "`/channels/{channel_id}/bot`" in text
    console = (ROOT / "docs" / "console.md").read_text("utf-8")
    assert "`GET /channels/{channel_id}/bot`" in console


def test_the_bench_it_points_to_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rules.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "--messages" in done.stdout
