"""Delivery under load: one post to 2,000 followers on 200 hosts (loopback sinks).

Every inbox receives exactly one POST, signed by the blog's key over its body; with one host
down the others still get theirs and that host's deliveries wait for a retry. The sinks run in a
process of their own (remote servers are not in the worker's process), so the printed
throughput (``-s`` shows it) is the worker's, for the benchmark table.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.config import Settings
from shared.contracts import ArticleDTO
from shared.infrastructure.activitypub import keys
from shared.models import ApDelivery, ApDeliveryAttempt, ApFollower
from shared.services.federation.outbox import OutboxProcessor
from tests.federation.factories import federation_for
from tests.support.committed import engine_for, truncate
from tests.support.settings import make_settings
from tests.support.sink_process import Sinks

pytestmark = pytest.mark.slow

HOSTS = 200
PER_HOST = 10


@pytest.fixture
async def committed(scratch_database_url: str, redis_url: str) -> AsyncIterator[Settings]:
    # A generous timeout: CI machines are shared, and a slow answer is not what is measured.
    # The first retry waits longer than any run here takes, so the down host's deliveries are
    # retried once per run however slow the machine (a loaded one has seen a run outlast 15 s).
    settings = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_ACTIVITYPUB__DELIVERY_TIMEOUT_S="60",
        ROSE_ACTIVITYPUB__DELIVERY_BACKOFF_BASE_S="600",
    )
    await truncate(settings)
    yield settings
    await truncate(settings)


async def test_one_post_to_2000_followers_on_200_hosts_with_one_host_down(
    committed: Settings, tmp_path: Path
) -> None:
    server = await Sinks.start(HOSTS)
    ports = server.ports
    down = ports[17]
    try:
        async with engine_for(committed) as (_, factory):
            async with factory() as session, session.begin():
                session.add_all(
                    ApFollower(
                        actor_app="blog",
                        actor_uri=f"http://127.0.0.1:{port}/users/u{n}",
                        inbox_url=f"http://127.0.0.1:{port}/users/u{n}/inbox",
                        follow_activity_uri=f"http://127.0.0.1:{port}/follows/{n}",
                    )
                    for port in ports
                    for n in range(PER_HOST)
                )
                federation = federation_for(committed)
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
                            url="http://127.0.0.1:8001/posts/winter-hours/",
                            published=datetime.now(UTC),
                        ),
                    ),
                )
            await server.command(f"stop {down}")

            started = time.perf_counter()
            async with OutboxProcessor(committed, factory, worker_id="load") as worker:
                done = await worker.run_once()
            elapsed = time.perf_counter() - started

            expected = (HOSTS - 1) * PER_HOST
            rate = expected / elapsed
            print(
                f"\nActivityPub delivery: {expected} signed POSTs to {HOSTS - 1} hosts "
                f"in {elapsed:.2f}s = {rate:.0f} deliveries/s "
                "(one worker process; the sinks in another)"
            )
            assert done.delivered == expected
            assert done.retrying == PER_HOST

            received = await server.received(tmp_path)
            per_inbox = Counter((r.port, r.path) for r in received)
            assert len(per_inbox) == expected
            assert set(per_inbox.values()) == {1}
            assert down not in {port for port, _ in per_inbox}
            public_pem = keys.public_key_pem(committed)
            for r in received:
                body = r.json()
                assert body["id"] == activity.uri
                r.verify(public_pem)

            async with factory() as session:
                waiting = (
                    await session.scalars(select(ApDelivery).where(ApDelivery.status == "pending"))
                ).all()
                assert len(waiting) == PER_HOST
                assert {d.host for d in waiting} == {f"127.0.0.1:{down}"}
                assert all(d.attempts == 1 and d.last_error for d in waiting)
                now = await session.scalar(select(func.now()))
                assert now is not None
                assert all(d.next_attempt_at > now for d in waiting), "retry later, not now"
                attempts = await session.scalar(select(func.count()).select_from(ApDeliveryAttempt))
                assert attempts == HOSTS * PER_HOST
    finally:
        await server.close()
