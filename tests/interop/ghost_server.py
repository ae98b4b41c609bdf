"""A real Ghost 5 for the interop test: installed from the npm registry, run on loopback
with SQLite, set up and filled through its own APIs.

**Installing** (:func:`install_ghost`): the ``ghost`` package of :data:`GHOST_VERSION` is
unpacked into ``~/.cache/rose-ash/ghost-<version>`` (``$XDG_CACHE_HOME`` is honoured),
outside the clone, and its production dependencies installed with npm. Ghost's
``package.json`` is its monorepo's: its development dependencies (some only on GitHub, which
is not reachable everywhere) are dropped and its yarn ``resolutions`` become npm
``overrides`` first. Native modules (sqlite3, re2) are built from source when no prebuilt
binary can be downloaded, against Node's own headers (``/usr/include/node``). That takes
minutes, once: a finished install is marked and reused by every later run; an interrupted
one is started again. A lock keeps two processes from installing at once.

**Running** (:func:`start_ghost`): ``node index.js`` from the install, configured through
Ghost's environment variables (nconf, ``__`` between levels): its URL on a free loopback
port, SQLite and the content folder in a temporary directory, mail stubbed, no outbound
requests (``privacy.useTinfoil``), no staff device verification. The owner is created with
``POST authentication/setup/``, a staff session signs in, and an integration is created
whose Content and Admin API keys the test uses (:class:`RealGhost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.services.blog.ghost import admin_token, parse_admin_key
from tests.support import closed_port

GHOST_VERSION = "5.130.6"
INSTALLED_MARK = ".rose-ash-installed"
NPM_INSTALL_TIMEOUT_S = 3600
BOOT_TIMEOUT_S = 180
OWNER_EMAIL = "owner@ghost.rose-ash.test"
# Ghost refuses passwords it finds guessable (a word such as "password" in it, say).
OWNER_PASSWORD = secrets.token_urlsafe(18)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rose-ash"


def _npm_env() -> dict[str, str]:
    env = dict(os.environ)
    if Path("/usr/include/node/node.h").is_file():
        env.setdefault("npm_config_nodedir", "/usr")  # headers for native builds, no download
    return env


def _run(args: list[str], cwd: Path, timeout: float) -> None:
    result = subprocess.run(
        args, cwd=cwd, env=_npm_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )


def _production_package(path: Path) -> None:
    """Ghost's package.json with only what running it needs (see the module's docstring)."""
    package = json.loads(path.read_text())
    package.pop("devDependencies", None)
    package["scripts"] = {}
    resolutions = package.pop("resolutions", {})
    package["overrides"] = {k: v for k, v in resolutions.items() if not v.startswith("file:")}
    path.write_text(json.dumps(package, indent=2))


def install_ghost(version: str = GHOST_VERSION) -> Path:
    """The folder of an installed Ghost ``version`` (installing it the first time)."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        raise RuntimeError("the Ghost interop test needs Node.js 20 and npm")
    root = cache_dir()
    target = root / f"ghost-{version}"
    if (target / INSTALLED_MARK).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"ghost-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / INSTALLED_MARK).is_file():
            return target
        work = root / f"ghost-{version}.download"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        work.mkdir()
        _run([npm, "pack", f"ghost@{version}", "--loglevel=error"], work, 600)
        with tarfile.open(work / f"ghost-{version}.tgz") as tar:
            tar.extractall(work, filter="data")
        (work / "package").rename(target)
        shutil.rmtree(work)
        _production_package(target / "package.json")
        (target / "yarn.lock").unlink(missing_ok=True)
        _run(
            [npm, "install", "--omit=dev", "--legacy-peer-deps", "--no-audit", "--no-fund",
             "--loglevel=error"],
            target,
            NPM_INSTALL_TIMEOUT_S,
        )  # fmt: skip
        (target / INSTALLED_MARK).write_text(version)
    return target


