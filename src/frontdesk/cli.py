"""The `frontdesk` command: `frontdesk emulator` starts Meta's stand-in, and drives it."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

FAULT_KINDS = {
    "password-change": ("person_id",),
    "expire-token": ("person_id",),
    "remove-role": ("page_id", "person_id"),
    "remove-app": ("page_id", "app_id"),
}


def _emulator_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .emulator import scenario
    from .emulator.app import build_meta, create_app

    if args.save is not None and not Path(args.save).resolve().parent.is_dir():
        # Found out now, not at shutdown when the world would be lost.
        print(f"frontdesk emulator: --save {args.save}: no such folder", file=sys.stderr)
        return 2
    base_url = args.public_url or f"http://{args.host}:{args.port}"
    try:
        data = scenario.read(args.scenario) if args.scenario else None  # errors name the file
    except scenario.ScenarioError as err:
        print(f"frontdesk emulator: {err}", file=sys.stderr)
        return 2
    try:
        meta = build_meta(data, base_url=base_url)
    except scenario.ScenarioError as err:
        print(f"frontdesk emulator: {args.scenario}: {err}", file=sys.stderr)
        return 2
    app = create_app(meta, save_to=args.save)
    print(f"Meta emulator on {base_url}")
    print(f"  Graph API        {base_url}/v25.0/")
    print(f"  Login dialog     {base_url}/v25.0/dialog/oauth")
    print(f"  Messenger client {base_url}/messenger")
    print(f"  Console          {base_url}/console")
    print(f"  Control API      {base_url}/_emulator/world")
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def _call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> int:
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, json=body, timeout=30)
    except httpx.HTTPError as err:
        print(f"frontdesk emulator: cannot reach {args.url}: {err}", file=sys.stderr)
        return 1
    try:
        body = response.json()
    except ValueError:
        print(
            f"frontdesk emulator: {args.url} answered HTTP {response.status_code}, not the "
            "emulator's control API",
            file=sys.stderr,
        )
        return 1
    if not response.is_success:
        problem = body.get("error", body) if isinstance(body, dict) else body
        print(f"frontdesk emulator: {problem}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _emulator_fault(args: argparse.Namespace) -> int:
    if args.kind in FAULT_KINDS:
        body = {key: getattr(args, key) for key in FAULT_KINDS[args.kind]}
        if args.kind == "expire-token" and args.token:
            body = {"token": args.token}
        missing = [k for k, v in body.items() if v is None]
        if missing:
            print(
                f"frontdesk emulator fault {args.kind}: needs --{missing[0].replace('_', '-')}",
                file=sys.stderr,
            )
            return 2
        return _call(args, "POST", f"/_emulator/faults/{args.kind}", body)
    if args.kind in (
        "unpublish",
        "publish",
        "restrict",
        "unrestrict",
        "messaging-off",
        "messaging-on",
    ):
        if args.page_id is None:
            print(f"frontdesk emulator fault {args.kind}: needs --page-id", file=sys.stderr)
            return 2
        key, value = {
            "unpublish": ("published", False),
            "publish": ("published", True),
            "restrict": ("restricted", True),
            "unrestrict": ("restricted", False),
            "messaging-off": ("messaging_enabled", False),
            "messaging-on": ("messaging_enabled", True),
        }[args.kind]
        return _call(args, "PATCH", f"/_emulator/pages/{args.page_id}", {key: value})
    if args.kind == "clear":
        return _call(args, "DELETE", "/_emulator/faults")
    spec: dict[str, Any] = {"count": args.count, "page_id": args.page_id, "app_id": args.app_id}
    if args.kind == "send-5xx":
        spec.update(
            kind="error",
            endpoint="messages",
            error={
                "code": 2,
                "status": 503,
                "message": "(#2) Service temporarily unavailable",
                "is_transient": True,
            },
        )
    elif args.kind == "rate-limit":
        spec.update(
            kind="error",
            endpoint="messages",
            error={
                "code": 613,
                "message": "(#613) Calls to this api have exceeded the rate limit.",
                "is_transient": True,
            },
        )
    elif args.kind == "slow":
        spec.update(kind="latency", endpoint=args.endpoint, seconds=args.seconds)
    elif args.kind == "callback-fail":
        spec.update(kind="callback", status=args.status)
    return _call(
        args, "POST", "/_emulator/faults", {k: v for k, v in spec.items() if v is not None}
    )


def _emulator_clock(args: argparse.Namespace) -> int:
    seconds = _duration(args.duration)
    if seconds is None:
        print("frontdesk emulator clock: a duration like 90s, 30m, 25h or 8d", file=sys.stderr)
        return 2
    return _call(args, "POST", "/_emulator/clock/advance", {"seconds": seconds})


def _duration(text: str) -> float | None:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return port


LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]


def _settings(env: Mapping[str, str] | None = None) -> Any:
    """The settings (exit 2 naming a bad variable), and the JSON logs they configure."""
    from . import logs
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(env)
    except SettingsError as err:
        print(f"frontdesk: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(
        settings.log_level,
        secrets=(settings.meta_app_secret, settings.meta_verify_token, *settings.secret_keys),
    )
    return settings


def _migrate(args: argparse.Namespace) -> int:
    from .store.migrate import upgrade

    settings = _settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    print(f"frontdesk: database at the latest schema ({_redacted(settings.database_url)})")
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import Server, create_app
    from .runtime import tune_gc

    app = create_app(_settings())
    tune_gc()
    print(f"Frontdesk on http://{args.host}:{args.port}")
    sys.stdout.flush()
    # log_config=None: uvicorn's own records go through the JSON handler too.
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,
        access_log=False,
        # httptools (picked by "auto") is what saves the HTTP parsing's CPU. The loop stays
        # asyncio's: uvloop, while its loop is busy, left new connections waiting to be
        # accepted (436 at once under `make bench`'s overload), so 1 % of requests were
        # answered after 2-5 s; asyncio's accepts them promptly at the same throughput
        # (docs/performance.md). `frontdesk worker` does run on uvloop (`_run_loop`).
        loop="asyncio",
    )
    Server(config).run()
    return 0


def _dev(args: argparse.Namespace) -> int:
    import os

    from . import demo

    addresses = demo.Addresses(args.host, args.port, args.emulator_port)
    settings = _settings(demo.environment(os.environ, addresses))
    return demo.run(settings, addresses, server_log_level=args.log_level)


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal

    from .app import (
        SEND_TIMEOUT,
        build_caller,
        build_checkup,
        build_enricher,
        build_pusher,
        build_retention,
        build_sender,
    )
    from .runtime import tune_gc
    from .store.db import create_engine
    from .workers.jobs import job_handlers
    from .workers.loop import Worker

    settings = _settings()

    if settings.worker_nice:
        # Behind `frontdesk serve` for the CPU when both share a machine: Meta waits for the
        # acknowledgements, the jobs only wait in the queue (docs/performance.md).
        os.nice(settings.worker_nice)

    async def run() -> None:
        engine = create_engine(settings.database_url)
        http = httpx.AsyncClient(timeout=SEND_TIMEOUT)
        handlers = job_handlers(
            settings.meta_app_id,
            sender=build_sender(settings, http),
            enricher=build_enricher(settings, http),
            doctor=build_checkup(settings, http),
            caller=build_caller(settings, http),
            pusher=build_pusher(settings, http),
        )
        worker = Worker(
            engine,
            handlers,
            concurrency=settings.workers,
            lease=settings.job_lease_seconds,
            keep=build_retention(settings),
        )
        tune_gc()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        try:
            await worker.run()
        finally:
            await http.aclose()
            await engine.dispose()

    # SQLite has one writer: its worker runs one transaction (a batch of jobs) at a time.
    lanes = 1 if settings.is_sqlite else settings.workers
    print(f"frontdesk worker: {lanes} transaction{'' if lanes == 1 else 's'} at a time")
    sys.stdout.flush()
    _run_loop(run())
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run`, on uvloop where it is installed, as uvicorn does for `frontdesk serve`:
    the worker's loop turns over for every statement and call, and uvloop's costs less."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency, absent only on Windows
        import asyncio

        asyncio.run(main)
    else:
        uvloop.run(main)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="frontdesk", description="Frontdesk: Facebook Messenger front desk."
    )
    commands = root.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser(
        "emulator", help="run Meta's local stand-in, or drive a running one"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=_port, default=8081)
    emulator.add_argument(
        "--scenario", help="YAML/JSON world to start from (default: the demo world)"
    )
    emulator.add_argument(
        "--save", help="write the world here on shutdown (tokens and chats included)"
    )
    emulator.add_argument("--public-url", help="the URL people and apps reach the emulator at")
    emulator.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    emulator.set_defaults(run=_emulator_serve)
    actions = emulator.add_subparsers(dest="action")

    fault = actions.add_parser("fault", help="inject a fault into a running emulator")
    fault.add_argument(
        "kind",
        choices=[
            *FAULT_KINDS,
            "unpublish",
            "publish",
            "restrict",
            "unrestrict",
            "messaging-off",
            "messaging-on",
            "send-5xx",
            "rate-limit",
            "slow",
            "callback-fail",
            "clear",
        ],
    )
    fault.add_argument("--url", default="http://127.0.0.1:8081")
    fault.add_argument("--person-id")
    fault.add_argument("--page-id")
    fault.add_argument("--app-id")
    fault.add_argument("--token")
    fault.add_argument("--count", type=int)
    fault.add_argument("--seconds", type=float, default=3.0)
    fault.add_argument("--endpoint", default="messages")
    fault.add_argument("--status", type=int, default=500)
    fault.set_defaults(run=_emulator_fault)

    clock = actions.add_parser("clock", help="advance the emulated clock, e.g. `clock 25h`")
    clock.add_argument("duration")
    clock.add_argument("--url", default="http://127.0.0.1:8081")
    clock.set_defaults(run=_emulator_clock)
    _core_commands(commands)
    _admin_commands(commands)
    _doctor_command(commands)
    return root


def _core_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run Frontdesk (web, and on SQLite a worker too)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run background jobs (PostgreSQL: any number)")
    worker.set_defaults(run=_worker)
    migrate = commands.add_parser("migrate", help="bring the database to the latest schema")
    migrate.set_defaults(run=_migrate)
    dev = commands.add_parser(
        "dev", help="run Frontdesk and the Meta emulator together, the demo Page connected"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=_port, default=8000, help="Frontdesk's port")
    dev.add_argument("--emulator-port", type=_port, default=8081, help="the emulator's port")
    dev.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    dev.set_defaults(run=_dev)


def _admin(args: argparse.Namespace) -> int:
    from . import admin
    from .core.people import Role

    settings = _settings()
    try:
        password = admin.read_password(args.password_stdin, sys.stdin)
        if args.action == "create":
            done = admin.create(
                settings.database_url,
                email=args.email,
                workspace=args.workspace,
                role=Role(args.role),
                name=args.name,
                password=password,
            )
        else:
            done = admin.reset_password(settings.database_url, email=args.email, password=password)
    except admin.AdminError as err:
        print(f"frontdesk admin {args.action}: {err}", file=sys.stderr)
        return err.code
    print(f"frontdesk: {done}")
    return 0


def _admin_commands(commands: Any) -> None:
    admin = commands.add_parser("admin", help="make console accounts, reset passwords")
    actions = admin.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="add a person to a workspace (a new workspace starts with its owner)"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--workspace", required=True, help="its name; made if it does not exist")
    create.add_argument("--role", choices=["owner", "admin", "agent"], default="owner")
    create.add_argument("--name", help="the person's name (default: the address before the @)")
    reset = actions.add_parser(
        "reset-password", help="set a new password and sign the account out everywhere"
    )
    reset.add_argument("--email", required=True)
    for action in (create, reset):
        action.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin instead of asking twice",
        )
        action.set_defaults(run=_admin)


DOCTOR_UNKNOWN = 3
"""`frontdesk doctor`'s exit code when nothing failed but something could not be checked."""


