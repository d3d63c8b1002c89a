"""docs/emulator.md stays true: its script runs, its commands parse, its endpoints are served."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Match, Route

from frontdesk import cli
from frontdesk.emulator import Emulator, psid_for, scenario

from .conftest import APP_ID, APP_SECRET, JOAO, PAGE, connect, say, user_token
from .live import emulator, free_port, frontdesk

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "emulator.md"
SCRIPT = ROOT / "examples" / "echo_bot.py"
METHODS = "GET|POST|PUT|PATCH|DELETE"
# `GET /v25.0/me`, `GET/POST/DELETE /v25.0/{page-id}/subscribed_apps`, `POST /_emulator/drain`
CALL = re.compile(rf"\b((?:{METHODS})(?:/(?:{METHODS}))*) (/[^\s`|?'\"]*)")
# http://127.0.0.1:8081/_emulator/act/message in curl examples
URL = re.compile(r"https?://127\.0\.0\.1:8081(/[^\s`'\"?)]*)")
PLACEHOLDERS = {
    "{page-id}": PAGE,
    "{page_id}": PAGE,
    "{app-id}": APP_ID,
    "{app_id}": APP_ID,
    "{person_id}": JOAO,
    "{psid}": psid_for(PAGE, JOAO),
    "{permission}": "pages_read_engagement",
    "{fault_id}": "1",
    "{persona-id}": "{persona-id}",  # made during the test
}
NOT_GRAPH = ("/_emulator", "/messenger", "/console", "/static", "/cdn", "/dialog", "/v25.0/dialog")


def doc() -> str:
    return DOC.read_text("utf-8")


# --- the walkthrough script -------------------------------------------------------------------


def echo_bot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def sample_output() -> list[str]:
    """The output the walkthrough shows: the code block right after the command."""
    after = doc().split("python examples/echo_bot.py --emulator http://127.0.0.1:8081\n```\n", 1)
    assert len(after) == 2, "the walkthrough command is missing from docs/emulator.md"
    block = after[1].split("```\n", 2)[1]
    return block.rstrip("\n").splitlines()


@pytest.mark.slow
def test_the_echo_bot_runs_against_a_real_emulator(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        # As the walkthrough runs it: the output is the one the doc shows (bar the port).
        first = echo_bot("--emulator", emu.url)
        assert first.returncode == 0, first.stdout + first.stderr
        callback = re.compile(r"http://127\.0\.0\.1:\d+/webhook")
        assert [callback.sub("CALLBACK", line) for line in first.stdout.splitlines()] == [
            callback.sub("CALLBACK", line) for line in sample_output()
        ]

        # Again with text that Meta escapes (`\/`, `\u2713`): the bot still verifies and replies.
        second = echo_bot("--emulator", emu.url, "--text", "Tem a T-shirt em M/L? ✓")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "  Page    You said: Tem a T-shirt em M/L? ✓" in second.stdout.splitlines()

        transcript = httpx.get(
            emu.url + "/_emulator/conversation", params={"page_id": PAGE, "person_id": JOAO}
        ).json()
        said = [(m["direction"], m["text"]) for m in transcript["messages"]]
        assert said[-2:] == [
            ("in", "Tem a T-shirt em M/L? ✓"),
            ("out", "You said: Tem a T-shirt em M/L? ✓"),
        ]
        reply = transcript["messages"][-1]
        assert (reply["app_id"], reply["messaging_type"]) == (APP_ID, "RESPONSE")

        # The bot really went through Meta's onboarding: verified callback, subscribed Page.
        world = httpx.get(emu.url + "/_emulator/world").json()
        [app] = world["apps"]
        assert callback.fullmatch(app["subscription"]["callback_url"])
        [page] = [p for p in world["pages"] if p["id"] == PAGE]
        assert page["subscribed_apps"][APP_ID] == ["messages", "messaging_postbacks"]
        deliveries = httpx.get(emu.url + "/_emulator/deliveries").json()["data"]
        kinds = [(d["kind"], d["ok"]) for d in deliveries]
        assert kinds == [("verification", True), ("event", True)] * 2
        # What the bot verified: Meta's escaped bytes, not a re-encoding of them.
        assert "M\\/L? \\u2713" in deliveries[-1]["body"]


@pytest.mark.slow
def test_the_echo_bot_fails_clearly_without_an_emulator() -> None:
    bot = subprocess.run(
        [sys.executable, str(SCRIPT), "--emulator", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bot.returncode == 1
    assert "echo_bot: cannot talk to the emulator" in bot.stderr
    assert "Traceback" not in bot.stderr


@pytest.mark.slow
def test_the_echo_bot_fails_clearly_with_a_wrong_secret(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        bot = subprocess.run(
            [sys.executable, str(SCRIPT), "--emulator", emu.url, "--app-secret", "not-it"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert bot.returncode == 1
    assert bot.stderr.startswith("echo_bot: GET oauth/access_token:")
    assert "Traceback" not in bot.stderr


# --- commands named in the doc ------------------------------------------------------------------


def command_lines(text: str) -> list[str]:
    """`frontdesk ...` as inline code, and lines of code blocks that start with it."""
    inline = re.findall(r"`(frontdesk [a-z][a-z-]*(?: [^`]*)?)`", text)
    blocks = re.findall(r"^(?:\$ )?(frontdesk .+?)(?: &)?$", text, flags=re.MULTILINE)
    return sorted(set(inline + blocks))


def test_the_doc_names_the_commands_people_need() -> None:
    lines = command_lines(doc())
    assert "frontdesk emulator --port 8081" in lines
    assert any(line.startswith("frontdesk emulator fault password-change") for line in lines)
    assert any(line.startswith("frontdesk emulator clock 25h") for line in lines)
    assert "make run" in doc()


def test_every_command_in_the_doc_parses() -> None:
    lines = command_lines(doc())
    assert len(lines) >= 10
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[0] == "frontdesk"
        try:
            cli.parser().parse_args(argv[1:])
        except SystemExit as err:  # argparse's way of refusing
            pytest.fail(f"docs/emulator.md shows `{line}`, which frontdesk refuses ({err.code})")


@pytest.mark.slow
def test_every_fault_and_clock_command_in_the_doc_works(tmp_path: Path) -> None:
    lines = [line for line in command_lines(doc()) if line.split()[2:3] in (["fault"], ["clock"])]
    assert len(lines) >= 10
    with emulator(tmp_path) as emu:
        for line in lines:
            argv = shlex.split(line, comments=True)
            if "--url" in argv:
                del argv[argv.index("--url") : argv.index("--url") + 2]
            done = subprocess.run(
                [frontdesk(), *argv[1:], "--url", emu.url],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (line, done.stderr)
            assert json.loads(done.stdout), line


def test_every_make_target_and_file_in_the_doc_exists() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    for target in re.findall(r"`make (\w+)`", doc()):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"make {target}"
    for path in set(re.findall(r"\b((?:examples|tests|docs)/[\w/.]+\.(?:py|md))", doc())):
        assert (ROOT / path).is_file(), path


# --- endpoints named in the doc ---------------------------------------------------------------


def named_calls(text: str) -> set[tuple[str, str]]:
    calls = set()
    for methods, path in CALL.findall(text):
        for method in methods.split("/"):
            calls.add((method, path.rstrip(".,:;")))
    return calls


def named_paths(text: str) -> set[str]:
    inline = {p for p in re.findall(r"`(/[a-z_][^`\s]*)`", text) if "." not in p.split("/")[1]}
    return {*inline, *(p.rstrip(".,") for p in URL.findall(text))}


def concrete(path: str, persona: str = "1") -> str:
    for placeholder, value in PLACEHOLDERS.items():
        path = path.replace(placeholder, persona if placeholder == "{persona-id}" else value)
    assert "{" not in path, f"a placeholder this test does not know: {path}"
    return path


def matching_route(app: Any, method: str | None, path: str) -> Route | None:
    """The route serving `path` (not the Graph catch-all), with the method when given."""
    scope = {"type": "http", "path": path, "method": method or "GET", "root_path": ""}
    for route in app.routes:
        if not isinstance(route, Route) or route.path == "/{path:path}":
            continue
        match, _ = route.matches(scope)
        if match == Match.FULL or (match == Match.PARTIAL and method is None):
            return route
    return None


def control_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/_emulator")
        for method in route.methods or ()
        if method != "HEAD"
    }


async def test_every_control_route_is_documented_and_every_documented_one_is_served() -> None:
    calls = named_calls(doc())
    async with Emulator() as emu, emu.client() as client:
        documented = set()
        for method, path in sorted(calls):
            if not path.startswith("/_emulator"):
                continue
            route = matching_route(emu.app, method, concrete(path))
            assert route is not None, f"docs/emulator.md names `{method} {path}`: not served"
            documented.add((method, route.path))
            if path == "/_emulator/stream":
                continue  # an endless event stream: routing is the check
            # A named action or fault kind must be one the emulator knows (unknown → 404).
            body = {"page_id": PAGE, "person_id": JOAO}
            response = await client.request(
                method,
                concrete(path),
                params=body if method == "GET" else None,
                json=None if method == "GET" else body,
            )
            assert response.status_code not in (404, 405), (method, path, response.text)
        undocumented = control_routes(emu.app) - documented
        assert not undocumented, f"control routes missing from docs/emulator.md: {undocumented}"


async def test_unknown_control_actions_are_caught_by_this_check() -> None:
    async with Emulator() as emu, emu.client() as client:
        answer = await client.post(
            "/_emulator/act/dance", json={"page_id": PAGE, "person_id": JOAO}
        )
        assert answer.status_code == 404
        assert matching_route(emu.app, "POST", "/_emulator/nothing/here") is None


def test_every_page_and_url_in_the_doc_is_routed() -> None:
    emu = Emulator()
    paths = named_paths(doc())
    assert {"/messenger", "/console", "/_emulator/act/message"} <= paths
    for path in paths:
        if re.match(r"^/v\d+\.\d+/(?!dialog/)", path):
            continue  # Graph paths: checked by calling them below
        if path.endswith("/"):  # a prefix, as in "JSON under `/_emulator/`"
            assert any(getattr(r, "path", "").startswith(path) for r in emu.app.routes), path
            continue
        assert matching_route(emu.app, None, concrete(path)), f"docs/emulator.md names {path}"


def graph_token(path: str, tokens: dict[str, str]) -> str | None:
    if "oauth/access_token" in path:
        return None
    if "/subscriptions" in path or "debug_token" in path or path == f"/v25.0/{APP_ID}":
        return tokens["app"]
    if path.startswith(("/v25.0/me/accounts", "/v25.0/me/permissions")):
        return tokens["user"]
    return tokens["page"]


async def test_every_graph_call_in_the_doc_is_served(
    emulator: Emulator, graph: httpx.AsyncClient
) -> None:
    page = await connect(graph)
    tokens = {"page": page, "user": await user_token(graph), "app": f"{APP_ID}|{APP_SECRET}"}
    await say(graph, "Olá")  # the PSID exists once the person wrote
    persona = await graph.post(
        f"/v25.0/{PAGE}/personas",
        params={"access_token": page},
        json={"name": "Morgan", "profile_picture_url": "http://127.0.0.1/p.png"},
    )
    assert persona.status_code == 200, persona.text
    calls = sorted(
        (method, path)
        for method, path in named_calls(doc())
        if not path.startswith(NOT_GRAPH) and re.match(r"^/v\d+\.\d+/", path)
    )
    assert len(calls) >= 25
    # Reads first, deletions last, and revoking permissions (it ends the user's tokens) at the end.
    calls.sort(key=lambda call: (call[0] == "DELETE", "permissions" in call[1], call[0] != "GET"))
    for method, path in calls:
        url = concrete(path, persona.json()["id"])
        token = graph_token(url, tokens)
        response = await graph.request(
            method, url, params={"access_token": token} if token else None
        )
        assert not unsupported(response), (
            f"docs/emulator.md names `{method} {path}`: {response.text}"
        )
    dialog = await graph.get(
        "/v25.0/dialog/oauth",
        params={"client_id": APP_ID, "redirect_uri": "http://127.0.0.1:8000/cb", "as": JOAO},
    )
    assert dialog.status_code == 200
    assert "<form" in dialog.text


async def test_an_unsupported_graph_call_is_caught_by_this_check(graph: httpx.AsyncClient) -> None:
    answer = await graph.get("/v25.0/me/friends", params={"access_token": f"{APP_ID}|{APP_SECRET}"})
    assert unsupported(answer)


def unsupported(response: httpx.Response) -> bool:
    """Meta's answer for a path or method that does not exist: 100 with subcode 33."""
    if response.status_code in (404, 405):
        return True
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return False
    return isinstance(error, dict) and (error.get("code"), error.get("error_subcode")) == (100, 33)


def section(title: str) -> str:
    return doc().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


async def test_the_webhook_knobs_and_defaults_are_the_real_ones() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section("Webhooks"), flags=re.MULTILINE)
    async with Emulator() as emu, emu.client() as client:
        actual = (await client.get("/_emulator/settings")).json()["webhooks"]
    assert {name: json.loads(default) for name, default in rows} == actual


def test_the_default_world_table_names_real_ids() -> None:
    world, _ = scenario.build_world(scenario.default_scenario())
    ids = {*world.apps, *world.people, *world.pages, *world.businesses}
    ids |= {c.id for app in world.apps.values() for c in app.login_configs}
    named = set(re.findall(r"`(\d{15,})`", section("The default world")))
    assert named == ids
    assert world.apps[APP_ID].secret in section("The default world")
