"""The containers' entrypoint, run for real outside Docker: Docker secrets read from files, the
bounded wait for PostgreSQL, migrations on request, and Hypercorn exec'd so SIGTERM drains it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.config import APP_NAMES, REPO_ROOT, SECRET_ENV
from shared.tooling.devservers import free_port
from tests.support import GUARD_S, refusing_port
from tests.support.settings import (
    TEST_INTERNAL_SECRET,
    TEST_OIDC_PRIVATE_KEY,
    TEST_SECRET_KEY,
    ap_private_key_for_tests,
)

COMMON = REPO_ROOT / "docker" / "entrypoint.sh"
PRODUCTION_CONFIG = REPO_ROOT / "_config" / "app-config.production.yaml"


def _base_env(**extra: str) -> dict[str, str]:
    """This machine's environment without Rose Ash's variables, with the venv first on PATH
    (in the image, /opt/venv/bin is)."""
    secrets = set(SECRET_ENV.values())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROSE_") and k not in secrets and not k.endswith("_FILE")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _secret_files(tmp_path: Path, values: dict[str, str]) -> dict[str, str]:
    """Write each secret to a file as `docker secret create` would (with a trailing newline)
    and return the VAR_FILE variables pointing at them."""
    env = {}
    for var, value in values.items():
        path = tmp_path / var.lower()
        path.write_text(value + "\n")
        path.chmod(0o400)
        env[f"{var}_FILE"] = str(path)
    return env


def _run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("service", [*APP_NAMES, "worker"])
def test_every_service_has_an_executable_entrypoint_that_uses_the_common_one(
    service: str,
) -> None:
    script = REPO_ROOT / service / "entrypoint.sh"
    assert os.access(script, os.X_OK)
    assert "docker/entrypoint.sh" in script.read_text()
    mode = subprocess.run(
        ["git", "ls-files", "--stage", f"{service}/entrypoint.sh"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert mode == "100755", "the executable bit must be committed, or the image cannot run it"


def test_secret_files_are_read_into_the_environment(tmp_path: Path) -> None:
    values = {
        "DATABASE_URL": "postgresql://rose_ash:pw@postgres:5432/rose_ash",
        "REDIS_URL": "redis://:pw@redis:6379/0",
        "ROSE_SECRET_KEY": "k" * 48,
        "ROSE_INTERNAL_SECRET": "i" * 48,
        "ROSE_SMTP_PASSWORD": "smtp pass with spaces",
    }
    env = _base_env(**_secret_files(tmp_path, values))
    result = _run(REPO_ROOT / "blog" / "entrypoint.sh", "env", env=env)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    for var, value in values.items():
        assert seen[var] == value, f"{var} must be the file's content without the newline"
        assert f"{var}_FILE" not in seen, "the _FILE variable is consumed"


@pytest.mark.parametrize(
    ("service", "var"),
    [("federation", "ROSE_OIDC_PRIVATE_KEY"), ("worker", "ROSE_AP_PRIVATE_KEY")],
)
def test_a_multi_line_key_file_is_read_whole(tmp_path: Path, service: str, var: str) -> None:
    """The signing keys are PEM files: every line arrives, newlines included."""
    key = TEST_OIDC_PRIVATE_KEY if var == "ROSE_OIDC_PRIVATE_KEY" else ap_private_key_for_tests()
    pem = key.strip()
    env = _base_env(**_secret_files(tmp_path, {var: pem}))
    result = _run(REPO_ROOT / service / "entrypoint.sh", "printenv", var, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == pem + "\n"
    assert pem.count("\n") > 10


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("both", "both DATABASE_URL and DATABASE_URL_FILE are set; set only one"),
        ("missing", "DATABASE_URL_FILE: cannot read"),
        ("empty", "is empty"),
    ],
)
def test_bad_secret_files_stop_the_container_with_one_line(
    tmp_path: Path, setup: str, message: str
) -> None:
    env = _base_env()
    secret = tmp_path / "database_url"
    if setup == "both":
        secret.write_text("postgresql://a@b/c\n")
        env.update(DATABASE_URL="postgresql://x@y/z", DATABASE_URL_FILE=str(secret))
    elif setup == "missing":
        env["DATABASE_URL_FILE"] = str(tmp_path / "nope")
    else:
        secret.write_text("\n")
        env["DATABASE_URL_FILE"] = str(secret)
    result = _run(REPO_ROOT / "market" / "entrypoint.sh", "true", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("entrypoint: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_a_command_the_common_entrypoint_refuses() -> None:
    result = _run(COMMON, env=_base_env())
    assert result.returncode == 1
    assert "no command" in result.stderr


def test_an_unreachable_database_stops_start_up_after_the_bounded_wait() -> None:
    env = _base_env(
        DATABASE_URL=f"postgresql://rose_ash:pw@127.0.0.1:{refusing_port()}/rose_ash",
        DB_WAIT_TIMEOUT="2",
    )
    result = _run(REPO_ROOT / "cart" / "entrypoint.sh", env=env)  # returns: the wait is bounded
    assert result.returncode == 1
    assert "did not answer within 2 s" in result.stderr
    assert "PostgreSQL is not reachable; giving up (DB_WAIT_TIMEOUT=2)" in result.stderr


METRICS_TOKEN = "entrypoint-metrics-" + "m" * 20
READY_CALLS = 8


def _wait_healthy(proc: subprocess.Popen[str], env: dict[str, str], timeout_s: float) -> int:
    """Run the container's health check until it passes; how many times it ran."""
    deadline = time.monotonic() + timeout_s
    runs = 0
    while time.monotonic() < deadline:
        runs += 1
        assert proc.poll() is None, "the server exited during start-up"
        check = subprocess.run(
            [sys.executable, "-m", "shared.tooling.container", "healthcheck"],
            env=env,
            capture_output=True,
            text=True,
            timeout=GUARD_S,
            check=False,
        )
        if check.returncode == 0:
            return runs
        time.sleep(0.3)
    raise AssertionError("the app never became healthy")


