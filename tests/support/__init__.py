"""Small helpers shared by the tests: free ports, a `rose-ash up` process, SMTP servers on
loopback, a browser-like HTTP client, reading forms and emails, counting SQL statements.

Beside them in this package: ``settings`` (the tests' settings and secrets), ``live`` (apps
served for real in the test process), ``composition`` (reading composed pages), ``activitypub``
(stand-ins for other fediverse servers), ``sink_process`` (inbox sinks in a process of their
own) and ``committed`` (for tests whose work really commits). Each domain's small factories are
in ``tests/<domain>/factories.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import functools
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import psutil
from aiosmtpd.smtp import SMTP
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# The longest a test waits for a condition (a server up, a message in, a process gone). It only
# stops a test that would otherwise hang, so it is far beyond what a loaded machine takes, and
# it measures nothing: tests assert what happened, not how quickly.
GUARD_S = 120.0


async def eventually(check: Callable[[], object], what: str, every_s: float = 0.05) -> None:
    """Wait until ``check()`` (a value, or an awaitable of one) is truthy; fail naming
    ``what`` if it is not within :data:`GUARD_S`."""
    deadline = time.monotonic() + GUARD_S
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {GUARD_S:.0f} s")
        await asyncio.sleep(every_s)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A scratch directory outside pytest's temporary root, removed afterwards. Run as root,
    the embedded PostgreSQL runs as another user, which must traverse the path to its data;
    every pytest run that starts makes that root (/tmp/pytest-of-<user>) private again, which
    cut another run's server off its own files mid-run."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def closed_port() -> int:
    """A loopback port that nothing listens on now (bound, then released), for a server the
    test is about to start there. Where nothing must ever answer, use :func:`refusing_port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _refusing_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def refusing_port() -> int:
    """A loopback port that refuses every connection for the whole test run: bound by this
    process and never listened on, so no other process can take it meanwhile (a released
    port, as :func:`closed_port` gives, can be taken by a server of a run beside this one)."""
    return int(_refusing_socket().getsockname()[1])


READY_LINE = "Rose Ash is running"


class Up:
    """One `rose-ash up` process and what it printed."""

    def __init__(
        self,
        devdata: Path,
        ports: dict[str, int],
        *args: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ROSE_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(extra_env or {})
        env["ROSE_DEVDATA_DIR"] = str(devdata)
        # The apps' own time limits ample, as in tests/support/settings.py: a loaded machine
        # makes a healthy app slow, not absent from the header.
        env.setdefault("ROSE_FRAGMENTS__TIMEOUT_S", "10")
        env.setdefault("ROSE_REDIS__TIMEOUT_S", "10")
        env.setdefault("ROSE_DATABASE__CONNECT_TIMEOUT_S", "30")
        # The demo supplier site of `up --demo` on a free port, not the dev default.
        env.setdefault("ROSE_SCRAPE__DEMO_SITE_PORT", str(closed_port()))
        # The SumUp stand-in `up` serves gets a free port too (never the dev default).
        env["ROSE_SUMUP__STANDIN_PORT"] = str(closed_port())
        for name, port in ports.items():
            prefix = f"ROSE_APPS__{name.upper()}__"
            env[prefix + "PORT"] = str(port)
            env[prefix + "PUBLIC_URL"] = f"http://127.0.0.1:{port}"
            env[prefix + "INTERNAL_URL"] = f"http://127.0.0.1:{port}"
        # The checkout's settings as `up` got them (no server URL, no secret): a command run
        # beside it "in another terminal of the same checkout" gets these too.
        self.env = env
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.tooling.cli", "up", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the launcher, wait for it, and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(READY_LINE in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("rose-ash up did not come up:\n" + "\n".join(self.lines[-40:]))

    def database_url(self) -> str:
        for line in self.lines:
            m = re.search(r"PostgreSQL \(embedded\) at (\S+)", line)
            if m:
                return m.group(1)
        raise AssertionError("no embedded PostgreSQL line")

    def process_tree(self) -> list[psutil.Process]:
        return [
            psutil.Process(self.proc.pid),
            *psutil.Process(self.proc.pid).children(recursive=True),
        ]


# --- single sign-on test helpers ----------------------------------------------------------


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class SmtpSink:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._arrived = asyncio.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        async with self._arrived:
            self.messages.append(msg)
            self._arrived.notify_all()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting (at most GUARD_S) for it."""
        try:
            async with asyncio.timeout(GUARD_S), self._arrived:
                await self._arrived.wait_for(lambda: len(self.to(address)) >= count)
        except TimeoutError:
            raise AssertionError(f"no email #{count} to {address}: {self.messages!r}") from None
        return self.to(address)[count - 1]


@contextlib.asynccontextmanager
async def smtp_sink_server() -> AsyncIterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""
    sink = SmtpSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp.rose-ash.test"), "127.0.0.1", 0
    )
    sink.port = int(server.sockets[0].getsockname()[1])
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


# --- an SMTP server that answers as the test says (the newsletter tests) -------------------


class ListServer(SmtpSink):
    """An SMTP sink whose answers a test chooses: ``refuse`` maps a recipient to the reply
    to RCPT TO (``550 ...`` a bounce, ``451 ...`` a temporary failure); ``refuse_data`` maps
    a recipient to the reply to the message's DATA (a relay refusing the message itself,
    ``554 ...``); ``hold_from`` makes
    the N-th message (counting from 1) and later ones wait before the final reply, and never
    be kept (as when the sender dies before the server accepted it)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, str] = {}
        self.refuse_data: dict[str, str] = {}
        self.hold_from: int | None = None
        self.held = 0
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.seen = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen += 1
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        if self.hold_from is not None and self.seen >= self.hold_from:
            self.held += 1
            self.holding.set()
            await self.release.wait()
            return "451 4.3.0 the sender went away"
        return await super().handle_DATA(server, session, envelope)

    def count(self, address: str) -> int:
        return len(self.to(address))


@contextlib.asynccontextmanager
async def list_server() -> AsyncIterator[ListServer]:
    """A :class:`ListServer` on a free loopback port."""
    sink = ListServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp.rose-ash.test"), "127.0.0.1", 0
    )
    sink.port = int(server.sockets[0].getsockname()[1])
    try:
        yield sink
    finally:
        sink.release.set()
        server.close()
        await server.wait_closed()


def link_in(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"https?://\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def errors_beside_fields(html: str) -> dict[str, str]:
    """Each field's error as ``_forms.html`` shows it beside the field (``data-field``), having
    checked that its input points at it and that the summary at the top links to the input."""
    found = dict(
        re.findall(r'<span class="field-error" id="e-([\w-]+)" data-field="[\w-]+">([^<]*)<', html)
    )
    for name in found:
        assert f'href="#f-{name}"' in html, f"the summary links to no {name}"
        assert f'aria-describedby="e-{name}"' in html, f"no input of {name} points at its error"
    return found


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """A cookie-keeping HTTP client that follows redirects one hop at a time, like a browser
    navigating top-level pages (it sends an HTML Accept header)."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(
            headers={"Accept": BROWSER_ACCEPT, "User-Agent": "RoseAshTestBrowser/1"},
            follow_redirects=False,
            timeout=GUARD_S,
        )
        self.hops: list[str] = []

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _follow(self, resp: httpx.Response, follow: bool) -> httpx.Response:
        while follow and resp.status_code in (301, 302, 303, 307, 308):
            url = urljoin(str(resp.url), resp.headers["location"])
            self.hops.append(url)
            resp = await self.http.get(url)
        return resp

    async def get(self, url: str, *, follow: bool = True, **kw: Any) -> httpx.Response:
        self.hops = [url]
        return await self._follow(await self.http.get(url, **kw), follow)

    async def post(
        self, url: str, data: dict[str, str], *, follow: bool = True, **kw: Any
    ) -> httpx.Response:
        self.hops = [url]
        return await self._follow(await self.http.post(url, data=data, **kw), follow)

    def hops_to(self, base_url: str) -> list[str]:
        return [h for h in self.hops if h.startswith(base_url + "/")]


@contextlib.contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block (the test's own savepoints aside:
    each request runs inside the test's transaction), for "no N+1" tests."""
    statements: list[str] = []

    def record(*args: object) -> None:
        sql = str(args[2])
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            statements.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """``rose-ash <args>`` as a process of its own, with ``env`` over this environment minus
    its ``ROSE_*`` settings; returns the exit code, stdout and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.tooling.cli",
        *args,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def commands_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """The Redis commands called between two ``INFO commandstats`` readings, with how often
    (the reading's own INFO left out)."""
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {}).get("calls", 0)
        for name, stats in after.items()
        if name != "cmdstat_info"
    }
    return {command: n for command, n in calls.items() if n}
