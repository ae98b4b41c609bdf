"""Several workers side by side on real PostgreSQL never deliver the same delivery twice;
``rose-ash worker --once`` delivers from another process; a worker killed mid-batch repeats
only what it had in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from shared.config import Settings
from shared.models import ApActivity, ApDelivery, ApDeliveryAttempt, ApFollower
from shared.services.federation.outbox import OutboxProcessor
from tests.federation.factories import federation_for, note
from tests.support.activitypub import LoopbackServer
from tests.support.committed import engine_for, truncate
from tests.support.settings import ap_private_key_for_tests, make_settings


@pytest.fixture
async def committed(scratch_database_url: str, redis_url: str) -> AsyncIterator[Settings]:
    settings = make_settings(
        scratch_database_url,
        redis_url,
        # Small batches so that the workers interleave.
        ROSE_ACTIVITYPUB__DELIVERY_BATCH="15",
    )
    await truncate(settings)
    yield settings
    await truncate(settings)


async def seed(settings: Settings, server: LoopbackServer, followers_per_port: int) -> int:
    async with engine_for(settings) as (_, factory), factory() as session, session.begin():
        for port in server.ports:
            for n in range(followers_per_port):
                base = f"http://127.0.0.1:{port}"
                session.add(
                    ApFollower(
                        actor_app="blog",
                        actor_uri=f"{base}/users/u{n}",
                        inbox_url=f"{base}/users/u{n}/inbox",
                        follow_activity_uri=f"{base}/follows/{n}",
                    )
                )
        activity = await federation_for(settings).publish(
            session, "blog", "Create", note("Soup's on.")
        )
        return activity.id


async def drain(settings: Settings, proc: OutboxProcessor) -> None:
    """Like ``run_forever`` with a short poll: cycle until nothing is left to do."""
    async with engine_for(settings) as (_, factory):
        while True:
            await proc.run_once()
            async with factory() as session:
                # One statement, one snapshot: two separate counts could straddle another
                # worker's fan-out commit and see neither the activity nor its deliveries.
                left, unfanned = (
                    await session.execute(
                        select(
                            select(func.count())
                            .select_from(ApDelivery)
                            .where(ApDelivery.status == "pending")
                            .scalar_subquery(),
                            select(func.count())
                            .select_from(ApActivity)
                            .where(ApActivity.fanned_out_at.is_(None))
                            .scalar_subquery(),
                        )
                    )
                ).one()
            if not left and not unfanned:
                return
            await asyncio.sleep(0.01)


async def test_two_workers_never_deliver_the_same_delivery_twice(committed: Settings) -> None:
    # Each answer takes a moment, so both workers are busy at once.
    server = LoopbackServer(delay_s=0.01)
    await server.start(20)
    try:
        await seed(committed, server, followers_per_port=15)  # 300 distinct inboxes
        async with (
            engine_for(committed) as (_, factory_a),
            engine_for(committed) as (_, factory_b),
            OutboxProcessor(committed, factory_a, worker_id="worker-a") as a,
            OutboxProcessor(committed, factory_b, worker_id="worker-b") as b,
        ):
            await asyncio.gather(drain(committed, a), drain(committed, b))
        assert a.stats.delivered + b.stats.delivered == 300
        assert a.stats.fanned_out + b.stats.fanned_out == 1
        per_inbox = Counter((r.port, r.path) for r in server.received)
        assert len(per_inbox) == 300
        assert set(per_inbox.values()) == {1}, "an inbox received the activity twice"

        async with engine_for(committed) as (_, factory), factory() as session:
            per_delivery = Counter(
                (await session.scalars(select(ApDeliveryAttempt.delivery_id))).all()
            )
            assert len(per_delivery) == 300
            assert set(per_delivery.values()) == {1}
            workers = Counter((await session.scalars(select(ApDeliveryAttempt.worker))).all())
            assert set(workers) == {"worker-a", "worker-b"}, "both workers took a share"
            delivered = await session.scalar(
                select(func.count()).select_from(ApDelivery).where(ApDelivery.status == "delivered")
            )
            assert delivered == 300
    finally:
        await server.close()


async def test_the_worker_command_delivers_from_its_own_process(
    committed: Settings, scratch_database_url: str, redis_url: str
) -> None:
    server = LoopbackServer()
    await server.start(2)
    try:
        await seed(committed, server, followers_per_port=3)
        env = {
            **os.environ,
            "DATABASE_URL": scratch_database_url,
            "REDIS_URL": redis_url,
            "ROSE_SECRET_KEY": "s" * 40,
            "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
            "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared.tooling.cli",
            "worker",
            "--once",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, out.decode()
        assert "delivered=6" in out.decode()
        assert len(server.received) == 6
    finally:
        await server.close()


async def test_the_worker_command_needs_the_key(scratch_database_url: str, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env["DATABASE_URL"] = scratch_database_url
    env["REDIS_URL"] = redis_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.tooling.cli",
        "worker",
        "--once",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 2
    assert out.decode().strip() == (
        "rose-ash: error: ROSE_AP_PRIVATE_KEY is not set (environment variable)"
    )


async def test_a_worker_killed_mid_batch_repeats_only_what_was_in_flight(
    committed: Settings, scratch_database_url: str, redis_url: str
) -> None:
    concurrency = 4
    # One batch holds every delivery; the sink stops answering after the 40th POST, so the
    # worker is killed in the middle of its batch, with its places all taken.
    server = LoopbackServer(hold_posts_after=40)
    await server.start(10)
    try:
        await seed(committed, server, followers_per_port=30)  # 300 distinct inboxes
        env = {
            **os.environ,
            "DATABASE_URL": scratch_database_url,
            "REDIS_URL": redis_url,
            "ROSE_SECRET_KEY": "s" * 40,
            "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
            "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true",
            "ROSE_ACTIVITYPUB__DELIVERY_BATCH": "500",
            "ROSE_ACTIVITYPUB__DELIVERY_CONCURRENCY": str(concurrency),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared.tooling.cli",
            "worker",
            "--once",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(server.holding.wait(), timeout=120)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        sent_before = len(server.received)
        server.release.set()

        async with engine_for(committed) as (_, factory):
            async with factory() as session, session.begin():
                # The dead worker's lease ends.
                await session.execute(
                    update(ApDelivery)
                    .where(ApDelivery.status == "pending")
                    .values(next_attempt_at=func.now())
                )
            server.hold_posts_after = None
            async with OutboxProcessor(committed, factory, worker_id="after") as after:
                await after.run_once()
            async with factory() as session:
                delivered = await session.scalar(
                    select(func.count())
                    .select_from(ApDelivery)
                    .where(ApDelivery.status == "delivered")
                )
        per_inbox = Counter((r.port, r.path) for r in server.received)
        assert len(per_inbox) == 300, "every inbox got the activity"
        assert delivered == 300
        repeated = sum(n - 1 for n in per_inbox.values())
        assert sent_before > 40
        assert repeated <= concurrency, f"{repeated} repeated, {concurrency} were in flight"
    finally:
        await server.close()
