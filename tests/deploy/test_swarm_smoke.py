"""The real thing: every image built, the whole stack on a single-node Swarm of this machine's
Docker (`./deploy.sh --local`), and the site used through Caddy as a visitor would.

It needs a Docker engine it may drive as root (started here when it is not running) and takes
minutes, so it runs when asked: ROSE_SWARM_SMOKE=1 (README, "Deployment"). .ci/run asks for it
whenever the deployment files differ from those of the last passing run, whose digest is
recorded in tests/deploy/swarm-smoke.sha256 (this test writes it when everything passed; commit
it with the change).
What it checks, in order: every app's home answers; a member signs in once
and is signed in on every app; an image uploaded at federation and one at blog are served back;
a rolling update to a new tag completes with no failed request while a bounded load loop runs;
a killed container is replaced; the member erases their account (at account, which mounts no
media volume) and the worker erases their social hub images from federation's volume, while
the blog post's feature image stays (the post is the cooperative's, decision 0112).
Then the stack and whatever the run created (volumes, secrets, images, the Swarm itself if it
made one, the engine if it started it) are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import pytest

from shared.config import APP_NAMES, REPO_ROOT
from shared.tooling.devservers import free_ports
from tests.deploy import STACK_SECRETS
from tests.identity.factories import sign_in_at
from tests.support import BROWSER_ACCEPT, GUARD_S, Browser, csrf_in

pytestmark = pytest.mark.skipif(
    os.environ.get("ROSE_SWARM_SMOKE") != "1",
    reason="the Swarm smoke test runs when asked: ROSE_SWARM_SMOKE=1 (.ci/run asks once a "
    "passing run is recorded, when the deployment files changed since)",
)

STACK = "rose-ash-smoke"
DOMAIN = "rose-ash.com"
# Long guards for the slow steps (building every image, a rolling update); never a measure.
DEPLOY_GUARD_S = 3600
MEMBER = "smoke_member"
PASSWORD = "correct horse battery staple"
# The files a deployment is made of: a change makes .ci/run run this test.
DEPLOYMENT_FILES = (
    "*/Dockerfile",
    "docker-compose.yml",
    "deploy.sh",
    "docker/",
    "Caddyfile",
    "requirements.lock",
    ".dockerignore",
    "deploy/prometheus/",
)
DIGEST_FILE = REPO_ROOT / "tests" / "deploy" / "swarm-smoke.sha256"


def deployment_digest() -> str:
    """sha256 of the deployment files as git stages them (.ci/run computes the same)."""
    listing = subprocess.run(
        ["git", "ls-files", "-s", "--", *DEPLOYMENT_FILES],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return hashlib.sha256(listing.encode()).hexdigest()


def docker(*args: str, timeout: float = GUARD_S, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def wait_for(what: str, condition: Any, guard_s: float = GUARD_S) -> Any:
    """Poll condition() until it returns something truthy; fail saying what after guard_s."""
    deadline = time.monotonic() + guard_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(1)


# --- a client that reaches *.rose-ash.com through the stack's Caddy ------------------------------


class _ToCaddy(httpcore.AsyncNetworkBackend):
    """Every connection goes to Caddy's published port on this machine; TLS still names the
    host asked for (SNI), so Caddy serves that site, and URLs stay the production ones."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, **kw: Any) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_tcp("127.0.0.1", self.port, **kw)

    async def connect_unix_socket(self, path: str, **kw: Any) -> httpcore.AsyncNetworkStream:
        raise OSError("no unix sockets here")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _SyncToCaddy(httpcore.NetworkBackend):
    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, **kw: Any) -> httpcore.NetworkStream:
        return self.inner.connect_tcp("127.0.0.1", self.port, **kw)

    def connect_unix_socket(self, path: str, **kw: Any) -> httpcore.NetworkStream:
        raise OSError("no unix sockets here")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def url(app: str, path: str = "/") -> str:
    return f"https://{app}.{DOMAIN}{path}"


@dataclass
class Site:
    port: int
    tls: ssl.SSLContext
    tag: str
    created_secrets: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)

    def browser(self) -> Browser:
        transport = httpx.AsyncHTTPTransport(verify=self.tls)
        transport._pool = httpcore.AsyncConnectionPool(  # the one way to choose the address
            ssl_context=self.tls, network_backend=_ToCaddy(self.port)
        )
        browser = Browser()
        browser.http = httpx.AsyncClient(
            transport=transport,
            headers={"Accept": BROWSER_ACCEPT, "User-Agent": "RoseAshSmoke/1"},
            follow_redirects=False,
            timeout=GUARD_S,
        )
        return browser

    def client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(verify=self.tls)
        transport._pool = httpcore.ConnectionPool(
            ssl_context=self.tls, network_backend=_SyncToCaddy(self.port)
        )
        return httpx.Client(transport=transport, timeout=GUARD_S)


def running_containers(service: str) -> list[str]:
    out = docker("ps", "-q", "--filter", f"name={STACK}_{service}.", "--filter", "status=running")
    return out.split()


