"""`frontdesk migrate`, `serve` and `worker` as a person or a supervisor runs them: real
subprocesses, a real database, loopback HTTP and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, inspect, select, text

from frontdesk.store.db import sync_url
from frontdesk.store.migrate import alembic_config
from frontdesk.store.tables import worker_heartbeats
from tests.emulator.live import free_port, frontdesk

DEADLINE = 30.0
APP_SECRET = "cli-app-secret-that-must-never-be-logged"


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any FRONTDESK_* of its own, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    return {**env, "PYTHONUNBUFFERED": "1", **values}


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [frontdesk(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=cwd,
    )


class Process:
    """A `frontdesk` subprocess with its output in files; always stopped by the test."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.out, self.err = cwd / f"{args[0]}.out", cwd / f"{args[0]}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [frontdesk(), *args], stdout=out, stderr=err, env=env, cwd=cwd
            )

    def stdout(self) -> str:
        return self.out.read_text("utf-8")

    def stderr(self) -> str:
        return self.err.read_text("utf-8")

    def alive(self) -> None:
        assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.stderr()}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(DEADLINE)
                raise AssertionError(f"ignored {sig!r}:\n{self.stderr()}") from None
        return self.process.returncode


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(DEADLINE)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head
    return head


def test_migrate_creates_the_sqlite_database_at_the_latest_revision(tmp_path: Path) -> None:
    data = tmp_path / "data"  # does not exist yet
    env = environment(FRONTDESK_DATA_DIR=str(data))
    done = run("migrate", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    database = data / "frontdesk.db"
    assert done.stdout == f"frontdesk: database at the latest schema (sqlite:///{database})\n"
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert revision == head_revision()
    assert {"channels", "jobs", "messages", "webhook_bodies", "worker_heartbeats"} <= tables
    assert (data / "secret.key").is_file()  # no FRONTDESK_SECRET_KEY: one was made, once

    again = run("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.db
@pytest.mark.slow
def test_serve_answers_health_and_logs_json_without_secrets(
    database_url: str, tmp_path: Path, processes: list[Process]
) -> None:
    port = free_port()
    env = environment(
        FRONTDESK_DATA_DIR=str(tmp_path),
        FRONTDESK_DATABASE_URL=database_url,
        FRONTDESK_META_APP_SECRET=APP_SECRET,
        FRONTDESK_IN_PROCESS_WORKER="true",
        FRONTDESK_LOG_LEVEL="info",
    )
    serve = Process(["serve", "--port", str(port), "--log-level", "info"], env, tmp_path)
    processes.append(serve)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + DEADLINE
    while True:
        serve.alive()
        try:
            health = httpx.get(base + "/healthz", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, serve.stderr()
            time.sleep(0.05)  # polling with a deadline
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    while (ready := httpx.get(base + "/readyz", timeout=5)).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.05)
    assert serve.stdout() == f"Frontdesk on {base}\n"

    code = serve.stop()
    assert code in (0, -signal.SIGTERM), serve.stderr()  # uvicorn re-raises the signal it got
    records = [json.loads(line) for line in serve.stderr().splitlines()]
    assert records, "uvicorn logs at info: its lines go through the JSON handler"
    assert any(
        r["logger"] == "uvicorn.error" and r["message"].startswith("Uvicorn running on")
        for r in records
    )
    assert all(r["level"] in ("info", "warning") for r in records), records
    assert APP_SECRET not in serve.stderr()


@pytest.mark.db
@pytest.mark.slow
def test_worker_runs_until_sigterm_and_stops_cleanly(
    database_url: str, tmp_path: Path, processes: list[Process]
) -> None:
    env = environment(
        FRONTDESK_DATA_DIR=str(tmp_path),
        FRONTDESK_DATABASE_URL=database_url,
        FRONTDESK_WORKERS="3",
    )
    worker = Process(["worker"], env, tmp_path)
    processes.append(worker)
    engine = create_engine(sync_url(database_url))
    try:

        def heartbeats() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(select(func.count()).select_from(worker_heartbeats)).scalar_one()
                )

        deadline = time.monotonic() + DEADLINE
        while heartbeats() == 0:  # the worker's own proof that it runs
            worker.alive()
            assert time.monotonic() < deadline, worker.stderr()
            time.sleep(0.05)
        # Its CPU priority is lowered (FRONTDESK_WORKER_NICE, 10 by default): field 19 of
        # /proc/<pid>/stat is the process's nice value, the test runner's plus ten.
        stat = Path(f"/proc/{worker.process.pid}/stat").read_text()
        assert int(stat.rsplit(")", 1)[1].split()[16]) == os.nice(0) + 10
        assert worker.stop(signal.SIGTERM) == 0, worker.stderr()
        assert heartbeats() == 0  # it said goodbye: /readyz stops counting on it at once
    finally:
        engine.dispose()
    # FRONTDESK_WORKERS=3 means three transactions at once on PostgreSQL; SQLite has one writer.
    at_once = "1 transaction" if database_url.startswith("sqlite") else "3 transactions"
    assert worker.stdout() == f"frontdesk worker: {at_once} at a time\n"
    assert "Traceback" not in worker.stderr()


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("serve", "FRONTDESK_WORKERS", "many"),
        ("worker", "FRONTDESK_LOG_LEVEL", "loud"),
        ("migrate", "FRONTDESK_DATABASE_URL", "mysql://db/frontdesk"),
        ("serve", "FRONTDESK_SECRET_KEY", "not-a-fernet-key"),
        ("worker", "FRONTDESK_IN_PROCESS_WORKER", "perhaps"),
        ("dev", "FRONTDESK_MAX_BODY_BYTES", "12"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable(
    tmp_path: Path, command: str, variable: str, value: str
) -> None:
    env = environment(FRONTDESK_DATA_DIR=str(tmp_path / "data"), **{variable: value})
    done = run(command, env=env, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"frontdesk: {variable} must ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "data" / "frontdesk.db").exists()  # stopped before touching anything


def test_a_good_key_passes_where_a_bad_one_stops(tmp_path: Path) -> None:
    """The check above is not simply "any FRONTDESK_SECRET_KEY fails"."""
    env = environment(
        FRONTDESK_DATA_DIR=str(tmp_path), FRONTDESK_SECRET_KEY=Fernet.generate_key().decode()
    )
    done = run("migrate", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "secret.key").exists()  # the given key is used, none is made
