"""Open-loop load: POST signed webhooks at a fixed rate over keep-alive connections.

Run as its own process (run.py pins it to a core the server does not use). Latency counts from
the moment a request was due, not from when it went out, so a server that stalls cannot hide it
by slowing the generator down (coordinated omission). Writes one JSON document to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path
from urllib.parse import urlsplit

import webhooks


class Connections:
    """Keep-alive HTTP/1.1 connections: reuse an idle one, open another while under the cap."""

    def __init__(self, host: str, port: int, cap: int) -> None:
        self.host, self.port, self.cap = host, port, cap
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            if self.idle:
                return self.idle.pop()
            if self.opened < self.cap:
                self.opened += 1
                try:
                    return await asyncio.open_connection(self.host, self.port)
                except OSError:
                    self.opened -= 1
                    raise
            async with self.freed:
                await self.freed.wait()

    async def give(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is None:
            self.opened -= 1
        else:
            self.idle.append(conn)
        async with self.freed:
            self.freed.notify()


async def exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, bool]:
    """Send one request, read one response: (status, the server keeps the connection)."""
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    keep = True
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line[15:])
        elif line.startswith(b"connection:") and b"close" in line:
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def main(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    total = int(args.rate * args.duration)
    requests = []
    for n in range(total):
        body = webhooks.body(args.run, n)
        requests.append(
            (
                f"POST {url.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\n"
                f"X-Hub-Signature-256: {webhooks.signature(body)}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    pool = Connections(host, port, args.max_connections)
    results: list[list[object]] = [[] for _ in range(total)]
    errors: dict[str, int] = {}
    """Requests without an answer (status 0), by what went wrong."""

    async def one(n: int, due: float) -> None:
        conn = None
        status = 0
        try:
            async with asyncio.timeout(args.timeout):
                conn = await pool.take()
                status, keep = await exchange(conn, requests[n])
                if not keep:
                    conn[1].close()
                    conn = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as err:
            errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
            if conn is not None:
                conn[1].close()
                conn = None
        done = time.perf_counter()
        # mid, status, latency from due time (s), wall-clock time of the answer (for the lag)
        results[n] = [webhooks.mid(args.run, n), status, done - due, time.time()]
        await pool.give(conn)

    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for n in range(total):
        due = start + n / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending = time.perf_counter() - start
    while tasks:
        await asyncio.gather(*tasks)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "offered_rate": total / sending if sending > 0 else 0.0,
        "connections": pool.opened,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "errors": errors,
        "results": results,
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--run", required=True, help="prefix of every mid, unique per run")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


if __name__ == "__main__":
    options = arguments()
    options.out.write_text(json.dumps(asyncio.run(main(options))))
