"""The OutboxProcessor: fan-out, signed delivery, backoff, dead letters, unavailable hosts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.models import ApDelivery, ApDeliveryAttempt, ApFollower, ApHost
from shared.services.federation.outbox import OutboxProcessor
from tests.federation.factories import federation_for, note
from tests.support import refusing_port
from tests.support.activitypub import LoopbackServer
from tests.support.settings import make_settings


def follower(n: int, port: int, *, shared: bool = True, app: str = "blog") -> ApFollower:
    base = f"http://127.0.0.1:{port}"
    return ApFollower(
        actor_app=app,
        actor_uri=f"{base}/users/u{n}",
        inbox_url=f"{base}/users/u{n}/inbox",
        shared_inbox_url=f"{base}/inbox" if shared else None,
        follow_activity_uri=f"{base}/follows/{n}",
    )


async def publish_note(db: AsyncSession, settings: Settings, app: str = "blog") -> int:
    activity = await federation_for(settings).publish(db, app, "Create", note("Fresh bread today."))
    await db.commit()
    return activity.id


async def make_due(db: AsyncSession) -> None:
    """Time passes: every waiting delivery is due now."""
    await db.execute(
        text("UPDATE ap_deliveries SET next_attempt_at = now() WHERE status = 'pending'")
    )
    await db.commit()


async def delivery(db: AsyncSession) -> ApDelivery:
    row = await db.scalar(select(ApDelivery).execution_options(populate_existing=True))
    assert row is not None
    return row


async def attempts(db: AsyncSession) -> list[tuple[int | None, str]]:
    rows = await db.execute(
        select(ApDeliveryAttempt.status_code, ApDeliveryAttempt.outcome).order_by(
            ApDeliveryAttempt.id
        )
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def processor_with(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, **env: str
) -> OutboxProcessor:
    url = settings.require("database_url")
    custom = make_settings(
        url, settings.require("redis_url"), **{f"ROSE_ACTIVITYPUB__{k}": v for k, v in env.items()}
    )
    return OutboxProcessor(custom, session_factory, worker_id="test-worker")


async def test_fan_out_is_one_delivery_per_distinct_inbox_shared_first(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    port = remote.ports[0]
    (other,) = await remote.start()
    for n in range(5):
        db.add(follower(n, port))  # five followers on one server: one shared inbox
    db.add(follower(10, other, shared=False))
    db.add(follower(11, other, shared=False))  # no shared inbox: their own inboxes
    db.add(follower(12, port, app="events"))  # follows another actor
    await publish_note(db, settings)
    done = await processor.run_once()
    assert done.fanned_out == 1
    assert done.delivered == 3
    paths = sorted((r.port, r.path) for r in remote.received)
    assert paths == sorted(
        [(port, "/inbox"), (other, "/users/u10/inbox"), (other, "/users/u11/inbox")]
    )
    # Running again does nothing: fan-out and delivery are done.
    again = await processor.run_once()
    assert (again.fanned_out, again.delivered) == (0, 0)
    assert len(remote.received) == 3


async def test_an_activity_without_followers_fans_out_to_nothing(
    db: AsyncSession, settings: Settings, processor: OutboxProcessor
) -> None:
    await publish_note(db, settings)
    done = await processor.run_once()
    assert (done.fanned_out, done.delivered) == (1, 0)
    assert await db.scalar(select(func.count()).select_from(ApDelivery)) == 0


async def test_failures_retry_with_exponential_backoff_and_jitter(
    db: AsyncSession, settings: Settings, remote: LoopbackServer, processor: OutboxProcessor
) -> None:
    port = remote.ports[0]
    remote.post_status[port] = 503
    db.add(follower(1, port))
    await publish_note(db, settings)
    base = settings.activitypub.delivery_backoff_base_s
    now = await db.scalar(select(func.now()))
    assert now is not None

    delays = []
    for n in (1, 2, 3):
        done = await processor.run_once()
        assert done.retrying == 1
        row = await delivery(db)
        assert row.status == "pending"
        assert row.attempts == n
        assert row.last_status_code == 503
        delay = (row.next_attempt_at - now).total_seconds()
        expected = base + n**4
        assert expected <= delay <= expected * 1.2 + 0.01, (n, delay)
        delays.append(delay)
        await make_due(db)
    assert delays == sorted(delays)
    assert await attempts(db) == [(503, "retry")] * 3
    assert len(remote.received) == 3

    remote.post_status[port] = 202
    done = await processor.run_once()
    assert done.delivered == 1
    row = await delivery(db)
    assert row.status == "delivered"
    assert row.delivered_at is not None
    assert (await attempts(db))[-1] == (202, "delivered")


def test_backoff_grows_and_is_capped(settings: Settings) -> None:
    from shared.services.federation.outbox import backoff_seconds

    values = [backoff_seconds(settings, n) for n in range(1, 17)]
    assert values[0] < values[4] < values[9]
    assert max(values) <= settings.activitypub.delivery_backoff_max_s * 1.2
    jittered = {round(backoff_seconds(settings, 5), 3) for _ in range(20)}
    assert len(jittered) > 1, "jitter spreads retries"


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422, 501])
async def test_a_hard_refusal_is_not_retried(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    processor: OutboxProcessor,
    status: int,
) -> None:
    port = remote.ports[0]
    remote.post_status[port] = status
    db.add(follower(1, port))
    await publish_note(db, settings)
    done = await processor.run_once()
    assert done.dead == 1
    row = await delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("dead", 1, status)
    # 400 and 403 are also how a server refuses a signature scheme it does not read: the one
    # attempt knocked twice, with RFC 9421 and with draft-cavage.
    knocks = 2 if status in (400, 403) else 1
    assert len(remote.received) == knocks
    await make_due(db)
    await processor.run_once()
    assert len(remote.received) == knocks


@pytest.mark.parametrize("status", [401, 408, 429, 500, 502])
async def test_transient_answers_are_retried(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    processor: OutboxProcessor,
    status: int,
) -> None:
    port = remote.ports[0]
    remote.post_status[port] = status
    db.add(follower(1, port))
    await publish_note(db, settings)
    done = await processor.run_once()
    assert done.retrying == 1
    assert (await delivery(db)).status == "pending"


async def test_an_unreachable_inbox_is_retried(
    db: AsyncSession, settings: Settings, processor: OutboxProcessor
) -> None:
    db.add(follower(1, refusing_port()))
    await publish_note(db, settings)
    done = await processor.run_once()
    assert done.retrying == 1
    row = await delivery(db)
    assert row.last_status_code is None
    assert row.last_error


async def test_dead_letters_after_the_last_attempt_and_staff_can_retry(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    port = remote.ports[0]
    remote.post_status[port] = 500
    db.add(follower(1, port))
    await publish_note(db, settings)
    async with processor_with(session_factory, settings, DELIVERY_MAX_ATTEMPTS="3") as proc:
        for _ in range(3):
            await proc.run_once()
            await make_due(db)
        row = await delivery(db)
        assert (row.status, row.attempts) == ("dead", 3)
        assert await attempts(db) == [(500, "retry"), (500, "retry"), (500, "dead")]
        overview = await federation_for(settings).queue_overview(db)
        assert overview.dead == 1
        [dead] = await federation_for(settings).list_deliveries(db, "dead")
        assert dead.id == row.id
        # Dead letters stay dead.
        await proc.run_once()
        assert len(remote.received) == 3

        remote.post_status[port] = 202
        await federation_for(settings).retry_delivery(db, row.id)
        await db.commit()
        done = await proc.run_once()
        assert done.delivered == 1
        assert (await delivery(db)).status == "delivered"
        _row, history = await federation_for(settings).delivery_detail(db, row.id)
        assert [a.outcome for a in history] == ["retry", "retry", "dead", "delivered"]


async def test_retry_of_a_delivered_delivery_is_refused(
    db: AsyncSession, settings: Settings, remote: LoopbackServer, processor: OutboxProcessor
) -> None:
    from shared.errors import NotFound

    db.add(follower(1, remote.ports[0]))
    await publish_note(db, settings)
    await processor.run_once()
    row = await delivery(db)
    with pytest.raises(NotFound) as err:
        await federation_for(settings).retry_delivery(db, row.id)
    assert err.value.code == "ap_delivery_not_retryable"


async def test_a_host_failing_for_long_is_skipped_then_probed_and_released(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    port = remote.ports[0]
    host = f"127.0.0.1:{port}"
    remote.post_status[port] = 500
    for n in range(4):
        db.add(follower(n, port, shared=False))
    await publish_note(db, settings)
    env = {"HOST_UNAVAILABLE_AFTER_S": "0", "HOST_UNAVAILABLE_MIN_FAILURES": "4"}
    async with processor_with(session_factory, settings, **env) as proc:
        await proc.run_once()
        assert len(remote.received) == 4
        state = await db.scalar(
            select(ApHost).where(ApHost.host == host).execution_options(populate_existing=True)
        )
        assert state is not None
        assert state.consecutive_failures == 4
        assert state.unavailable_since is not None
        overview = await federation_for(settings).queue_overview(db)
        assert [h.host for h in overview.unavailable_hosts] == [host]

        # While unavailable, due deliveries are held back without an attempt.
        await make_due(db)
        done = await proc.run_once()
        assert done.postponed == 4
        assert len(remote.received) == 4
        assert len(await attempts(db)) == 4

        # When the probe is due, one delivery goes; the host answers; the rest are released.
        remote.post_status[port] = 202
        await db.execute(text("UPDATE ap_hosts SET next_probe_at = now() - interval '1 s'"))
        await make_due(db)
        done = await proc.run_once()
        assert done.delivered == 4
        assert len(remote.received) == 8
        state = await db.scalar(
            select(ApHost).where(ApHost.host == host).execution_options(populate_existing=True)
        )
        assert state is not None
        assert (state.unavailable_since, state.consecutive_failures) == (None, 0)


async def test_a_host_that_writes_to_us_is_available_again(
    db: AsyncSession, settings: Settings
) -> None:
    db.add(
        ApHost(
            host="social.example",
            consecutive_failures=99,
            unavailable_since=func.now() - timedelta(days=1),
        )
    )
    await db.flush()
    await federation_for(settings).mark_host_alive(db, "social.example")
    state = await db.scalar(
        select(ApHost)
        .where(ApHost.host == "social.example")
        .execution_options(populate_existing=True)
    )
    assert state is not None
    assert state.unavailable_since is None


async def test_the_address_guard_applies_to_deliveries(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A follower whose inbox is on a private address is never POSTed to in production."""
    db.add(follower(1, remote.ports[0]))
    await publish_note(db, settings)
    async with processor_with(session_factory, settings, ALLOW_PRIVATE_ADDRESSES="false") as proc:
        done = await proc.run_once()
    assert done.dead == 1
    assert remote.received == []
    assert "address_forbidden" in ((await delivery(db)).last_error or "")
