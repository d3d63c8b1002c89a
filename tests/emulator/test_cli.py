"""`frontdesk emulator` as people run it: a real subprocess on a loopback port."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from frontdesk.emulator import psid_for

from .conftest import ADMIN, APP_ID, APP_SECRET, JOAO, PAGE
from .live import emulator, frontdesk, page_token

pytestmark = pytest.mark.slow


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [frontdesk(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def say(url: str, text: str, person: str = JOAO) -> dict[str, object]:
    said = httpx.post(
        url + "/_emulator/act/message",
        json={"page_id": PAGE, "person_id": person, "text": text},
        timeout=10,
    )
    assert said.status_code == 200, said.text
    result: dict[str, object] = said.json()
    return result


def reply(url: str, token: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v25.0/me/messages",
        params={"access_token": token},
        json={
            "recipient": {"id": psid_for(PAGE, JOAO)},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        },
        timeout=10,
    )


def transcript(url: str, person: str = JOAO) -> list[tuple[str, str]]:
    answer = httpx.get(
        url + "/_emulator/conversation", params={"page_id": PAGE, "person_id": person}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return [(m["direction"], m["text"]) for m in answer.json()["messages"]]


def test_prints_its_urls_and_serves_graph_and_messenger(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        lines = emu.stdout().splitlines()
        assert lines[0] == f"Meta emulator on {emu.url}"
        for url in ("/v25.0/", "/v25.0/dialog/oauth", "/messenger", "/console", "/_emulator/world"):
            assert any(line.endswith(emu.url + url) for line in lines), (url, lines)

        app = httpx.get(
            f"{emu.url}/v25.0/{APP_ID}", params={"access_token": f"{APP_ID}|{APP_SECRET}"}
        )
        assert app.status_code == 200, app.text
        assert app.json()["id"] == APP_ID
        missing = httpx.get(f"{emu.url}/v25.0/me")
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == 104

        messenger = httpx.get(emu.url + "/messenger")
        assert messenger.status_code == 200, messenger.text
        assert messenger.headers["content-type"].startswith("text/html")
        assert "Lisbon Tees" in messenger.text


def test_a_custom_scenario_is_the_world(tmp_path: Path) -> None:
    world = {
        "people": [{"id": "501", "name": "Rita Costa"}, {"id": "502", "name": "Ines Lopes"}],
        "apps": [{"id": "601", "name": "Cafe Bot", "secret": "cafe-secret", "mode": "development"}],
        "pages": [{"id": "701", "name": "Cafe Aurora", "roles": {"501": ["MESSAGING", "MANAGE"]}}],
    }
    file = tmp_path / "cafe.yaml"
    file.write_text(yaml.safe_dump(world), "utf-8")
    with emulator(tmp_path, "--scenario", str(file)) as emu:
        state = httpx.get(emu.url + "/_emulator/world").json()
    assert [(a["id"], a["mode"]) for a in state["apps"]] == [("601", "development")]
    assert [p["name"] for p in state["people"]] == ["Rita Costa", "Ines Lopes"]
    assert [(p["id"], p["roles"]) for p in state["pages"]] == [
        ("701", {"501": ["MESSAGING", "MANAGE"]})
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_save_keeps_tokens_and_transcripts_across_a_restart(tmp_path: Path, sig: int) -> None:
    saved = tmp_path / "saved.yaml"
    with emulator(tmp_path, "--save", str(saved), name="first") as first:
        token = page_token(first.url)
        say(first.url, "Olá, têm a camisola em M?")
        assert reply(first.url, token, "Temos, sim!").status_code == 200
        # uvicorn shuts down cleanly, then re-raises SIGTERM so a supervisor sees it.
        assert first.stop(sig) in (0, -sig)
        assert "Traceback" not in first.stderr()

    data = yaml.safe_load(saved.read_text("utf-8"))
    assert token in [t["value"] for t in data["tokens"]]
    [thread] = data["threads"]
    assert [m["text"] for m in thread["messages"]] == ["Olá, têm a camisola em M?", "Temos, sim!"]

    with emulator(tmp_path, "--scenario", str(saved), name="second") as second:
        me = httpx.get(f"{second.url}/v25.0/me", params={"access_token": token})
        assert me.status_code == 200, me.text
        assert me.json()["id"] == PAGE
        assert reply(second.url, token, "Still here after the restart").status_code == 200
        assert transcript(second.url) == [
            ("in", "Olá, têm a camisola em M?"),
            ("out", "Temos, sim!"),
            ("out", "Still here after the restart"),
        ]


def test_fault_password_change_breaks_that_persons_tokens(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        token = page_token(emu.url)
        before = httpx.get(f"{emu.url}/v25.0/me", params={"access_token": token})
        assert before.status_code == 200

        done = run("emulator", "fault", "password-change", "--person-id", ADMIN, "--url", emu.url)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["tokens_invalidated"] >= 3  # short, long and Page tokens

        after = httpx.get(f"{emu.url}/v25.0/me", params={"access_token": token})
        assert after.status_code == 400
        assert (after.json()["error"]["code"], after.json()["error"]["error_subcode"]) == (190, 460)

        nobody = run("emulator", "fault", "password-change", "--person-id", "42", "--url", emu.url)
        assert nobody.returncode == 1
        assert "no person 42" in nobody.stderr


def test_clock_25h_closes_the_window(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        token = page_token(emu.url)
        say(emu.url, "Hello?")
        before = httpx.get(emu.url + "/_emulator/clock").json()["now"]

        done = run("emulator", "clock", "25h", "--url", emu.url)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["now"] - before >= 25 * 3600

        late = reply(emu.url, token, "Sorry for the delay")
        assert late.status_code == 400
        error = late.json()["error"]
        assert (error["code"], error["error_subcode"]) == (10, 2018278)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["emulator", "--port", "http"], "argument --port: 'http' is not a TCP port"),
        (["emulator", "--port", "70000"], "is not a TCP port (1-65535)"),
        (["emulator", "fault", "unplug"], "argument kind: invalid choice: 'unplug'"),
        (["emulator", "fault", "password-change"], "password-change: needs --person-id"),
        (["emulator", "fault", "remove-role", "--page-id", PAGE], "needs --person-id"),
        (["emulator", "fault", "restrict"], "restrict: needs --page-id"),
        (["emulator", "clock", "soon"], "a duration like 90s, 30m, 25h or 8d"),
        (["emulator", "clock", "infh"], "a duration like 90s, 30m, 25h or 8d"),
        (["emulator", "--save", "/no/such/folder/world.yaml"], "no such folder"),
        (["emulator", "--scenario", "/no/such/world.yaml"], "cannot read"),
        (["conjure"], "invalid choice: 'conjure'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_emulator_exits_1(tmp_path: Path) -> None:
    done = run("emulator", "clock", "1h", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in done.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.yaml", "- apps\n- people\n", "the top level must be a mapping"),
        ("broken.yaml", "people: [unclosed\n", "not valid YAML"),
        ("typo.yaml", "people:\n  - {id: '1', nmae: Ana}\n", "people[0]: unknown keys ['nmae']"),
        (
            "ref.yaml",
            "people: [{id: '1', name: Ana}]\npages: [{id: '2', name: P, roles: {'9': [MANAGE]}}]\n",
            "pages[0].roles: no person 9",
        ),
        ("hostile.yaml", "apps: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
        ("broken.json", '{"people": [', "not valid JSON"),
    ],
)
def test_a_bad_scenario_exits_2_naming_file_and_place(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    file = tmp_path / name
    file.write_text(content, "utf-8")
    done = run("emulator", "--port", "9", "--scenario", str(file))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert str(file) in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
