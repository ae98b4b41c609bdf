"""`rose-ash up`: starts the embedded servers and six apps, answers on every port, stops clean.

These start real processes (embedded PostgreSQL and Valkey from the wheels, six Hypercorn
apps) on free ports with a scratch data directory, exactly as a developer would.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from shared.config import APP_NAMES
from shared.tooling.devservers import free_port, free_ports
from shared.tooling.heartbeat import heartbeat_is_fresh
from tests.support import GUARD_S, Up, scratch_dir

pytestmark = pytest.mark.slow


def _server_pids(devdata: Path) -> list[int]:
    """The embedded PostgreSQL postmaster and Valkey daemon (not children of the launcher)."""
    pids = []
    pg = devdata / "postgres" / "postmaster.pid"
    if pg.exists():
        pids.append(int(pg.read_text().splitlines()[0]))
    vk = devdata / "valkey" / "valkey.pid"
    if vk.exists():
        pids.append(int(vk.read_text().strip()))
    return pids


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        if pid <= 0:
            continue
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _outliving(pids: list[int], timeout_s: float = GUARD_S) -> list[int]:
    """Those of ``pids`` still alive: waits until none is, or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while (alive := _alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=GUARD_S) as resp:  # noqa: S310 - loopback test servers
        return int(resp.status)


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=GUARD_S) as resp:  # noqa: S310 - loopback test servers
        return str(resp.read().decode())


@pytest.fixture
def ports() -> dict[str, int]:
    return dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True))


@pytest.fixture
def devdata() -> Iterator[Path]:
    with scratch_dir("rose-ash-test-up-") as scratch:
        path = scratch / "devdata"
        yield path
        _kill_servers(path)


def _kill_servers(path: Path) -> None:
    # Belt and braces: never leave a server behind, even when a test failed half-way.
    for pid in _alive(_server_pids(path)):
        os.kill(pid, signal.SIGKILL)


def test_up_serves_all_six_apps_and_stops_leaving_nothing(
    devdata: Path, ports: dict[str, int]
) -> None:
    up = Up(devdata, ports, "--demo")
    try:
        up.wait_ready()
        for name, port in ports.items():
            assert _get(f"http://127.0.0.1:{port}/") == 200, name
            assert _get(f"http://127.0.0.1:{port}/healthz") == 200, name
            assert _get(f"http://127.0.0.1:{port}/readyz") == 200, name
            assert any(f"http://127.0.0.1:{port}" in line for line in up.lines), "URL printed"
        # Every page shows the header composed from blog, cart and account (signed internal
        # requests between the processes; the second load comes from Redis).
        for port in ports.values():
            html = _text(f"http://127.0.0.1:{port}/")
            assert 'class="site-nav"' in html, html
            assert 'class="cart-count" data-count="0"' in html, html
            assert 'class="sign-in"' in html, html
        # The worker runs beside the apps and keeps its heartbeat fresh.
        assert any(p.cmdline()[-1:] == ["worker"] for p in up.process_tree()[1:])
        assert any(line.split()[:1] == ["worker"] for line in up.lines), "worker named"
        assert heartbeat_is_fresh(devdata / "worker.heartbeat", 60)
        tree = [p.pid for p in up.process_tree()] + _server_pids(devdata)
        assert len(tree) >= 1 + len(APP_NAMES) + 1 + 2
    finally:
        code = up.stop()
    assert code == 0, "\n".join(up.lines[-30:])
    assert _outliving(tree) == [], "processes left behind"
    assert not (devdata / "worker.heartbeat").exists(), "a stopped worker removes its heartbeat"


