"""`frontdesk doctor` against a running `frontdesk dev` (Frontdesk and the emulator on loopback,
the demo Page connected): what it prints, its JSON, and its exit codes as a fault comes and goes.
Real subprocesses, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from frontdesk.demo import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_PAGE_ID
from frontdesk.store.tables import jobs, messages
from tests.emulator.live import free_port, frontdesk

pytestmark = pytest.mark.slow

DEADLINE = 30.0
JOAO = "7100000000000001"


class Running:
    """`frontdesk dev` on free ports in `cwd`, and the environment a doctor of it needs."""

    def __init__(self, cwd: Path) -> None:
        self.port, self.emulator_port = free_port(), free_port()
        self.frontdesk = f"http://127.0.0.1:{self.port}"
        self.emulator = f"http://127.0.0.1:{self.emulator_port}"
        self.out = cwd / "dev.out"
        base = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        self.env = {
            **base,
            "FRONTDESK_DATA_DIR": str(cwd / "data"),
            "FRONTDESK_GRAPH_URL": self.emulator,
            "FRONTDESK_META_APP_ID": DEMO_APP_ID,
            "FRONTDESK_META_APP_SECRET": DEMO_APP_SECRET,
            "FRONTDESK_PUBLIC_URL": self.frontdesk,
            "FRONTDESK_LOG_LEVEL": "warning",
        }
        argv = ["dev", "--port", str(self.port), "--emulator-port", str(self.emulator_port)]
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [frontdesk(), *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**base, "PYTHONUNBUFFERED": "1"},
            )
        self.database = cwd / "data" / "frontdesk.db"

    def wait_until_connected(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while "Ctrl-C stops both" not in self.out.read_text("utf-8"):
            assert self.process.poll() is None, self.out.read_text("utf-8")
            assert time.monotonic() < deadline, self.out.read_text("utf-8")
            time.sleep(0.05)  # polling with a deadline

    def doctor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [frontdesk(), "doctor", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=DEADLINE,
            check=False,
        )

    def emulator_fault(self, *args: str) -> None:
        done = subprocess.run(
            [frontdesk(), "emulator", "fault", *args, "--url", self.emulator],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def customer_says(self, text: str) -> None:
        """A customer writes; returns once Frontdesk has filed the message."""
        engine = create_engine(f"sqlite:///{self.database}")
        try:
            with engine.connect() as conn:
                before = conn.execute(select(func.count()).select_from(messages)).scalar_one()
            answer = httpx.post(
                self.emulator + "/_emulator/act/message",
                json={"page_id": DEMO_PAGE_ID, "person_id": JOAO, "text": text},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + DEADLINE
            while True:
                with engine.connect() as conn:
                    count = conn.execute(select(func.count()).select_from(messages)).scalar_one()
                if count > before:
                    return
                assert time.monotonic() < deadline, "the message was never filed"
                time.sleep(0.05)  # another process's progress, polled with a deadline
        finally:
            engine.dispose()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(DEADLINE)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    dev = Running(tmp_path)
    try:
        dev.wait_until_connected()
        yield dev
    finally:
        dev.stop()


def test_frontdesk_doctor_reports_and_exits_by_what_it_found(running: Running) -> None:
    # Connected, but nothing arrived yet: that one check cannot be made.
    fresh = running.doctor()
    assert fresh.returncode == 3, fresh.stdout + fresh.stderr
    lines = fresh.stdout.splitlines()
    assert lines[0] == f"Lisbon Tees (Page {DEMO_PAGE_ID}): no problem found"
    assert "  ✓ Page token" in lines
    assert "  ? Messages arriving" in lines

    running.customer_says("Olá! Do you ship to Porto?")
    healthy = running.doctor("--page", DEMO_PAGE_ID)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.count("✓") == 9
    assert f"pointing at {running.frontdesk}/webhooks/messenger" in healthy.stdout

    running.emulator_fault("unpublish", "--page-id", DEMO_PAGE_ID)
    broken = running.doctor("--json")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    view = json.loads(broken.stdout)
    assert view["ok"] is False
    [page] = view["pages"]
    failed = [f for f in page["findings"] if f["verdict"] == "fail"]
    assert [f["check"] for f in failed] == ["page"]
    assert failed[0]["fix"].startswith("Publish the Page again")
    text = running.doctor()
    assert text.returncode == 1
    assert "  ✗ Page published and not restricted" in text.stdout
    assert "      Fix: Publish the Page again" in text.stdout

    running.emulator_fault("publish", "--page-id", DEMO_PAGE_ID)
    assert running.doctor().returncode == 0


def test_frontdesk_doctor_refuses_a_page_that_is_not_connected(running: Running) -> None:
    done = running.doctor("--page", "999999")
    assert done.returncode == 2
    assert done.stderr.strip() == "frontdesk doctor: no Page 999999 is connected"


def test_frontdesk_dev_has_the_doctor_watch_the_demo_page(running: Running) -> None:
    """The first examination runs at once, the next is booked an hour later."""
    engine = create_engine(f"sqlite:///{running.database}")
    query = select(jobs.c.state, jobs.c.run_at).where(jobs.c.kind == "doctor").order_by(jobs.c.id)
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(query).all()
            if [r.state for r in rows] == ["done", "ready"]:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)  # the in-process worker's progress, polled with a deadline
    finally:
        engine.dispose()
    assert rows[1].run_at - rows[0].run_at == pytest.approx(3600, abs=60)
