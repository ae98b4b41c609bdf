"""Load generators: wrk (Debian) when installed, else a small asyncio HTTP/1.1 client.

Both hold ``connections`` keep-alive connections open for ``duration`` seconds against
one loopback URL and report requests/s, p50 and p99 latency (ms) and errors (non-2xx or
failed requests).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, duration: float, connections: int, headers: dict[str, str]) -> Sample:
    cmd = ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{duration:.0f}s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return Sample(rps, p50, p99, total, errors, "wrk")


async def _python_load(
    url: str, duration: float, connections: int, headers: dict[str, str]
) -> Sample:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n").encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - start) * 1000)
                if not status_line.split(b" ")[1].startswith((b"2", b"3")):
                    errors += 1
        except (OSError, asyncio.IncompleteReadError, IndexError):
            errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Sample(len(latencies) / elapsed, q[49], q[98], len(latencies), errors, "python")


def run_load(
    url: str, duration: float, connections: int, headers: dict[str, str] | None = None
) -> Sample:
    headers = headers or {}
    if shutil.which("wrk"):
        return run_wrk(url, duration, connections, headers)
    return asyncio.run(_python_load(url, duration, connections, headers))