async def test_the_worker_delivers_for_the_running_apps_and_its_death_leaves_them_serving(
    devdata: Path, ports: dict[str, int]
) -> None:
    """A remote server follows blog through `rose-ash up`: the blog app stores the follower and
    the worker (a child of the launcher, on the same database) delivers the signed Accept. When
    the worker dies it is reported and the apps keep serving."""
    import asyncio
    import json

    from tests.support.activitypub import LoopbackServer, make_actor

    remote = LoopbackServer()
    await remote.start()
    # The remote server is on loopback, which production refuses.
    up = Up(devdata, ports, extra_env={"ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true"})
    try:
        await asyncio.to_thread(up.wait_ready)
        alice = make_actor(remote, "alice")
        blog = f"http://127.0.0.1:{ports['blog']}"
        inbox = f"{blog}/ap/users/blog/inbox"
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{alice.id}/follows/1",
            "type": "Follow",
            "actor": alice.id,
            "object": f"{blog}/ap/users/blog",
        }
        body = json.dumps(follow).encode()
        async with httpx.AsyncClient() as client:
            resp = await client.post(inbox, content=body, headers=alice.sign(inbox, body))
        assert resp.status_code == 202, resp.text
        deadline = time.monotonic() + GUARD_S
        while not remote.posts_to(alice.inbox.removeprefix(remote.base())):
            assert time.monotonic() < deadline, "the worker did not deliver the Accept"
            await asyncio.sleep(0.2)
        [accept] = remote.posts_to(alice.inbox.removeprefix(remote.base()))
        assert json.loads(accept.body)["type"] == "Accept"
        assert json.loads(accept.body)["object"]["id"] == follow["id"]

        worker = next(p for p in up.process_tree()[1:] if p.cmdline()[-1:] == ["worker"])
        worker.kill()
        worker.wait(timeout=GUARD_S)
        deadline = time.monotonic() + GUARD_S
        while not any("worker stopped unexpectedly" in line for line in up.lines):
            assert time.monotonic() < deadline, up.lines[-10:]
            await asyncio.sleep(0.2)
        assert any("worker stopped" in line and "waits in the outbox" in line for line in up.lines)
        for name in APP_NAMES:
            assert _get(f"http://127.0.0.1:{ports[name]}/healthz") == 200, name
        assert up.proc.poll() is None, "the launcher keeps the apps running"
    finally:
        code = await asyncio.to_thread(up.stop)
        await remote.close()
    assert code == 0


def test_one_app_stopping_leaves_the_others_pages_working(
    devdata: Path, ports: dict[str, int]
) -> None:
    up = Up(devdata, ports)
    try:
        up.wait_ready()
        assert 'class="cart-count"' in _text(f"http://127.0.0.1:{ports['blog']}/")
        cart = next(p for p in up.process_tree()[1:] if p.cmdline()[-1:] == ["cart"])
        cart.kill()
        cart.wait(timeout=GUARD_S)
        for name in ("blog", "market", "events", "federation", "account"):
            html = _text(f"http://127.0.0.1:{ports[name]}/")
            assert 'class="site-nav"' in html, name
        deadline = time.monotonic() + GUARD_S
        while not any("cart stopped unexpectedly" in line for line in up.lines):
            assert time.monotonic() < deadline, up.lines[-10:]
            time.sleep(0.2)
        assert up.proc.poll() is None, "the launcher keeps the other apps running"
    finally:
        code = up.stop()
    assert code == 0


def test_up_recovers_after_being_killed_and_keeps_data(
    devdata: Path, ports: dict[str, int]
) -> None:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    first = Up(devdata, ports, "--demo")
    first.wait_ready()
    apps = [p.pid for p in first.process_tree()[1:]]
    servers = _server_pids(devdata)
    first.stop(signal.SIGKILL)  # no chance to clean up
    assert _outliving(apps) == [], "apps must die with their launcher"
    assert _alive(servers) != [], "a killed launcher leaves its database servers running"

    second = Up(devdata, ports)
    try:
        second.wait_ready()
        assert _alive(servers) == [], "the stale servers were stopped"
        assert _get(f"http://127.0.0.1:{ports['blog']}/") == 200

        url = make_url(second.database_url())

        async def count_users() -> int:
            conn = await asyncpg.connect(
                user="postgres", database=url.database, host=str(url.query["host"])
            )
            try:
                return int(await conn.fetchval("SELECT count(*) FROM users"))
            finally:
                await conn.close()

        assert asyncio.run(count_users()) == 3, "demo data kept between runs"
        tree = [p.pid for p in second.process_tree()] + _server_pids(devdata)
    finally:
        code = second.stop(signal.SIGINT)
    assert code == 0, "\n".join(second.lines[-30:])
    assert _outliving(tree) == []


def test_a_second_launcher_on_the_same_data_is_refused(
    devdata: Path, ports: dict[str, int]
) -> None:
    first = Up(devdata, ports)
    try:
        first.wait_ready()
        second = Up(devdata, dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True)))
        second.proc.wait(timeout=GUARD_S)
        assert second.stop() != 0
        assert any("in use by a running launcher" in line for line in second.lines), second.lines
        assert _get(f"http://127.0.0.1:{ports['market']}/healthz") == 200, "first one unharmed"
    finally:
        first.stop()