def _doctor(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from .app import SEND_TIMEOUT, doctor_setup
    from .store.db import create_engine
    from .store.secrets import Secrets
    from .workers.doctor import Doctor
    from .workers.evidence import channel_ids, gather_facts
    from .workers.findings import Report

    settings = _settings()
    keys = Secrets(settings.secret_keys)

    async def run() -> list[Report]:
        now = time.time()
        engine = create_engine(settings.database_url)
        try:
            # Only reads, and over before Meta is asked: a running serve is not held up.
            async with engine.begin() as conn:
                found = [
                    await gather_facts(conn, keys, i, now)
                    for i in await channel_ids(conn, args.page)
                ]
        finally:
            await engine.dispose()
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT) as http:
            doctor = Doctor(http, doctor_setup(settings))
            return [await doctor.examine(facts, now) for facts in found if facts is not None]

    try:
        reports = asyncio.run(run())
    except SQLAlchemyError as err:
        print(
            f"frontdesk doctor: cannot read the database ({type(err).__name__}); "
            "is it there and migrated (`frontdesk migrate`)?",
            file=sys.stderr,
        )
        return 2
    if args.page is not None and not reports:
        print(f"frontdesk doctor: no Page {args.page} is connected", file=sys.stderr)
        return 2
    if args.json:
        view = {"ok": all(r.ok for r in reports), "pages": [r.view() for r in reports]}
        print(json.dumps(view, indent=2, ensure_ascii=False))
    elif reports:
        print("\n\n".join(report.text() for report in reports))
    else:
        print("No Page is connected yet: nothing to check.")
    if any(not report.ok for report in reports):
        return 1
    return DOCTOR_UNKNOWN if any(report.unknown for report in reports) else 0


def _doctor_command(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check each connected Page's link to Messenger and say how to fix what is broken",
        description="Exit code 0: every check passed; 1: something failed; "
        f"{DOCTOR_UNKNOWN}: nothing failed, but something could not be checked.",
    )
    doctor.add_argument("--page", metavar="PAGE_ID", help="only this Page")
    doctor.add_argument("--json", action="store_true", help="the reports as JSON")
    doctor.set_defaults(run=_doctor)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
