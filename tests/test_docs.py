"""What README.md and docs/ (architecture, operations, console) claim, checked against the code:
commands parse, make targets exist, every FRONTDESK_* variable documented is the set that
`load_settings` reads, endpoints are routed, metrics are the ones served, files exist."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.routing import Match, Route

from frontdesk import cli
from frontdesk.app import create_app
from frontdesk.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
OPERATIONS = ROOT / "docs" / "operations.md"
CONSOLE = ROOT / "docs" / "console.md"
CONNECT = ROOT / "docs" / "connect-a-page.md"
INBOX = ROOT / "docs" / "inbox.md"
DOCS = (README, ARCHITECTURE, OPERATIONS, CONSOLE, CONNECT, INBOX)


def read(doc: Path) -> str:
    return doc.read_text("utf-8")


def command_lines(text: str) -> list[str]:
    """`frontdesk ...` as inline code, and lines of code blocks that start with it."""
    inline = re.findall(r"`(frontdesk [a-z][a-z-]*(?: [^`]*)?)`", text)
    blocks = re.findall(r"^\s*(?:\$ )?(frontdesk .+?)(?: &)?$", text, flags=re.MULTILINE)
    return sorted(set(inline + blocks))


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_frontdesk_command_in_the_doc_parses(doc: Path) -> None:
    for line in command_lines(read(doc)):
        argv = shlex.split(line, comments=True)
        try:
            cli.parser().parse_args(argv[1:])
        except SystemExit as err:  # argparse's way of refusing
            pytest.fail(f"{doc.name} shows `{line}`, which frontdesk refuses ({err.code})")


def test_operations_names_every_core_command() -> None:
    named = {shlex.split(line)[1] for line in command_lines(read(OPERATIONS))}
    assert {"migrate", "serve", "worker", "dev"} <= named


def test_a_command_frontdesk_refuses_is_caught_by_this_check() -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["serve", "--port", "eighty"])
    assert command_lines("run `frontdesk serve --port 80` or\n    frontdesk worker &\n") == [
        "frontdesk serve --port 80",
        "frontdesk worker",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_make_target_and_linked_file_exists(doc: Path) -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    for target in re.findall(r"\bmake (\w+)", read(doc)):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"make {target}"
    for link in re.findall(r"\]\(([^)#]+)\)", read(doc)):
        assert (doc.parent / link).is_file(), f"{doc.name} links to {link}"


def test_the_python_one_liner_makes_a_fernet_key() -> None:
    [line] = re.findall(r"^\s*(python -c .+)$", read(OPERATIONS), flags=re.MULTILINE)
    argv = shlex.split(line)
    done = subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, timeout=60, check=True
    )
    Fernet(done.stdout.strip())  # raises unless it is a key


# --- settings ---------------------------------------------------------------------------------


class Reading(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def variables_read(tmp_path: Path) -> set[str]:
    env = Reading({"FRONTDESK_DATA_DIR": str(tmp_path)})
    load_settings(env)
    return {name for name in env.asked if name.startswith("FRONTDESK_")}


def settings_table() -> dict[str, str]:
    """Variable → its default cell, from the table in "Settings"."""
    section = read(OPERATIONS).split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(FRONTDESK_\w+)` \| ([^|]*) \|", section, flags=re.MULTILINE))


def test_the_documented_variables_are_exactly_those_load_settings_reads(tmp_path: Path) -> None:
    read_by_code = variables_read(tmp_path)
    assert len(read_by_code) >= 10
    named_anywhere = set(re.findall(r"\bFRONTDESK_[A-Z_]+\b", read(OPERATIONS)))
    assert named_anywhere == read_by_code
    assert set(settings_table()) == read_by_code


def test_a_variable_the_code_does_not_read_is_caught_by_this_check(tmp_path: Path) -> None:
    assert "FRONTDESK_WORKERS" in variables_read(tmp_path)
    assert "FRONTDESK_NOT_A_SETTING" not in variables_read(tmp_path)


def test_the_documented_defaults_are_the_real_ones(tmp_path: Path) -> None:
    defaults = load_settings({"FRONTDESK_DATA_DIR": str(tmp_path)})
    table = settings_table()
    fields = {
        "FRONTDESK_GRAPH_URL": "graph_url",
        "FRONTDESK_GRAPH_VERSION": "graph_version",
        "FRONTDESK_PUBLIC_URL": "public_url",
        "FRONTDESK_MAX_BODY_BYTES": "max_body_bytes",
        "FRONTDESK_WORKERS": "workers",
        "FRONTDESK_LOG_LEVEL": "log_level",
    }
    for variable, field in fields.items():
        assert table[variable].strip() == f"`{getattr(defaults, field)}`", variable
    assert Path(table["FRONTDESK_DATA_DIR"].strip(" `")) == Settings().data_dir


# --- endpoints and metrics --------------------------------------------------------------------


def routed(app: Any, method: str, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    return any(
        isinstance(route, Route) and route.matches(scope)[0] == Match.FULL for route in app.routes
    )


def test_every_endpoint_in_the_docs_is_served(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/x.db",
        secret_keys=(Fernet.generate_key().decode(),),
    )
    app = create_app(settings)
    named: set[tuple[str, str]] = set()
    for doc in DOCS:
        text = read(doc)
        named |= set(re.findall(r"`(GET|POST) (/[a-z/_]*)`", text))
        named |= {("GET", path) for path in re.findall(r"[0-9](/[a-z]+z|/metrics)\b", text)}
        named |= {("POST", path) for path in re.findall(r"`(/webhooks/[a-z]+)`", text)}
    assert {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")} <= named
    assert ("POST", "/webhooks/messenger") in named
    for method, path in named:
        assert routed(app, method, path), f"{method} {path} is documented, not served"
    assert not routed(app, "GET", "/statusz")  # the check can fail


@pytest.mark.db
async def test_the_documented_metrics_are_the_ones_served(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, secret_keys=(Fernet.generate_key().decode(),)
    )
    app = create_app(settings, run_worker=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://frontdesk.test"
    ) as client:
        served = (await client.get("/metrics")).text
    await app.state.engine.dispose()
    section = read(OPERATIONS).split("\n## Health and metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(frontdesk_[a-z_]+)", section))
    assert documented == set(re.findall(r"^# TYPE (frontdesk_[a-z_]+)", served, flags=re.M))
    for name, kind in re.findall(r"^\| `(frontdesk_[a-z_]+)[^|]*\| (\w+) \|", section, re.M):
        assert f"# TYPE {name} {kind}\n" in served, name
    for label in re.findall(r'(\w+="\w+")', section):
        assert label in served, label


# --- files named in the architecture page -----------------------------------------------------


def test_every_module_the_architecture_page_names_exists() -> None:
    package = ROOT / "src" / "frontdesk"
    checked = 0
    for line in read(ARCHITECTURE).splitlines():
        # In the layers table a bare `queue.py` lives in the row's own folder (`workers/`).
        layer = re.match(r"^\| `([a-z]+/)`", line)
        for path in re.findall(r"`([a-z_]+(?:/[a-z_]+)*(?:\.py|/))`", line):
            inside = package / layer.group(1) / path if layer else package / path
            found = inside.exists() or (package / path).exists() or (ROOT / path).exists()
            assert found, f"architecture.md names {path}"
            checked += 1
        for name, attribute in re.findall(r"`(messenger|core)\.(\w+)`", line):
            module = importlib.import_module(f"frontdesk.{name}")
            assert hasattr(module, attribute), f"architecture.md names {name}.{attribute}"
            checked += 1
    assert checked >= 20


# --- the console's pages -----------------------------------------------------------------------


def test_the_console_doc_lists_exactly_the_console_routes(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/x.db",
        secret_keys=(Fernet.generate_key().decode(),),
    )
    app = create_app(settings)
    served = {
        (method, re.sub(r":\w+\}", "}", route.path))
        for route in app.routes
        if isinstance(route, Route) and route.endpoint.__module__ == "frontdesk.web.console.routes"
        for method in route.methods or ()
        if method != "HEAD"
    }
    # The console's pages are in console.md, the inbox's in inbox.md.
    documented = {
        route
        for doc in (CONSOLE, INBOX)
        for route in re.findall(r"`(GET|POST) (/[^`]*)`", read(doc))
    }
    assert len(served) >= 15
    assert documented == served
    commands = {" ".join(shlex.split(line)[1:3]) for line in command_lines(read(CONSOLE))}
    assert {"admin create", "admin reset-password"} <= commands
