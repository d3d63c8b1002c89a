"""Core is pure: it imports the standard library only and never reads a clock."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import frontdesk.core

CORE = Path(frontdesk.core.__file__).parent
MODULES = sorted(CORE.rglob("*.py"))  # the rules engine's subpackage too
CLOCK_READS = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter"}


@pytest.mark.parametrize("path", MODULES, ids=[str(path.relative_to(CORE)) for path in MODULES])
def test_imports_only_the_standard_library_and_itself(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    outside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        outside |= {n for n in names if n.split(".")[0] not in sys.stdlib_module_names}
    assert outside == set()


@pytest.mark.parametrize("path", MODULES, ids=[str(path.relative_to(CORE)) for path in MODULES])
def test_never_reads_a_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert calls & CLOCK_READS == set()


def test_every_module_opens_with_a_one_line_docstring() -> None:
    for path in MODULES:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, path.name
        assert doc.splitlines()[0].endswith("."), path.name


def test_the_curated_exports_exist() -> None:
    assert len(frontdesk.core.__all__) == len(set(frontdesk.core.__all__))
    for name in frontdesk.core.__all__:
        assert hasattr(frontdesk.core, name), name
