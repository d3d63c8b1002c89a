"""`make run`: `frontdesk dev` starts Frontdesk and the emulator wired together, the demo Page
connected, so a message typed as a customer is stored at once (a photo is kept in data/media,
the sender gets a name); Ctrl-C stops both, and the next start carries on with the same channel
and history. Real subprocess, loopback HTTP, SQLite."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from frontdesk import cli
from frontdesk.demo import DEMO_APP_ID, DEMO_PAGE_ID, WEBHOOK_FIELDS
from frontdesk.store.secrets import Secrets
from frontdesk.store.tables import channels, contacts, conversations, messages
from tests.emulator.live import free_port, frontdesk

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
JOAO = "7100000000000001"
CHLOE = "7100000000000002"
DEADLINE = 30.0
LAST_BANNER_LINE = "Ctrl-C stops both"


class Dev:
    """`frontdesk dev` on free ports, in `cwd` (its ./data is the data dir unless set)."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.port, self.emulator_port = free_port(), free_port()
        self.frontdesk = f"http://127.0.0.1:{self.port}"
        self.emulator = f"http://127.0.0.1:{self.emulator_port}"
        self.out, self.err = cwd / "dev.out", cwd / "dev.err"
        base = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        argv = ["dev", "--port", str(self.port), "--emulator-port", str(self.emulator_port)]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [frontdesk(), *argv],
                stdout=out,
                stderr=err,
                cwd=cwd,
                env={**base, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    def stdout(self) -> str:
        return self.out.read_text("utf-8")

    def stderr(self) -> str:
        return self.err.read_text("utf-8")

    def wait_until_ready(self) -> str:
        """The banner, printed once both serve and the Page is connected."""
        deadline = time.monotonic() + DEADLINE
        while LAST_BANNER_LINE not in self.stdout():
            assert self.process.poll() is None, f"exited early:\n{self.stdout()}{self.stderr()}"
            assert time.monotonic() < deadline, f"no banner in {DEADLINE} s:\n{self.stderr()}"
            time.sleep(0.05)  # polling with a deadline
        return self.stdout()

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(DEADLINE)
            raise AssertionError(f"`frontdesk dev` ignored {sig!r}:\n{self.stderr()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)


@pytest.fixture
def devs() -> Iterator[list[Dev]]:
    started: list[Dev] = []
    yield started
    for dev in started:
        dev.kill()


def start(devs: list[Dev], cwd: Path, env: dict[str, str] | None = None) -> Dev:
    dev = Dev(cwd, env)
    devs.append(dev)
    dev.wait_until_ready()
    return dev


def say(dev: Dev, person: str, text: str) -> None:
    """A customer types in the emulator's Messenger client (its control API does the same)."""
    answer = httpx.post(
        dev.emulator + "/_emulator/act/message",
        json={"page_id": DEMO_PAGE_ID, "person_id": person, "text": text},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def stored(database: Path) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            query = (
                select(messages.c.text, contacts.c.psid, channels.c.page_id, messages.c.direction)
                .join(conversations, messages.c.conversation_id == conversations.c.id)
                .join(contacts, conversations.c.contact_id == contacts.c.id)
                .join(channels, messages.c.channel_id == channels.c.id)
                .order_by(messages.c.id)
            )
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def wait_for_message(dev: Dev, database: Path, text: str) -> tuple[Any, ...]:
    deadline = time.monotonic() + DEADLINE
    while True:
        rows = [row for row in stored(database) if row[0] == text] if database.exists() else []
        if rows:
            return rows[0]
        assert dev.process.poll() is None, dev.stderr()
        assert time.monotonic() < deadline, f"{text!r} not stored in {DEADLINE} s"
        time.sleep(0.05)  # polling with a deadline


def channel_rows(database: Path) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            query = select(
                channels.c.id, channels.c.page_id, channels.c.name, channels.c.page_token
            )
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def expected_banner(dev: Dev) -> str:
    """The README's `make run` output, on this run's ports."""
    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"prints:\n\n((?:    .*\n)+)", readme)
    assert block, "README.md shows what `make run` prints"
    shown = "".join(line[4:] + "\n" for line in block.group(1).splitlines())
    return shown.replace(":8000", f":{dev.port}").replace(":8081", f":{dev.emulator_port}")


def test_a_message_typed_as_a_customer_is_stored_and_a_restart_keeps_everything(
    tmp_path: Path, devs: list[Dev]
) -> None:
    # As `make run` runs it from a fresh clone: nothing in ./data, no FRONTDESK_* set.
    data = tmp_path / "data"
    database = data / "frontdesk.db"
    first = start(devs, tmp_path)
    assert first.stdout() == expected_banner(first)
    assert first.stderr() == ""  # nothing to warn about: the terminal is the banner's

    say(first, JOAO, "Olá! Do you have the M size? 👕")
    _, psid, page, direction = wait_for_message(first, database, "Olá! Do you have the M size? 👕")
    assert (page, direction) == (DEMO_PAGE_ID, "inbound")
    world = httpx.get(first.emulator + "/_emulator/world", timeout=10).json()
    [lisbon] = [p for p in world["pages"] if p["id"] == DEMO_PAGE_ID]
    assert psid == lisbon["psids"][JOAO]

    # Connected the real way: the app verified our webhook, the Page sends every field we read.
    [app] = world["apps"]
    assert app["subscription"]["callback_url"] == first.frontdesk + "/webhooks/messenger"
    assert app["subscription"]["active"] is True
    assert lisbon["subscribed_apps"][DEMO_APP_ID] == list(WEBHOOK_FIELDS)
    # The channel holds the Page token, encrypted with the key made in ./data, and Meta takes it.
    [(channel_id, page_id, name, sealed)] = channel_rows(database)
    assert (page_id, name) == (DEMO_PAGE_ID, "Lisbon Tees")
    token = Secrets([(data / "secret.key").read_text().strip()]).decrypt(sealed)
    for file in data.glob("frontdesk.db*"):  # the database and its write-ahead log
        assert token.encode() not in file.read_bytes(), file
    me = httpx.get(f"{first.emulator}/v25.0/me", params={"access_token": token}, timeout=10)
    assert me.json()["id"] == DEMO_PAGE_ID

    # Ctrl-C stops both, cleanly, and the emulator's world is saved beside the database.
    assert first.stop(signal.SIGINT) == 0, first.stderr()
    assert first.stdout().endswith("Stopped. The emulator's world is saved in data/emulator.yaml\n")
    assert first.stderr() == ""
    assert (data / "emulator.yaml").is_file()
    for port in (first.port, first.emulator_port):
        with socket.socket() as sock:
            # Nothing listens any more (REUSEADDR: closed connections may linger in TIME_WAIT).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(1)

    # The next start: same channel, same history, on both sides; new messages still arrive.
    second = start(devs, tmp_path)
    [(again_id, _, _, _)] = channel_rows(database)
    assert again_id == channel_id
    transcript = httpx.get(
        second.emulator + "/_emulator/conversation",
        params={"page_id": DEMO_PAGE_ID, "person_id": JOAO},
        timeout=10,
    ).json()
    said = [m["text"] for m in transcript["messages"] if m["direction"] == "in"]
    assert said == ["Olá! Do you have the M size? 👕"]
    say(second, CHLOE, "Bonjour !")
    wait_for_message(second, database, "Bonjour !")
    inbound = [row[0] for row in stored(database) if row[3] == "inbound"]
    assert inbound == ["Olá! Do you have the M size? 👕", "Bonjour !"]
    assert second.stop(signal.SIGTERM) == 0, second.stderr()


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [frontdesk(), "dev", "--port", str(port), "--emulator-port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
        )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr == f"frontdesk dev: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert not (tmp_path / "data" / "frontdesk.db").exists()


def test_a_broken_world_file_stops_the_start_and_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    world = tmp_path / "data" / "emulator.yaml"
    world.write_text("pages: [{id: '1', name: X, roles: {'42': [MANAGE]}}]\n")
    done = subprocess.run(
        [frontdesk(), "dev", "--port", str(free_port()), "--emulator-port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("frontdesk dev: data/emulator.yaml: ")
    assert "Traceback" not in done.stderr
    assert world.read_text() == "pages: [{id: '1', name: X, roles: {'42': [MANAGE]}}]\n"


def test_make_run_starts_frontdesk_dev_on_8000_and_8081() -> None:
    dry = subprocess.run(
        ["make", "-n", "run"], capture_output=True, text=True, timeout=60, check=True, cwd=ROOT
    )
    [line] = [line for line in dry.stdout.splitlines() if "frontdesk dev" in line]
    argv = shlex.split(line)
    assert argv[0] == ".venv/bin/frontdesk"
    args = cli.parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port, args.emulator_port) == (
        "dev",
        "127.0.0.1",
        8000,
        8081,
    )


def test_the_database_of_a_running_dev_is_the_one_frontdesk_dev_reports(
    tmp_path: Path, devs: list[Dev]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    dev = start(devs, tmp_path, {"FRONTDESK_DATA_DIR": str(elsewhere)})
    assert f"  Database         sqlite:///{elsewhere}/frontdesk.db\n" in dev.stdout()
    say(dev, JOAO, "Hello from elsewhere")
    wait_for_message(dev, elsewhere / "frontdesk.db", "Hello from elsewhere")
    assert not (tmp_path / "data").exists()
    ready = httpx.get(dev.frontdesk + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(dev.frontdesk + "/metrics", timeout=10).text
    # The message, then the echoes and receipts of the shop assistant's answer as they come.
    received = re.search(r"^frontdesk_events_received_total (\d+)$", metrics, re.MULTILINE)
    assert received is not None
    assert int(received.group(1)) >= 1
    assert dev.stop() == 0


def enriched(database: Path) -> tuple[list[Any], Any, Any]:
    """The latest inbound message's attachments, and the one contact's name and picture."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            latest = conn.execute(
                select(messages.c.attachments)
                .where(messages.c.direction == "inbound")
                .order_by(messages.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            # The only contact so far: João, on the demo Page.
            contact = conn.execute(select(contacts.c.name, contacts.c.profile_pic)).first()
    finally:
        engine.dispose()
    name, picture = contact if contact is not None else (None, None)
    return latest or [], name, picture


def test_a_photo_sent_in_messenger_is_kept_in_data_media_and_the_sender_is_named(
    tmp_path: Path, devs: list[Dev]
) -> None:
    """The Messenger client's way (upload to the emulator's CDN, then send), real processes: the
    emulator on 127.0.0.1 is where Graph is, so its CDN and avatars are downloaded from."""
    dev = start(devs, tmp_path)
    data = tmp_path / "data"
    photo = b"\x89PNG\r\n\x1a\n" + os.urandom(4096)
    uploaded = httpx.post(
        dev.emulator + "/_emulator/act/upload",
        files={"file": ("tee.png", photo, "image/png")},
        timeout=10,
    )
    assert uploaded.status_code == 200, uploaded.text
    sent = httpx.post(
        dev.emulator + "/_emulator/act/message",
        json={"page_id": DEMO_PAGE_ID, "person_id": JOAO, "attachments": [uploaded.json()]},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text

    deadline = time.monotonic() + DEADLINE
    while True:
        attachments, name, picture = (
            enriched(data / "frontdesk.db")
            if (data / "frontdesk.db").exists()
            else ([], None, None)
        )
        if attachments and "stored" in attachments[0] and name is not None:
            break
        assert dev.process.poll() is None, dev.stderr()
        assert time.monotonic() < deadline, f"not enriched in {DEADLINE} s: {attachments}"
        time.sleep(0.05)  # polling with a deadline

    digest = hashlib.sha256(photo).hexdigest()
    assert attachments[0]["stored"] == {
        "sha256": digest,
        "size": len(photo),
        "content_type": "image/png",
        "name": "tee.png",
    }
    assert (data / "media" / digest[:2] / digest).read_bytes() == photo
    assert name == "João Pereira"
    assert picture is not None
    avatar = picture.removeprefix("media:")
    assert (data / "media" / avatar[:2] / avatar).is_file()
    assert dev.stop() == 0
    assert dev.stderr() == ""  # no warning: nothing was refused or retried


def console_form(
    browser: httpx.Client, page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Fill in a console form as a browser does: its CSRF token, and our Origin."""
    shown = browser.get(page)
    assert shown.status_code == 200, shown.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
    assert token, f"no form on {page}"
    return browser.post(
        action,
        data={"csrf_token": token.group(1), **data},
        headers={"origin": str(browser.base_url).rstrip("/")},
    )


def test_the_first_visit_to_the_console_makes_the_owner_who_gets_the_demo_page(
    tmp_path: Path, devs: list[Dev]
) -> None:
    dev = start(devs, tmp_path)
    login = {"email": "morgan@example.com", "password": "correct horse battery staple"}
    with httpx.Client(base_url=dev.frontdesk, timeout=10) as browser:
        assert browser.get("/").headers["location"] == "/login"
        assert browser.get("/login").headers["location"] == "/setup"
        made = console_form(
            browser,
            "/setup",
            "/setup",
            {
                "workspace": "Lisbon Tees",
                "name": "Morgan Reyes",
                **login,
                "confirm": login["password"],
            },
        )
        assert made.headers["location"] == "/login?done=setup", made.text
        assert console_form(browser, "/login", "/login", login).status_code == 303
        home = browser.get("/")
        assert "Lisbon Tees" in home.text
        assert DEMO_PAGE_ID in home.text
    assert dev.stop() == 0
    # The next start reconnects the Page; it stays the workspace's.
    again = start(devs, tmp_path)
    with httpx.Client(base_url=again.frontdesk, timeout=10) as browser:
        assert console_form(browser, "/login", "/login", login).status_code == 303
        assert DEMO_PAGE_ID in browser.get("/").text
    assert again.stop() == 0


def answers_to(dev: Dev, person: str) -> list[str]:
    """The Page's messages as the person's Messenger client shows them."""
    sent = httpx.get(
        dev.emulator + "/_emulator/sent",
        params={"page_id": DEMO_PAGE_ID, "person_id": person},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    return [str(m.get("text")) for m in sent.json()["data"]]


def wait_for_answer(dev: Dev, person: str, start: str) -> list[str]:
    deadline = time.monotonic() + DEADLINE
    while not any(text.startswith(start) for text in answers_to(dev, person)):
        assert dev.process.poll() is None, dev.stderr()
        assert time.monotonic() < deadline, f"no answer {start!r} in {DEADLINE} s"
        time.sleep(0.05)  # polling with a deadline
    return answers_to(dev, person)


def test_the_demo_page_answers_with_the_shop_assistant(tmp_path: Path, devs: list[Dev]) -> None:
    dev = start(devs, tmp_path)
    say(dev, JOAO, "What are your opening hours?")
    [answer] = wait_for_answer(dev, JOAO, "We're open")
    assert answer.startswith("We're open Monday to Friday 10:00")
    say(dev, JOAO, "where is my order?")
    wait_for_answer(dev, JOAO, "What's your order number?")
    # Linking pushed the bot's Get Started button, greeting and menu to the Page.
    [(_, _, _, sealed)] = channel_rows(tmp_path / "data" / "frontdesk.db")
    token = Secrets([(tmp_path / "data" / "secret.key").read_text().strip()]).decrypt(sealed)
    answer = httpx.get(
        f"{dev.emulator}/v25.0/me/messenger_profile",
        params={"fields": "get_started,persistent_menu", "access_token": token},
        timeout=10,
    )
    [profile] = answer.json()["data"]
    assert profile["get_started"] == {"payload": "GET_STARTED"}
    assert [item["title"] for item in profile["persistent_menu"][0]["call_to_actions"]] == [
        "Where is my order?",
        "Opening hours",
        "Returns",
        "Talk to a person",
    ]
    assert dev.stop() == 0
