"""`make bench`: Frontdesk's webhook intake against a bare HMAC route, on SQLite and PostgreSQL.

One run measures, against a baseline it starts itself (bench/baseline.py: a Starlette route that
only checks the HMAC and answers 200), served by the same uvicorn settings:

  (a) durable ingest: requests/s that `frontdesk serve` acknowledges, sustained (wrk, closed loop)
  (b) acknowledgement latency at a fixed 2,000 events/s with the workers running (open loop), and
      under overload (wrk with many connections): how much is answered 503, and how fast
  (c) processing lag at a fixed 1,000 events/s: acknowledged -> message stored by the worker
  (d) resident memory of `frontdesk serve`, idle and under the ingest load

The server (and its threads) is pinned to CPU 0, the load generator to CPU 1, so the generator
never takes the server's core; PostgreSQL and a separate `frontdesk worker` are not pinned.
Method and figures: docs/performance.md. Options: `python bench/run.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webhooks
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from frontdesk.store import conversations
from frontdesk.store.db import create_engine as create_async_engine
from frontdesk.store.db import sync_url
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import jobs, messages, webhook_bodies

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
SERVER_CPU, LOAD_CPU = 0, 1
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
ROUNDS = 3
"""Turns each server takes under the ingest load; the median counts."""


# ------------------------------------------------------------------------------------------
# processes
# ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """`taskset` so that every thread the process starts stays on `cpu` (2+ cores only)."""
    if cpu is None or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    cpu: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                pinned(self.command, self.cpu), env=self.env, stdout=out, stderr=out
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        for process in processes:
            process.start()
        yield
    finally:
        for process in reversed(processes):
            process.stop()


def wait_for_port(process: Process, port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.popen is not None
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on {port} within {seconds:g} s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """The largest resident size of a process while a load runs (sampled every 0.2 s)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------
# databases
# ------------------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str
    url: str
    drop: list[str] = field(default_factory=list)
    """PostgreSQL schemas to drop at the end."""


def postgres_reachable(url: str) -> bool:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as err:  # any failure means: skip PostgreSQL, and say why
        print(f"bench: PostgreSQL at {url} not reachable ({type(err).__name__}); skipped")
        return False
    finally:
        engine.dispose()