@pytest.mark.slow
def test_serve_migrates_on_request_runs_hypercorn_and_drains_on_sigterm(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """blog as the stack runs it: production config, secrets from files, RUN_MIGRATIONS=true,
    two Hypercorn processes whose figures /metrics adds up, JSON log lines."""
    port = free_port()
    env = _base_env(
        ROSE_CONFIG_FILE=str(PRODUCTION_CONFIG),
        ROSE_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        RUN_MIGRATIONS="true",
        DB_WAIT_TIMEOUT="30",
        **_secret_files(
            tmp_path,
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "ROSE_SECRET_KEY": TEST_SECRET_KEY,
                "ROSE_INTERNAL_SECRET": TEST_INTERNAL_SECRET,
                "ROSE_SMTP_PASSWORD": "smtp-password",
                "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
                "ROSE_METRICS_TOKEN": METRICS_TOKEN,
            },
        ),
    )
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(REPO_ROOT / "blog" / "entrypoint.sh")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        checks = _wait_healthy(proc, env, timeout_s=GUARD_S)
        # The shells exec'd: the process Docker signals is the server itself.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"rose-ash") for part in cmdline), cmdline
        assert b"serve" in cmdline
        assert b"blog" in cmdline
        for _ in range(READY_CALLS):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=GUARD_S) as r:
                assert r.status == 200
        # Whichever process answers the scrape counts every process's requests.
        scrape = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        )
        with urllib.request.urlopen(scrape, timeout=GUARD_S) as resp:  # noqa: S310 - loopback http
            exposition = resp.read().decode()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "RUN_MIGRATIONS=true: migrating" in text
    assert "Database is at the latest migration." in text
    ready = [
        s
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == "rose_ash_http_requests_total" and s.labels["route"] == "/readyz"
    ]
    # The container's health check asks /readyz too: at least its last run was answered, and
    # an earlier one may have been (answered after the check stopped waiting, on a busy host).
    assert READY_CALLS + 1 <= sum(s.value for s in ready) <= READY_CALLS + checks
    # Production's log lines are JSON, each request's closing line with its route and status.
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    closing = [e for e in entries if e.get("route") == "/readyz"]
    assert READY_CALLS + 1 <= len(closing) <= READY_CALLS + checks
    assert {e["status"] for e in closing} == {200}
    assert all(e["app"] == "blog" and e["request_id"] != "-" for e in closing)


@pytest.mark.slow
def test_the_worker_entrypoint_runs_the_worker_until_sigterm(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    beat = tmp_path / "heartbeat"
    env = _base_env(
        ROSE_WORKER_HEARTBEAT=str(beat),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ROSE_SECRET_KEY=TEST_SECRET_KEY,
        ROSE_INTERNAL_SECRET=TEST_INTERNAL_SECRET,
        ROSE_AP_PRIVATE_KEY=ap_private_key_for_tests(),
    )
    proc = subprocess.Popen(
        [str(REPO_ROOT / "worker" / "entrypoint.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + GUARD_S
        while not beat.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert beat.exists(), "the worker never started"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "worker stopped" in out