@dataclass
class RealGhost:
    """A running Ghost: its URL, the integration's keys, the owner's id."""

    url: str
    content_key: str
    admin_key: str
    owner_id: str
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)
    # The owner's staff session (what Ghost's admin screens use; integrations may not list
    # webhooks, staff may).
    staff_cookies: dict[str, str] = field(default_factory=dict)

    def staff(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url + "/ghost/api/admin",
            headers={"Origin": self.url, "Accept-Version": "v5.0"},
            cookies=self.staff_cookies,
            timeout=30,
        )

    async def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the Rose Ash integration, as Ghost's staff screens list them."""
        async with self.staff() as staff:
            response = await staff.get("/integrations/", params={"include": "webhooks"})
        response.raise_for_status()
        ours = [i for i in response.json()["integrations"] if i["name"] == "Rose Ash"]
        hooks: list[dict[str, Any]] = ours[0]["webhooks"]
        return hooks

    def admin(self) -> httpx.AsyncClient:
        """An Admin API client authenticated as the integration (a fresh token per request)."""
        key_id, secret = parse_admin_key(self.admin_key)

        async def sign(request: httpx.Request) -> None:
            request.headers["Authorization"] = f"Ghost {admin_token(key_id, secret)}"

        return httpx.AsyncClient(
            base_url=self.url + "/ghost/api/admin",
            headers={"Accept-Version": "v5.0"},
            event_hooks={"request": [sign]},
            timeout=30,
        )

    async def content(self, resource: str, **params: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(
                f"{self.url}/ghost/api/content/{resource}/",
                params={"key": self.content_key, **params},
            )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


async def _wait_until_up(url: str, proc: asyncio.subprocess.Process, output: list[str]) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        async with asyncio.timeout(BOOT_TIMEOUT_S):
            while True:
                if proc.returncode is not None:
                    raise RuntimeError("Ghost exited:\n" + "\n".join(output[-60:]))
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url + "/ghost/api/admin/site/")).status_code == 200:
                        return
                await asyncio.sleep(0.25)


async def set_up(url: str) -> tuple[str, str, str, dict[str, str]]:
    """Owner, staff session, integration: (Content API key, Admin API key, owner's id, the
    staff session's cookies)."""
    headers = {"Origin": url, "Accept-Version": "v5.0"}
    async with httpx.AsyncClient(
        base_url=url + "/ghost/api/admin", headers=headers, timeout=60
    ) as staff:
        setup = await staff.post(
            "/authentication/setup/",
            json={
                "setup": [
                    {
                        "name": "Site Owner",
                        "email": OWNER_EMAIL,
                        "password": OWNER_PASSWORD,
                        "blogTitle": "Rose Ash on Ghost",
                    }
                ]
            },
        )
        assert setup.status_code == 201, setup.text
        owner_id = str(setup.json()["users"][0]["id"])
        session = await staff.post(
            "/session/", json={"username": OWNER_EMAIL, "password": OWNER_PASSWORD}
        )
        assert session.status_code == 201, session.text
        made = await staff.post(
            "/integrations/",
            params={"include": "api_keys,webhooks"},
            json={"integrations": [{"name": "Rose Ash"}]},
        )
        assert made.status_code == 201, made.text
        cookies = dict(staff.cookies.items())
    # Ghost shows the Admin API key whole as its "secret": "<id>:<secret>".
    keys = {k["type"]: k["secret"] for k in made.json()["integrations"][0]["api_keys"]}
    return keys["content"], keys["admin"], owner_id, cookies


def ghost_environment(
    install: Path, workdir: Path, port: int, node_env: str = "development"
) -> dict[str, str]:
    """The environment Ghost from ``install`` runs in on ``port``, with its data (SQLite, a
    copy of the content folder) under ``workdir``; ``node_env`` "production" for what a site
    serves (the benchmark's reference row)."""
    content = workdir / "content"
    shutil.copytree(install / "content", content, dirs_exist_ok=True)
    return {
        **os.environ,
        "NODE_ENV": node_env,
        "url": f"http://127.0.0.1:{port}",
        "server__host": "127.0.0.1",
        "server__port": str(port),
        "database__client": "sqlite3",
        "database__connection__filename": str(workdir / "ghost.db"),
        "database__useNullAsDefault": "true",
        "paths__contentPath": str(content),
        "mail__transport": "stub",
        "privacy__useTinfoil": "true",
        "security__staffDeviceVerification": "false",
        "logging__level": "warn",
        "logging__transports": '["stdout"]',
    }


@contextlib.asynccontextmanager
async def start_ghost(install: Path, workdir: Path) -> AsyncIterator[RealGhost]:
    """Ghost from ``install`` with its data under ``workdir``, set up, until the block ends."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    env = ghost_environment(install, workdir, port)
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        "index.js",
        cwd=install,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            output.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())
    try:
        await _wait_until_up(url, proc, output)
        content_key, admin_key, owner_id, cookies = await set_up(url)
        yield RealGhost(url, content_key, admin_key, owner_id, proc, output, cookies)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await reader
