"""`rose-ash worker`: runs the OutboxProcessor, keeps its heartbeat while it runs (the container's
health check), removes it and exits 0 on SIGTERM, and refuses to start without its secrets.
(What the processor does is tested in tests/federation/.)"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from shared.config import Settings
from shared.services.domain import Lazy, StagesOf, WorkerContext, WorkerStage
from shared.tooling import worker
from shared.tooling.heartbeat import heartbeat_is_fresh
from tests.support import GUARD_S, eventually
from tests.support.settings import TEST_INTERNAL_SECRET, TEST_SECRET_KEY, ap_private_key_for_tests


async def test_run_touches_the_heartbeat_until_stopped(settings: Settings, tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(settings, heartbeat=beat, interval_s=0.05, stop=stop))
    await eventually(beat.exists, "the heartbeat written")
    assert heartbeat_is_fresh(beat, max_age_s=5)
    stop.set()
    assert await asyncio.wait_for(task, GUARD_S) == 0
    assert not beat.exists(), "a stopped worker must not look healthy"


def test_heartbeat_freshness(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    assert not heartbeat_is_fresh(beat, 60)
    beat.touch()
    mtime = beat.stat().st_mtime
    assert heartbeat_is_fresh(beat, 60, now=mtime + 59)
    assert not heartbeat_is_fresh(beat, 60, now=mtime + 61)


def test_the_health_check_never_imports_the_worker() -> None:
    # The container runs it every 30 s: it reads the heartbeat and nothing of the processor.
    probe = (
        "import sys, shared.tooling.container; "
        "print(sorted(m for m in sys.modules if m.startswith('shared.services') "
        "or m == 'shared.tooling.worker'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# What the stages below did, by the number of the domain (in the order they were asked).
_CALLS: dict[str, list[int]] = {"built": [], "ran": [], "drained": [], "closed": []}


def _recording_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    n = len(_CALLS["built"])
    _CALLS["built"].append(n)

    async def run() -> int:
        _CALLS["ran"].append(n)
        return 0

    async def drain() -> None:
        _CALLS["drained"].append(n)

    async def close() -> None:
        _CALLS["closed"].append(n)

    return [WorkerStage(run, drain=drain, close=close)]


async def test_each_cycle_runs_every_domains_stages(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for calls in _CALLS.values():
        calls.clear()
    recording: Lazy[StagesOf] = Lazy(f"{__name__}:_recording_stages")
    domains = tuple(replace(domain, worker_stages=recording) for domain in worker.DOMAINS)
    monkeypatch.setattr(worker, "DOMAINS", domains)
    assert await worker.run(settings, heartbeat=tmp_path / "beat", once=True) == 0
    every = list(range(len(domains)))
    assert _CALLS["built"] == every
    assert _CALLS["ran"][: len(every)] == every  # a cycle repeats while the outbox has work
    assert _CALLS["drained"] == every
    assert _CALLS["closed"] == every


def _env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ROSE_SECRET_KEY=TEST_SECRET_KEY,
        ROSE_INTERNAL_SECRET=TEST_INTERNAL_SECRET,
        ROSE_AP_PRIVATE_KEY=ap_private_key_for_tests(),
        **extra,
    )
    return env


@pytest.mark.slow
def test_the_worker_process_stops_cleanly_on_sigterm(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    beat = tmp_path / "heartbeat"
    env = _env(database_url, redis_url, ROSE_WORKER_HEARTBEAT=str(beat))
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.tooling.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + GUARD_S
        while not beat.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert beat.exists(), "the worker never wrote its heartbeat"
        check = subprocess.run(
            [sys.executable, "-m", "shared.tooling.container", "heartbeat"],
            env=env,
            capture_output=True,
            text=True,
            timeout=GUARD_S,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert re.search(r"worker \S+ started", out), out
    assert "worker stopped" in out
    after = subprocess.run(
        [sys.executable, "-m", "shared.tooling.container", "heartbeat"],
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )
    assert after.returncode == 1
    assert "missing or older than 60 s" in after.stderr


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, "REDIS_URL"),
        (
            {"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1"},
            "ROSE_AP_PRIVATE_KEY",
        ),
    ],
)
def test_the_worker_refuses_to_start_without_its_secrets(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(given, ROSE_WORKER_HEARTBEAT=str(tmp_path / "beat"))
    result = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"rose-ash: error: {missing} is not set (environment variable)"
    )
    assert not (tmp_path / "beat").exists(), "a worker that did not start never looks healthy"
