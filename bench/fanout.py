"""ActivityPub fan-out: one post to many followers on many hosts, delivered by N workers.

The followers' servers are loopback sinks in a process of their own (``tests.support.sink_process``,
the delivery load test's), one port per host. The blog publishes one ``Create{Article}``; the
fan-out into one delivery per inbox is timed on its own; then N worker processes
(``bench.apworker``, the worker's own code) start together and deliver until nothing is due.
Afterwards every inbox must have received the activity exactly once, signed with the blog's
key over its body.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import delete

from shared.config import Settings, load_settings
from shared.contracts import ArticleDTO
from shared.db import create_engine, create_session_factory
from shared.infrastructure.activitypub import keys
from shared.infrastructure.activitypub.signatures import parse_signature, verify_request
from shared.models import ApFollower
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.support.sink_process import Sinks

HERE = Path(__file__).resolve().parent


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def worker_env(env: dict[str, str]) -> dict[str, str]:
    # The followers are on loopback, which production refuses to deliver to.
    return {**env, "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true"}


async def _start_workers(env: dict[str, str], count: int) -> list[asyncio.subprocess.Process]:
    procs = []
    for _ in range(count):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.apworker",
            cwd=HERE.parent,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if line.strip() != b"ready":
            raise RuntimeError(f"bench.apworker did not start: {line!r}")
        procs.append(proc)
    return procs


async def _round(
    settings: Settings,
    env: dict[str, str],
    sinks: Sinks,
    workers: int,
    folder: Path,
) -> dict[str, Any]:
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    federation = build_services(settings).federation
    try:
        async with factory() as session, session.begin():
            activity = await federation.publish(
                session,
                "blog",
                "Create",
                federation.article(
                    "blog",
                    ArticleDTO(
                        id=federation.new_object_uri("blog"),
                        name="Winter opening hours",
                        summary="The café is open until nine from December.",
                        content="<p>Open until nine.</p>",
                        url=f"{settings.apps['blog'].public_url}/posts/winter-opening-hours",
                        published=datetime.now(UTC),
                    ),
                ),
            )
        procs = await _start_workers(env, workers)
        # The fan-out (one delivery row per inbox) on its own, before the workers start, so
        # that every worker finds deliveries due from its first cycle.
        started = time.perf_counter()
        async with OutboxProcessor(settings, factory) as processor:
            await processor.fan_out()
        fan_out_s = time.perf_counter() - started
        sink_cpu = _cpu_s(sinks.proc.pid)
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        per_worker = []
        worker_cpu = 0.0
        for proc in procs:
            out, _ = await proc.communicate()
            found = re.search(rb"delivered=(\d+)", out)
            per_worker.append(int(found.group(1)) if found else 0)
            cpu = re.search(rb"cpu=([\d.]+)", out)
            worker_cpu += float(cpu.group(1)) if cpu else 0.0
        elapsed = time.perf_counter() - started
        sink_cpu = _cpu_s(sinks.proc.pid) - sink_cpu
    finally:
        await engine.dispose()

    received = [r for r in await sinks.received(folder) if r.json().get("id") == activity.uri]
    per_inbox = Counter((r.port, r.path) for r in received)
    public_pem = keys.public_key_pem(settings)
    bad_signatures = 0
    for r in received:
        try:
            verify_request(
                "POST",
                r.path,
                r.headers,
                r.body,
                parse_signature(r.headers["Signature"]),
                public_pem,
                window_s=600,
            )
        except Exception:  # counted and reported, never fatal here
            bad_signatures += 1
    delivered = sum(per_worker)
    return {
        "workers": workers,
        "delivered": delivered,
        "per_worker": per_worker,
        "inboxes_reached": len(per_inbox),
        "duplicates": sum(n - 1 for n in per_inbox.values()),
        "bad_signatures": bad_signatures,
        "fan_out_s": fan_out_s,
        "elapsed_s": elapsed,
        "deliveries_per_s": delivered / elapsed,
        "per_worker_per_s": delivered / elapsed / workers,
        # Where the two cores went: the workers' CPU seconds (start-up included) and the
        # sinks' (every POST is received, parsed and recorded by one Python process).
        "worker_cpu_s": worker_cpu,
        "sink_cpu_s": sink_cpu,
    }


async def _run(
    env: dict[str, str], hosts: int, per_host: int, worker_counts: tuple[int, ...]
) -> list[dict[str, Any]]:
    env = worker_env(env)
    settings = load_settings(environ=env)
    sinks = await Sinks.start(hosts)
    folder = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    engine = create_engine(settings)
    try:
        # Whatever the platform left in the outbox goes first, to nobody (no followers yet).
        async with OutboxProcessor(settings, create_session_factory(engine)) as processor:
            await processor.run_once()
        async with create_session_factory(engine)() as session, session.begin():
            session.add_all(
                ApFollower(
                    actor_app="blog",
                    actor_uri=f"http://127.0.0.1:{port}/users/u{n}",
                    inbox_url=f"http://127.0.0.1:{port}/users/u{n}/inbox",
                    follow_activity_uri=f"http://127.0.0.1:{port}/follows/{n}",
                )
                for port in sinks.ports
                for n in range(per_host)
            )
        rounds = []
        for count in worker_counts:
            row = await _round(settings, env, sinks, count, folder)
            row["followers"] = hosts * per_host
            row["hosts"] = hosts
            row["exact"] = (
                row["delivered"] == hosts * per_host
                and row["inboxes_reached"] == hosts * per_host
                and row["duplicates"] == 0
                and row["bad_signatures"] == 0
            )
            rounds.append(row)
            print(f"bench: fan-out with {count} worker(s): {row}", flush=True)
        async with create_session_factory(engine)() as session, session.begin():
            await session.execute(delete(ApFollower).where(ApFollower.actor_app == "blog"))
        return rounds
    finally:
        await engine.dispose()
        await sinks.close()


def run_fanout(
    env: dict[str, str],
    hosts: int = 1_000,
    per_host: int = 10,
    worker_counts: tuple[int, ...] = (1, 2),
) -> list[dict[str, Any]]:
    """One post to ``hosts * per_host`` followers, once per worker count; checked rounds."""
    return asyncio.run(_run(dict(env), hosts, per_host, worker_counts))


if __name__ == "__main__":  # a quick look on its own: BENCH env as for the platform
    print(run_fanout(dict(os.environ), hosts=int(sys.argv[1]) if len(sys.argv) > 1 else 100))
