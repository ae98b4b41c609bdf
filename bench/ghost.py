"""Ghost 5 as the benchmark's reference row: the Ghost install the interop tests use
(``tests.interop.ghost_server``: npm's ``ghost`` package in ``~/.cache/rose-ash``), run in
production mode on loopback with SQLite, set up through its own API and given posts like the
blog's demo (title, a few paragraphs, a tag), measured in the same run as everything else.
Without Node.js and npm the rows are reported as not measured, with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.services.blog.ghost import admin_token, parse_admin_key
from shared.tooling.devservers import free_ports
from tests.interop.ghost_server import (
    BOOT_TIMEOUT_S,
    GHOST_VERSION,
    ghost_environment,
    install_ghost,
    set_up,
)

PARAGRAPH = (
    "<p>Members of the cooperative met on Saturday to plan the season: the bakery's new "
    "oven, the market's suppliers from the hills, the repair café's tools and the soup "
    "kitchen's rota. Everyone brought something to share, and the minutes are below.</p>"
)


@dataclass(frozen=True)
class GhostSite:
    url: str
    post_path: str  # a post's page, e.g. "/some-post/"
    version: str
    posts: int


def unavailable() -> str | None:
    """Why Ghost cannot be measured here (None: it can)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed"
    return None


async def _seed(url: str, posts: int) -> str:
    """Set Ghost up (owner, integration) and publish ``posts`` posts; the newest's path."""
    _content_key, admin_key, _owner, _cookies = await set_up(url)
    key_id, secret = parse_admin_key(admin_key)
    slugs: list[str] = []
    limit = asyncio.Semaphore(4)
    async with httpx.AsyncClient(
        base_url=url + "/ghost/api/admin", headers={"Accept-Version": "v5.0"}, timeout=60
    ) as admin:

        async def publish(n: int) -> None:
            body = {
                "posts": [
                    {
                        "title": f"Notes from the cooperative, number {n}",
                        "html": PARAGRAPH * (4 + n % 5),
                        "status": "published",
                        "tags": [{"name": ("News", "Bakery", "Market", "Events")[n % 4]}],
                    }
                ]
            }
            async with limit:
                made = await admin.post(
                    "/posts/",
                    params={"source": "html"},
                    json=body,
                    headers={"Authorization": f"Ghost {admin_token(key_id, secret)}"},
                )
            made.raise_for_status()
            slugs.append(made.json()["posts"][0]["slug"])

        await asyncio.gather(*(publish(n) for n in range(posts)))
    return f"/{slugs[-1]}/"


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("Ghost exited:\n" + log.read_text(errors="replace")[-4000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/ghost/api/admin/site/", timeout=5).status_code == 200:
                return
        time.sleep(0.25)  # polling a starting server, not waiting a fixed time for a result
    raise RuntimeError(f"Ghost did not answer within {BOOT_TIMEOUT_S} s")


@contextlib.contextmanager
def running_ghost(scratch: Path, posts: int = 100) -> Iterator[GhostSite]:
    """Ghost in production mode with ``posts`` published posts, until the block ends."""
    install = install_ghost()
    (port,) = free_ports(1)
    workdir = scratch / "ghost"
    workdir.mkdir(parents=True, exist_ok=True)
    env = ghost_environment(install, workdir, port, node_env="production")
    log = workdir / "ghost.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - Node running the installed Ghost
            [shutil.which("node") or "node", "index.js"],
            cwd=install,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, log)
        post_path = asyncio.run(_seed(url, posts))
        yield GhostSite(url, post_path, GHOST_VERSION, posts)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
