"""The container helpers: a bounded wait for PostgreSQL and the HTTP health check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.tooling.container import health_of, healthcheck_url, wait_for_database
from tests.support import refusing_port


def _helper(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ROSE_BIND")}
    return subprocess.run(
        [sys.executable, "-m", "shared.tooling.container", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_wait_for_database_returns_at_once_when_postgresql_answers(
    database_url: str,
) -> None:
    assert await wait_for_database(database_url, timeout_s=10) is None


def test_wait_for_database_gives_up_after_the_timeout_without_leaking_the_password() -> None:
    url = f"postgresql://rose_ash:s3cret-pw@127.0.0.1:{refusing_port()}/rose_ash"
    # Bounded: it returns by itself (the helper's subprocess timeout would fail the test).
    result = _helper("wait-for-database", "--timeout", "2", DATABASE_URL=url)
    assert result.returncode == 1
    assert "did not answer within 2 s" in result.stderr
    assert "127.0.0.1" in result.stderr
    assert "waiting for PostgreSQL" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_wait_for_database_needs_database_url() -> None:
    result = _helper("wait-for-database", "--timeout", "1")
    assert result.returncode == 2
    assert result.stderr.strip() == "DATABASE_URL is not set (environment variable)"


def test_wait_for_database_succeeds_against_the_test_server(database_url: str) -> None:
    result = _helper("wait-for-database", "--timeout", "10", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "is up" in result.stdout


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("0.0.0.0:8000", "http://127.0.0.1:8000/readyz"),
        ("[::]:9001", "http://127.0.0.1:9001/readyz"),
    ],
)
def test_healthcheck_url_follows_the_bind(bind: str, url: str) -> None:
    assert healthcheck_url(bind) == url


def test_healthcheck_fails_when_nothing_listens() -> None:
    result = _helper("healthcheck", ROSE_BIND=f"127.0.0.1:{refusing_port()}")
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: http://127.0.0.1:")


@pytest.mark.parametrize(
    ("status", "body", "healthy"),
    [
        (200, b'{"status": "ready", "down": []}', True),
        # An outage of PostgreSQL or Redis is not this container's: replacing it would not help.
        (503, b'{"status": "unavailable", "down": ["redis"]}', True),
        (503, b'{"status": "unavailable", "down": ["postgresql", "redis"]}', True),
        (503, b'{"down": ["schema"], "schema": {"code": "0030", "database": "0029"}}', False),
        (500, b"<html>", False),
    ],
)
def test_the_health_check_fails_only_while_the_schema_is_behind(
    status: int, body: bytes, healthy: bool
) -> None:
    ok, why = health_of(status, body)
    assert ok is healthy
    if "schema" in body.decode():
        assert why == "the database is at schema 0029, this code needs 0030: run `rose-ash migrate`"