def in_stack(service: str, *command: str) -> str:
    """A command in one of the service's containers, with its secrets loaded as at start."""
    container = wait_for(f"a running {service}", lambda: running_containers(service))[0]
    return docker("exec", container, "/app/docker/entrypoint.sh", *command)


def tasks_running(service: str) -> list[str]:
    out = docker(
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
        f"{STACK}_{service}",
    )
    return [line for line in out.splitlines() if line.startswith("Running")]


@contextlib.contextmanager
def engine() -> Iterator[None]:
    """This machine's Docker engine, started (and afterwards stopped) when it is not running."""
    assert shutil.which("docker"), "the docker CLI is missing (apt-get install docker.io)"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        yield
        return
    dockerd = shutil.which("dockerd")
    assert dockerd, "no Docker engine runs and dockerd is missing (apt-get install docker.io)"
    log = open(REPO_ROOT / ".devdata" / "swarm-smoke-dockerd.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(
            "dockerd to answer",
            lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
        )
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD_S)
        log.close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    (REPO_ROOT / ".devdata").mkdir(exist_ok=True)
    with engine():
        swarm_before = docker("info", "--format", "{{.Swarm.LocalNodeState}}")
        secrets_before = (
            set(docker("secret", "ls", "--format", "{{.Name}}").split())
            if (swarm_before == "active")
            else set()
        )
        http_port, https_port = free_ports(2)
        env = {
            **os.environ,
            "STACK": STACK,
            "ROSE_HTTP_PORT": str(http_port),
            "ROSE_HTTPS_PORT": str(https_port),
        }
        result = subprocess.run(
            [str(REPO_ROOT / "deploy.sh"), "--local"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEPLOY_GUARD_S,
            check=False,
        )
        tag = next((m.group(1) for m in re.finditer(r"runs at (\S+):", result.stdout)), "")
        try:
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
            caddy = wait_for("Caddy", lambda: running_containers("caddy"))[0]
            root = wait_for(
                "Caddy's local CA",
                lambda: docker(
                    "exec",
                    caddy,
                    "cat",
                    "/data/caddy/pki/authorities/local/root.crt",
                    check=False,
                ),
            )
            site = Site(https_port, ssl.create_default_context(cadata=root), tag)
            # What `deploy.sh --local` created that outlives the stack: removed at the end.
            site.created_secrets = [s for s in STACK_SECRETS if s not in secrets_before]
            yield site
        finally:
            docker("stack", "rm", STACK, check=False)
            wait_for(
                "the stack's containers to go",
                lambda: (
                    not docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}")
                ),
            )
            wait_for(
                "the stack's networks to go",
                lambda: (
                    not docker(
                        "network",
                        "ls",
                        "-q",
                        "--filter",
                        f"label=com.docker.stack.namespace={STACK}",
                    )
                ),
            )
            volumes = docker(
                "volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"
            ).split()
            if volumes:
                docker("volume", "rm", *volumes)
            for secret in STACK_SECRETS:
                if secret not in secrets_before:
                    docker("secret", "rm", secret, check=False)
            for image in docker(
                "images", "--format", "{{.Repository}}:{{.Tag}}", "rose-ash.local/*"
            ).split():
                if tag and image.split(":", 1)[1].startswith(tag):
                    docker("rmi", image, check=False)
            if swarm_before != "active":
                docker("swarm", "leave", "--force", check=False)


# --- the site, as visitors use it --------------------------------------------------------------


async def test_every_app_answers_through_caddy(site: Site) -> None:
    browser = site.browser()
    try:
        for app in APP_NAMES:
            page = await browser.get(url(app))
            assert page.status_code == 200, (app, browser.hops, page.text[:500])
            assert page.headers.get("strict-transport-security"), app
        # /internal/* and /metrics never pass the proxy.
        for path in ("/internal/health", "/metrics"):
            resp = await browser.http.get(url("blog", path))
            assert resp.status_code == 404, path
    finally:
        await browser.aclose()


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(out, "JPEG")
    return out.getvalue()


MEDIA = re.compile(r"(?:https://[a-z]+\.rose-ash\.com)?(/media/images/[\w.-]+)")


def test_a_rolling_update_to_a_new_tag_fails_no_request(site: Site) -> None:
    new_tag = f"{site.tag}-next"
    service = "blog"
    docker("tag", f"rose-ash.local/{service}:{site.tag}", f"rose-ash.local/{service}:{new_tag}")
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        with site.client() as client:
            # Bounded: it stops with the update, or after this many requests.
            for _ in range(20000):
                if stop.is_set():
                    return
                try:
                    resp = client.get(url(service, "/healthz"))
                    if resp.status_code != 200:
                        failures.append(f"{resp.status_code}: {resp.text[:200]}")
                    answered += 1
                except httpx.HTTPError as err:
                    failures.append(repr(err))

    loaders = [threading.Thread(target=load) for _ in range(2)]
    for loader in loaders:
        loader.start()

    def finished() -> str:
        spec = json.loads(docker("service", "inspect", f"{STACK}_{service}"))[0]
        state = str(spec.get("UpdateStatus", {}).get("State", ""))
        return "" if state == "updating" else state

    try:
        docker(
            "service",
            "update",
            "--detach=false",
            "--image",
            f"rose-ash.local/{service}:{new_tag}",
            f"{STACK}_{service}",
            timeout=DEPLOY_GUARD_S,
        )
        # The client returns once the tasks converge; Swarm still watches the new task for
        # update_config.monitor before it calls the update completed (or rolls it back).
        state = wait_for("the update to finish", finished, DEPLOY_GUARD_S)
    finally:
        stop.set()
        for loader in loaders:
            loader.join(timeout=GUARD_S)
    spec = json.loads(docker("service", "inspect", f"{STACK}_{service}"))[0]
    assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(
        f"rose-ash.local/{service}:{new_tag}"
    )
    assert state == "completed", spec.get("UpdateStatus")
    assert answered > 0
    assert failures == [], failures[:10]


