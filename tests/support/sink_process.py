"""Loopback inbox sinks in a process of their own, so a load test measures the worker alone.

    python -m tests.support.sink_process COUNT

prints one JSON line with the ports it listens on, then obeys commands on stdin, one per line:
``stop PORT`` (close one sink: that host is down), ``dump FILE`` (write what was received as
JSON lines, then answer ``ok``), ``quit``. :class:`Sinks` starts and drives it (the delivery
load test and the benchmark's fan-out use it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

from tests.support import GUARD_S
from tests.support.activitypub import LoopbackServer, Received


class Sinks:
    """``tests.support.sink_process`` driven over its stdin."""

    def __init__(self, proc: asyncio.subprocess.Process, ports: list[int]) -> None:
        self.proc = proc
        self.ports = ports

    @classmethod
    async def start(cls, count: int) -> Sinks:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.sink_process",
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), GUARD_S)
        return cls(proc, json.loads(line)["ports"])

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()
        assert (await asyncio.wait_for(self.proc.stdout.readline(), GUARD_S)).strip() == b"ok"

    async def received(self, folder: Path) -> list[Received]:
        dump = folder / "received.jsonl"
        await self.command(f"dump {dump}")
        rows = [json.loads(line) for line in dump.read_text().splitlines()]
        return [
            Received(r["port"], "POST", r["path"], r["headers"], base64.b64decode(r["body"]))
            for r in rows
        ]

    async def close(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
            await asyncio.wait_for(self.proc.wait(), GUARD_S)


async def main(count: int) -> None:
    server = LoopbackServer()
    ports = await server.start(count)
    print(json.dumps({"ports": ports}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        command, _, arg = line.partition(" ")
        if command == "stop":
            await server.stop_port(int(arg))
        elif command == "dump":
            rows = [
                {
                    "port": r.port,
                    "path": r.path,
                    "headers": r.headers,
                    "body": base64.b64encode(r.body).decode(),
                }
                for r in server.received
            ]
            text = "".join(json.dumps(row) + "\n" for row in rows)
            await asyncio.to_thread(Path(arg).write_text, text, encoding="utf-8")
        elif command == "quit":
            break
        print("ok", flush=True)
    await server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
