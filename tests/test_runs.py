"""Two test runs on one host never share data: each creates a database of its own, and a run
holds the Redis database it is given until it ends (its tests flush it), or has a Valkey of
its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from shared.config import REPO_ROOT
from tests.support import refusing_port
from tests.support.redisclaim import RedisClaim, RedisInUse


def test_each_run_has_a_database_of_its_own(database_url: str) -> None:
    name = make_url(database_url).database or ""
    assert name.startswith("rose_ash_test_")
    assert len(name) == len("rose_ash_test_") + 8


def test_a_redis_database_is_held_by_one_run_at_a_time() -> None:
    url = f"redis://:not-shown@127.0.0.1:{refusing_port()}/7"
    first = RedisClaim(url)
    first.acquire()
    try:
        with pytest.raises(RedisInUse) as raised:
            RedisClaim(url.replace("127.0.0.1", "localhost")).acquire()
        message = str(raised.value)
        assert f"(pid {os.getpid()})" in message
        assert "not-shown" not in message
        # Another database of the same server is free.
        other = RedisClaim(url.removesuffix("/7") + "/8")
        other.acquire()
        other.release()
    finally:
        first.release()
    again = RedisClaim(url)
    again.acquire()
    again.release()


def test_a_second_run_on_a_held_redis_database_stops_at_once_with_one_line() -> None:
    url = f"redis://127.0.0.1:{refusing_port()}/5"
    held = RedisClaim(url)
    held.acquire()
    try:
        env = {**os.environ, "TEST_REDIS_URL": url}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/test_readme.py",
                "-q",
                "-p",
                "no:cacheprovider",
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        held.release()
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "is in use by another test run" in line
    assert f"(pid {os.getpid()})" in line