def test_a_killed_container_is_replaced(site: Site) -> None:
    service = "market"
    before = wait_for("market to run", lambda: running_containers(service))
    victim = before[0]
    docker("kill", victim)

    replicas = len(tasks_running(service))

    def replaced() -> bool:
        now = running_containers(service)
        return victim not in now and len(tasks_running(service)) == replicas

    wait_for("a replacement of the killed market container", replaced)
    # And the site answers from it again: Caddy's own health checks (every 15 s) let the
    # replacement back in.
    with site.client() as client:
        wait_for("market to answer again", lambda: client.get(url(service)).status_code == 200)


async def test_a_member_signs_in_everywhere_uploads_images_then_erases_the_account(
    site: Site,
) -> None:
    created = in_stack(
        "account",
        "rose-ash",
        "user",
        "create",
        "--email",
        "smoke@example.org",
        "--username",
        MEMBER,
        "--display-name",
        "Smoke Tester",
        "--editor",
        "--password",
        PASSWORD,
    )
    assert MEMBER in created
    browser = site.browser()
    try:
        html = await sign_in_at(browser, url("blog").rstrip("/"), MEMBER, PASSWORD)
        assert "Smoke Tester" in html
        for app in APP_NAMES:
            page = await browser.get(url(app))
            assert page.status_code == 200, (app, browser.hops)
            assert "Smoke Tester" in page.text, (app, browser.hops)

        # An image posted on the social hub (federation), served back by federation.
        page = await browser.get(url("federation", "/social"))
        resp = await browser.http.post(
            url("federation", "/social/statuses"),
            data={
                "csrf_token": csrf_in(page.text),
                "text": "From the smoke test",
                "alt_0": "A green square",
            },
            files={"media_0": ("square.jpg", jpeg(), "image/jpeg")},
            headers={"Origin": url("federation").rstrip("/")},
        )
        assert resp.status_code == 303, resp.text[:2000]
        page = await browser.get(url("federation", "/social"))
        social = sorted(set(MEDIA.findall(page.text)))
        assert social, "the posted image is not on the timeline"

        # A feature image uploaded with a blog post, served back by blog.
        page = await browser.get(url("blog", "/editor/posts/new"))
        assert page.status_code == 200, browser.hops
        resp = await browser.http.post(
            url("blog", "/editor/posts"),
            data={
                "csrf_token": csrf_in(page.text),
                "kind": "post",
                "visibility": "public",
                "title": "Smoke",
                "html": "<p>Smoke</p>",
            },
            files={"feature_image_file": ("cover.png", png(), "image/png")},
            headers={"Origin": url("blog").rstrip("/")},
        )
        assert resp.status_code in (302, 303), resp.text[:2000]
        page = await browser.get(url("blog", resp.headers["location"]))
        blog = sorted(set(MEDIA.findall(page.text)))
        assert blog, "the feature image is not on the post's page"

        for app, paths in (("federation", social), ("blog", blog)):
            for path in paths:
                image = await browser.http.get(url(app, path))
                assert image.status_code == 200, (app, path)
                assert image.headers["content-type"].startswith("image/"), (app, path)

        # Last, as it may fail where the rest passes: erasing the account (at account, which
        # has no media volume) queues the member's images, and the worker, which mounts the
        # social hub's volume, erases them there (decision 0112). The blog post stays, under
        # its byline (it is the cooperative's publication), and its feature image with it.
        page = await browser.get(url("account", "/data/delete"))
        assert page.status_code == 200, browser.hops
        resp = await browser.http.post(
            url("account", "/data/delete"),
            data={"csrf_token": csrf_in(page.text), "password": PASSWORD, "confirm": "delete"},
            headers={"Origin": url("account").rstrip("/")},
        )
        assert resp.status_code in (302, 303), resp.text[:2000]
        for path in social:

            def gone(path: str = path) -> bool:
                with site.client() as client:
                    return client.get(url("federation", path)).status_code == 404

            wait_for(f"federation{path} to be erased", gone)
        with site.client() as client:
            for path in blog:
                assert client.get(url("blog", path)).status_code == 200, path
    finally:
        await browser.aclose()
    # Everything passed (this is the module's last test): record these deployment files as
    # tested, for .ci/run.
    DIGEST_FILE.write_text(deployment_digest() + "\n")