async def test_done_when_first_admin_from_the_cli_then_sign_on_across_the_running_platform(
    devdata: Path, ports: dict[str, int]
) -> None:
    """Issue 4's "done": with `rose-ash up`, create an admin with the CLI, sign in at blog,
    be recognised by market, cart, events and account after at most one automatic redirect
    each, sign out at account and be signed out everywhere. Six processes, one Redis cache."""
    import asyncio

    from tests.support import Browser, csrf_in, query_of

    up = Up(devdata, ports)
    browser = Browser()
    try:
        await asyncio.to_thread(up.wait_ready)
        # A second terminal: no server URL and no secret of its own.
        env = up.env
        created = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "shared.tooling.cli",
                "user",
                "create",
                "--admin",
                "--email",
                "first@rose-ash.test",
                "--username",
                "first",
                "--display-name",
                "First Admin",
            ],
            env=env,
            input="the first admin's password\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr

        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        fed = url["federation"]
        page = await browser.get(f"{url['blog']}/auth/login?next=/")
        assert str(page.url).startswith(f"{fed}/signin?")
        page = await browser.post(
            f"{fed}/signin",
            {
                "login": "first",
                "password": "the first admin's password",
                "next": query_of(str(page.url))["next"],
                "csrf_token": csrf_in(page.text),
            },
        )
        assert str(page.url) == f"{url['blog']}/"
        assert "First Admin" in page.text

        for name in ("market", "cart", "events", "account"):
            page = await browser.get(f"{url[name]}/")
            assert len(browser.hops_to(fed)) <= 1, (name, browser.hops)
            assert "First Admin" in page.text, name

        # The menu's "Sign out" link: account's confirmation page, then its form.
        assert '<a class="sign-out" href="/auth/logout">Sign out</a>' in page.text
        page = await browser.get(f"{url['account']}/auth/logout")
        resp = await browser.post(
            f"{url['account']}/auth/logout", {"csrf_token": csrf_in(page.text)}
        )
        assert str(resp.url) == f"{url['account']}/"
        for name, base in url.items():
            assert "First Admin" not in (await browser.get(f"{base}/")).text, name
    finally:
        await browser.aclose()
        code = await asyncio.to_thread(up.stop)
    assert code == 0, "\n".join(up.lines[-30:])


def _in_a_second_terminal(
    up: Up, command: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``command`` as a newcomer types it beside `up`: the checkout's settings, no server URL
    and no secret (``rose-ash`` is this interpreter's ``-m shared.tooling.cli``)."""
    argv = shlex.split(command)
    assert argv[0] == "rose-ash", command
    assert not {"DATABASE_URL", "REDIS_URL", "ROSE_SECRET_KEY"} & set(up.env)
    return subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", *argv[1:]],
        env=up.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_banners_commands_work_in_a_second_terminal(
    devdata: Path, ports: dict[str, int]
) -> None:
    """Issue 23, item 14: what `up` suggests works as printed, from another terminal, on the
    platform's own database and Valkey; once `up` has stopped, the commands say what to do."""
    up = Up(devdata, ports, "--demo", extra_env={"ROSE_SCRAPE__DEMO_SITE_PORT": str(free_port())})
    try:
        up.wait_ready()
        record = devdata / "running.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        banner = "\n".join(up.lines)
        admin = re.search(r"in another terminal: (rose-ash user create [^(]*?) \(", banner)
        scrape = re.search(r"`(rose-ash scrape orchard-lane)`", banner)
        assert admin, banner
        assert scrape, banner

        typed = admin.group(1).replace("--email ...", "--email first@rose-ash.test")
        created = _in_a_second_terminal(
            up, typed.replace("--username ...", "--username first"), "a first password\n"
        )
        assert created.returncode == 0, created.stderr
        assert "Created first <first@rose-ash.test> with roles member, admin." in created.stdout
        assert "using the database and Valkey of the `rose-ash up` running here" in created.stderr

        changed = _in_a_second_terminal(
            up, "rose-ash user set-password first", "a second password\n"
        )
        assert changed.returncode == 0, changed.stderr
        assert "Password set for first." in changed.stdout

        scraped = _in_a_second_terminal(up, scrape.group(1))
        assert scraped.returncode == 0, scraped.stderr
        assert re.search(r"[1-9]\d* created", scraped.stdout), scraped.stdout

        # Ghost is not configured here: the command gets as far as saying so.
        synced = _in_a_second_terminal(up, "rose-ash ghost-sync")
        assert "DATABASE_URL" not in synced.stderr
        assert "ghost" in synced.stderr.lower(), synced.stderr
    finally:
        code = up.stop()
    assert code == 0, "\n".join(up.lines[-30:])
    assert not (devdata / "running.json").exists()
    after = _in_a_second_terminal(up, "rose-ash user set-password first", "x\n")
    assert after.returncode == 2
    assert "DATABASE_URL is not set" in after.stderr
    assert "run `rose-ash up` in another terminal" in after.stderr