def fresh_database(kind: str, workdir: Path, pg_url: str, tag: str) -> Database:
    """A migrated, empty database with the bench Page connected."""
    if kind == "sqlite":
        path = workdir / f"{tag}.db"
        url = f"sqlite:///{path}"
        database = Database(kind, url)
    else:
        schema = f"bench_{tag}_{secrets.token_hex(4)}"
        admin = create_engine(sync_url(pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = (
            make_url(pg_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        database = Database(kind, url, [schema])
    upgrade(database.url)

    async def connect_page() -> None:
        engine = create_async_engine(database.url)
        async with engine.begin() as conn:
            await conversations.add_channel(conn, webhooks.PAGE_ID, "Bench Tees", time.time())
        await engine.dispose()

    asyncio.run(connect_page())
    return database


def drop(databases: list[Database], pg_url: str) -> None:
    schemas = [s for d in databases for s in d.drop]
    if not schemas:
        return
    admin = create_engine(sync_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def count(url: str, table: Any, *where: Any) -> int:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(table)
            for clause in where:
                query = query.where(clause)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------
# load
# ------------------------------------------------------------------------------------------


def write_bodies(path: Path, run: str, n: int) -> None:
    with path.open("w") as out:
        for i in range(n):
            body = webhooks.body(run, i)
            out.write(f"{webhooks.signature(body)}\t{body.decode()}\n")


def wrk(url: str, bodies: Path, seconds: float, connections: int, log: Path) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "ingest.lua"),
        url,
        "--",
        str(bodies),
    ]
    done = subprocess.run(pinned(command, LOAD_CPU), capture_output=True, text=True, check=False)
    log.write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    result["rate"] = result["statuses"].get(200, 0) / result["seconds"]
    return result


def open_loop(url: str, rate: float, seconds: float, run: str, workdir: Path) -> dict[str, Any]:
    out = workdir / f"load-{run}.json"
    command = [
        PYTHON,
        str(HERE / "load.py"),
        "--url",
        url,
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{seconds:g}",
        "--run",
        run,
        "--max-connections",
        "512",
        "--out",
        str(out),
    ]
    subprocess.run(pinned(command, LOAD_CPU), check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(load: dict[str, Any]) -> dict[str, Any]:
    results = load["results"]
    statuses: dict[int, int] = {}
    for _mid, status, _latency, _at in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = sorted(latency * 1000 for _mid, _status, latency, _at in results)
    return {
        "statuses": statuses,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "offered_rate": load["offered_rate"],
        "generator_cpu": load["cpu_seconds"],
        "errors": load["errors"],
    }


# ------------------------------------------------------------------------------------------
# the measurements
# ------------------------------------------------------------------------------------------


@dataclass
class Bench:
    workdir: Path
    seconds: float
    pg_url: str
    env: dict[str, str]
    databases: list[Database] = field(default_factory=list)

    def serve(self, database: Database | None, port: int, tag: str) -> Process:
        if database is None:
            command = [
                PYTHON,
                "-m",
                "uvicorn",
                "--app-dir",
                str(HERE),
                "baseline:app",
            ]
        else:
            command = [PYTHON, "-m", "frontdesk.cli", "serve"]
        # The same uvicorn settings for both: one process, loopback, no access log, asyncio's
        # loop and httptools (what `frontdesk serve` sets).
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        if database is None:
            command += ["--no-access-log", "--loop", "asyncio", "--http", "httptools"]
        env = dict(self.env)
        if database is not None:
            env["FRONTDESK_DATABASE_URL"] = database.url
        return Process(f"server-{tag}", command, env, self.workdir / f"{tag}.log", SERVER_CPU)

    def worker(self, database: Database, tag: str) -> Process:
        env = dict(self.env, FRONTDESK_DATABASE_URL=database.url)
        command = [PYTHON, "-m", "frontdesk.cli", "worker"]
        return Process(f"worker-{tag}", command, env, self.workdir / f"{tag}-worker.log")

    def fresh(self, kind: str, tag: str) -> Database:
        database = fresh_database(kind, self.workdir, self.pg_url, tag)
        self.databases.append(database)
        return database

    def with_workers(self, database: Database, tag: str) -> tuple[Process, ...]:
        """`frontdesk serve` as deployed: on SQLite its in-process worker, on PostgreSQL a
        separate `frontdesk worker` process."""
        port = free_port()
        server = self.serve(database, port, tag)
        if database.kind == "sqlite":
            server.env["FRONTDESK_IN_PROCESS_WORKER"] = "true"
            return (server,)
        server.env["FRONTDESK_IN_PROCESS_WORKER"] = "false"
        return (server, self.worker(database, tag))

    def ingest(self, targets: dict[str, Database | None]) -> dict[str, dict[str, Any]]:
        """(a) and (d): closed-loop throughput, and each server's memory idle and under load.

        All servers run at once (idle ones cost nothing) and take turns under the load, ROUNDS
        times: a neighbour's burst on this shared machine then hits every target alike, and the
        median round of each is its figure.
        """
        servers: dict[str, tuple[Process, str, Path]] = {}
        for tag, database in targets.items():
            port = free_port()
            server = self.serve(database, port, tag)
            server.env["FRONTDESK_IN_PROCESS_WORKER"] = "false"
            bodies = self.workdir / f"bodies-{tag}.txt"
            write_bodies(bodies, tag, 150_000)
            servers[tag] = (server, f"http://127.0.0.1:{port}/webhooks/messenger", bodies)
        rounds: dict[str, list[dict[str, Any]]] = {tag: [] for tag in targets}
        idle: dict[str, int] = {}
        peak: dict[str, int] = dict.fromkeys(targets, 0)
        acknowledged: dict[str, int] = dict.fromkeys(targets, 0)
        with running(*(server for server, _url, _bodies in servers.values())):
            for tag, (server, url, bodies) in servers.items():
                port = int(url.split(":")[2].split("/")[0])
                wait_for_port(server, port)
                warm = wrk(url, bodies, 2, 16, self.workdir / f"{tag}-warm.txt")
                acknowledged[tag] += warm["statuses"].get(200, 0)
            time.sleep(1)
            for tag, (server, _url, _bodies) in servers.items():
                idle[tag] = rss_kib(server.pid)
            for n in range(ROUNDS):
                for tag, (server, url, bodies) in servers.items():
                    with RssSampler(server.pid) as sampler:
                        log = self.workdir / f"{tag}-wrk-{n}.txt"
                        result = wrk(url, bodies, self.seconds / 2, 64, log)
                    rounds[tag].append(result)
                    acknowledged[tag] += result["statuses"].get(200, 0)
                    peak[tag] = max(peak[tag], sampler.peak)
        figures: dict[str, dict[str, Any]] = {}
        for tag, database in targets.items():
            median = sorted(rounds[tag], key=lambda r: r["rate"])[len(rounds[tag]) // 2]
            median.update(
                idle_kib=idle[tag],
                load_kib=peak[tag],
                rounds=[round(r["rate"]) for r in rounds[tag]],
            )
            if database is not None:
                stored = count(database.url, webhook_bodies)
                # Every 200 is a committed body (one cut off by wrk's stop may be stored too).
                assert stored >= acknowledged[tag], f"{tag}: {acknowledged[tag]} acked, {stored}"
                median["stored"] = stored
            figures[tag] = median
        return figures

    def latency(self, database: Database | None, tag: str) -> dict[str, Any]:
        """(b): latency at a fixed 2,000 events/s with the workers running, then overload."""
        processes = (
            self.with_workers(database, tag)
            if database is not None
            else (self.serve(None, free_port(), tag),)
        )
        server = processes[0]
        port = int(server.command[server.command.index("--port") + 1])
        url = f"http://127.0.0.1:{port}/webhooks/messenger"
        with running(*processes):
            wait_for_port(server, port)
            steady = latency_summary(open_loop(url, 2000, self.seconds, tag, self.workdir))
            bodies = self.workdir / f"bodies-{tag}-over.txt"
            write_bodies(bodies, f"{tag}o", 60_000)
            over = wrk(url, bodies, 5, 512, self.workdir / f"{tag}-over.txt")
        steady["overload"] = over
        if database is not None:
            acknowledged = steady["statuses"].get(200, 0) + over["statuses"].get(200, 0)
            stored = count(database.url, webhook_bodies)
            assert stored >= acknowledged, f"{tag}: {acknowledged} acknowledged, {stored} stored"
        return steady

    def lag(self, database: Database, tag: str) -> dict[str, Any]:
        """(c): acknowledged -> message stored, at a fixed 1,000 events/s; waits for the drain."""
        processes = self.with_workers(database, tag)
        server = processes[0]
        port = int(server.command[server.command.index("--port") + 1])
        url = f"http://127.0.0.1:{port}/webhooks/messenger"
        with running(*processes):
            wait_for_port(server, port)
            load = open_loop(url, 1000, self.seconds, tag, self.workdir)
            acked = {mid: at for mid, status, _latency, at in load["results"] if status == 200}
            started = time.monotonic()
            stored, last, stalled = 0, -1, time.monotonic()
            while stored < len(acked) and time.monotonic() - started < self.drain_seconds():
                stored = count(database.url, messages)
                if stored != last:
                    last, stalled = stored, time.monotonic()
                elif time.monotonic() - stalled > 10:
                    break
                time.sleep(0.5)
            drain = time.monotonic() - started
            rows = self.filed(database.url)
        lags = sorted(max(0.0, rows[mid] - at) for mid, at in acked.items() if mid in rows)
        missing = len(acked) - len(lags)
        # Events not filed by the end count as later than any that were.
        lags += [float("inf")] * missing
        return {
            "acknowledged": len(acked),
            "filed": len(acked) - missing,
            "drain_seconds": drain,
            "p50_s": percentile(lags, 50),
            "p99_s": percentile(lags, 99),
            "max_s": lags[-1] if lags else float("nan"),
            "filed_per_s": (len(acked) - missing) / (self.seconds + drain),
            "dead_jobs": count(database.url, jobs, jobs.c.state == "dead"),
        }

    def drain_seconds(self) -> float:
        return max(30.0, 3 * self.seconds)

    @staticmethod
    def filed(url: str) -> dict[str, float]:
        engine = create_engine(sync_url(url))
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(messages.c.mid, messages.c.created_at)).all()
        finally:
            engine.dispose()
        return {row.mid: row.created_at for row in rows}


# ------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f} ms"  # NaN: not measured


def seconds_text(value: float) -> str:
    if value != value:
        return "-"
    return "not filed" if value == float("inf") else f"{value:.2f} s"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def ratio(value: float, base: float) -> str:
    if not base or value != value or base != base or value == float("inf"):
        return "-"
    return f"{value / base:.2f}x"


def share(statuses: dict[int, int], status: int) -> str:
    total = sum(statuses.values())
    return f"{100 * statuses.get(status, 0) / total:.1f}%" if total else "-"


def table(results: dict[str, dict[str, Any]], kinds: list[str]) -> str:
    base = results["baseline"]
    rows: list[tuple[str, str, list[tuple[str, str]], str]] = []

    def add(name: str, goal: str, pick: Any, fmt: Any, with_ratio: bool = True) -> None:
        base_value = pick(base) if base else float("nan")
        cells = []
        for kind in kinds:
            value = pick(results[kind])
            cells.append((ratio(value, base_value) if with_ratio else "", fmt(value)))
        rows.append((name, goal, cells, fmt(base_value) if base else "-"))

    add(
        "(a) durable ingest, req/s acknowledged",
        "≥ 0.50x",
        lambda r: r["ingest"]["rate"],
        lambda v: f"{v:,.0f}/s",
    )
    for p in ("p50", "p99", "max"):
        add(
            f"(b) ack latency {p} at 2,000/s, workers on",
            "p99 ≤ 20 ms" if p == "p99" else ("< 5 s" if p == "max" else ""),
            lambda r, p=p: r["latency"][f"{p}_ms"],
            ms,
        )
    add(
        "(b) 2,000/s: answered 200",
        "100%",
        lambda r: (
            100 * r["latency"]["statuses"].get(200, 0) / sum(r["latency"]["statuses"].values())
        ),
        lambda v: f"{v:.1f}%",
        with_ratio=False,
    )
    add(
        "(b) overload, 512 conns: answered 503",
        "fast 503",
        lambda r: (
            100
            * r["latency"]["overload"]["statuses"].get(503, 0)
            / max(1, sum(r["latency"]["overload"]["statuses"].values()))
        ),
        lambda v: f"{v:.1f}%",
        with_ratio=False,
    )
    for p in ("p99", "max"):
        add(
            f"(b) overload latency {p} (all answers)",
            "< 5 s" if p == "max" else "",
            lambda r, p=p: r["latency"]["overload"][f"{p}_ms"],
            ms,
        )
    add(
        "(b) overload: answered 200 per s",
        "",
        lambda r: r["latency"]["overload"]["rate"],
        lambda v: f"{v:,.0f}/s",
    )
    for p in ("p50", "p99", "max"):
        add(
            f"(c) processing lag {p} at 1,000/s",
            "",
            lambda r, p=p: r["lag"][f"{p}_s"] if "lag" in r else float("nan"),
            seconds_text,
            with_ratio=False,
        )
    add(
        "(c) events filed per s (load + drain)",
        "",
        lambda r: r["lag"]["filed_per_s"] if "lag" in r else float("nan"),
        lambda v: "-" if v != v else f"{v:,.0f}/s",
        with_ratio=False,
    )
    add("(d) RSS idle", "", lambda r: r["ingest"]["idle_kib"], mib)
    add("(d) RSS under ingest load", "", lambda r: r["ingest"]["load_kib"], mib)

    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    header = ["figure", "goal"]
    header += [f"{names[k]} ÷ baseline" for k in kinds]
    header += ["baseline", *(names[k] for k in kinds)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, goal, cells, base_text in rows:
        ratios = [c[0] or "" for c in cells]
        values = [c[1] for c in cells]
        lines.append("| " + " | ".join([name, goal, *ratios, base_text, *values]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument(
        "--only", choices=["sqlite", "postgresql"], help="one database instead of both"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    if shutil.which("wrk") is None:
        print("bench: needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    if "postgresql" in kinds and not postgres_reachable(args.pg_url):
        kinds.remove("postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_") and k != "PYTHONPATH"
    }
    env.update(
        # The servers run this checkout's code, whichever checkout the virtualenv installed.
        PYTHONPATH=str(HERE.parent / "src"),
        FRONTDESK_DATA_DIR=str(workdir),
        FRONTDESK_META_APP_SECRET=webhooks.APP_SECRET,
        FRONTDESK_SECRET_KEY=Fernet.generate_key().decode(),
        FRONTDESK_LOG_LEVEL="warning",
    )
    bench = Bench(workdir, args.seconds, args.pg_url, env)
    results: dict[str, dict[str, Any]] = {}
    print(f"bench: {os.cpu_count()} CPUs; server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}")
    print(f"bench: work files in {workdir}")
    try:
        print(
            f"bench: ingest, {ROUNDS} rounds: baseline, {', '.join(kinds)} in turn ...", flush=True
        )
        targets: dict[str, Database | None] = {"baseline": None}
        targets.update({kind: bench.fresh(kind, f"{kind}_a") for kind in kinds})
        ingest = bench.ingest(targets)
        print("bench: baseline: latency and overload ...", flush=True)
        results["baseline"] = {
            "ingest": ingest["baseline"],
            "latency": bench.latency(None, "baseline-lat"),
        }
        for kind in kinds:
            print(f"bench: {kind}: latency and overload ...", flush=True)
            latency = bench.latency(bench.fresh(kind, f"{kind}_b"), f"{kind}_b")
            print(f"bench: {kind}: processing lag ...", flush=True)
            lag = bench.lag(bench.fresh(kind, f"{kind}_c"), f"{kind}_c")
            results[kind] = {"ingest": ingest[kind], "latency": latency, "lag": lag}
    finally:
        drop(bench.databases, args.pg_url)
    print()
    print(table(results, kinds))
    print()
    for kind in kinds:
        lag = results[kind]["lag"]
        print(
            f"{kind}: {lag['filed']:,} of {lag['acknowledged']:,} acknowledged events filed, "
            f"drain {lag['drain_seconds']:.0f} s after the load, {lag['dead_jobs']} dead jobs"
        )
    for tag in ("baseline", *kinds):
        rates = ", ".join(f"{r:,}/s" for r in results[tag]["ingest"]["rounds"])
        print(f"(a) {tag}: rounds {rates}")
    for tag in ("baseline", *kinds):
        errors = results[tag]["latency"]["errors"]
        if errors:
            print(f"(b) {tag}: requests without an answer at 2,000/s: {errors}")
    gen = results["baseline"]["latency"]["generator_cpu"] / args.seconds
    print(f"load generator at 2,000/s used {100 * gen:.0f}% of its core")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
