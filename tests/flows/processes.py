"""`frontdesk serve` and `frontdesk worker` as child processes for the crash tests, and how
long to wait for them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STARTUP_SECONDS = 60.0
"""Bound on waiting for a server to answer, so that a broken build fails instead of hanging."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Frontdesk:
    """The two commands as child processes; `kill` is SIGKILL, nothing gets to clean up."""

    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    server: asyncio.subprocess.Process | None = None
    worker: asyncio.subprocess.Process | None = None
    started: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _spawn(self, *args: str) -> asyncio.subprocess.Process:
        self.started += 1
        log = self.logs / f"{self.started:02d}-{args[0]}.log"
        with log.open("wb") as out:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "frontdesk.cli", *args, env=self.env, stdout=out, stderr=out
            )

    async def start_server(self, http: httpx.AsyncClient) -> None:
        self.server = await self._spawn("serve", "--port", str(self.port))
        async with asyncio.timeout(STARTUP_SECONDS):
            while True:
                if self.server.returncode is not None:
                    raise AssertionError(f"frontdesk serve exited:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)

    async def start_worker(self) -> None:
        self.worker = await self._spawn("worker")

    @staticmethod
    async def kill(process: asyncio.subprocess.Process | None) -> None:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def stop(self) -> None:
        await self.kill(self.server)
        await self.kill(self.worker)

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in sorted(self.logs.glob("*.log"))
        )
