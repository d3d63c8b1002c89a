"""A real `frontdesk emulator` subprocess on a free loopback port, for CLI and script tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from .conftest import ADMIN, APP_ID, APP_SECRET, PAGE, PAGE2, REDIRECT

STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0


def frontdesk() -> str:
    """The `frontdesk` of the venv running the tests, so the subprocess runs this checkout."""
    beside = Path(sys.executable).with_name("frontdesk")
    if beside.exists():
        return str(beside)
    found = shutil.which("frontdesk")
    assert found, "the frontdesk command is not installed (make .venv)"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def stdout(self) -> str:
        return self.output.with_suffix(".out").read_text("utf-8")

    def stderr(self) -> str:
        return self.output.with_suffix(".err").read_text("utf-8")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the way a person or a supervisor does; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
                raise AssertionError(f"the emulator ignored {sig!r}:\n{self.stderr()}") from None
        return self.process.returncode


@contextlib.contextmanager
def emulator(tmp_path: Path, *args: str, name: str = "emulator") -> Iterator[Running]:
    """Start `frontdesk emulator --port <free> *args`, wait until it answers, always stop it."""
    port = free_port()
    output = tmp_path / name
    with (
        output.with_suffix(".out").open("wb") as out,
        output.with_suffix(".err").open("wb") as err,
    ):
        process = subprocess.Popen(
            [frontdesk(), "emulator", "--port", str(port), *args],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    running = Running(process, f"http://127.0.0.1:{port}", output)
    try:
        wait_until_up(running)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_SECONDS)


def wait_until_up(running: Running) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"the emulator exited early:\n{running.stderr()}")
        try:
            if httpx.get(running.url + "/_emulator/world", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling with a deadline, not waiting a fixed time
    raise AssertionError(f"the emulator did not answer in {STARTUP_SECONDS} s:\n{running.stderr()}")


def page_token(url: str, page: str = PAGE) -> str:
    """Log in as the Page admin through the dialog, and take the Page token from me/accounts."""
    with httpx.Client(base_url=url, timeout=10) as graph:
        query = {
            "client_id": APP_ID,
            "redirect_uri": REDIRECT,
            "state": "st4te",
            "scope": "pages_show_list,pages_messaging,pages_manage_metadata",
        }
        form = {
            **query,
            "person_id": ADMIN,
            "action": "allow",
            "page": [PAGE, PAGE2],
            "permission": ["pages_show_list", "pages_messaging", "pages_manage_metadata"],
        }
        redirect = graph.post("/v25.0/dialog/oauth", data=form)
        assert redirect.status_code == 302, redirect.text
        code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
        app = {"client_id": APP_ID, "client_secret": APP_SECRET}
        short = graph.get(
            "/v25.0/oauth/access_token", params={**app, "redirect_uri": REDIRECT, "code": code}
        ).json()["access_token"]
        long = graph.get(
            "/v25.0/oauth/access_token",
            params={**app, "grant_type": "fb_exchange_token", "fb_exchange_token": short},
        ).json()["access_token"]
        accounts = graph.get("/v25.0/me/accounts", params={"access_token": long}).json()
        return next(str(p["access_token"]) for p in accounts["data"] if p["id"] == page)
