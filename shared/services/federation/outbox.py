"""The OutboxProcessor: turns the outbox into signed deliveries (``rose-ash worker``).

Each cycle does two idempotent stages, each in short transactions so that any number of
workers can run side by side:

1. **Fan-out.** Activities not yet fanned out are claimed with ``FOR UPDATE SKIP LOCKED`` and
   become one ``ap_deliveries`` row per distinct inbox (a follower's shared inbox when it has
   one, else its own; explicit targets such as an Accept's follower). The unique
   ``(activity_id, inbox_url)`` makes a repeated fan-out harmless.
2. **Delivery.** Due deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and leased (their
   ``next_attempt_at`` pushed past the time a delivery can take), so no two workers hold the
   same one; each is signed and POSTed, concurrently within bounds overall and per host. The
   outcome of every attempt is written back as soon as it is known (outcomes that arrive
   while one is being written share the next transaction): delivered; retried with
   exponential backoff and jitter; or dead (a final 4xx, or out of attempts). Hosts that
   keep failing for long are marked unavailable and skipped except for one probe per interval.

A worker that dies mid-batch leaves its leased deliveries to be retried when the lease ends:
delivery is at least once, and inboxes dedupe on the activity id. What it repeats is only what
was in flight: a delivery keeps its place among the ``delivery_concurrency`` until its outcome
is committed, so at most that many were sent and not recorded (issue #27: recording a batch
of 500 at its end made a crash repeat every delivery already sent). Tests run
:meth:`OutboxProcessor.run_once` inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from sqlalchemy import Boolean, Interval, Table, bindparam, case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import DatabaseUnavailable
from shared.infrastructure.activitypub import delivery, keys, knock, members
from shared.infrastructure.activitypub.actors import actor_urls
from shared.infrastructure.activitypub.fetch import guarded_client
from shared.models import (
    ApActivity,
    ApDelivery,
    ApDeliveryAttempt,
    ApFollower,
    ApHost,
    SocialAccount,
    SocialFollow,
)

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 50
# The longest wait between cycles while PostgreSQL is unreachable.
OUTAGE_BACKOFF_MAX_S = 30.0
# Core tables for executemany statements (one round trip per batch, not one per row).
DELIVERIES = cast(Table, ApDelivery.__table__)
ATTEMPTS = cast(Table, ApDeliveryAttempt.__table__)

Stage = Callable[[], Awaitable[int]]


@dataclass
class RunStats:
    fanned_out: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    postponed: int = 0

    def add(self, other: RunStats) -> None:
        for name in ("fanned_out", "delivered", "retrying", "dead", "postponed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Claimed:
    id: int
    activity_id: int
    inbox_url: str
    host: str
    attempts: int


@dataclass
class _Batch:
    to_send: list[Claimed] = field(default_factory=list)
    probes: set[str] = field(default_factory=set)
    postponed: int = 0
    # activity id -> (key id, body, private key): app actors share one key, members have theirs.
    payloads: dict[int, tuple[str, bytes, Any]] = field(default_factory=dict)


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Delay before the next try after ``attempts`` failures: base + n**4 s, +0-20% jitter."""
    ap = settings.activitypub
    delay = min(ap.delivery_backoff_max_s, ap.delivery_backoff_base_s + attempts**4)
    return delay * (1 + random.uniform(0, 0.2))


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


Outcomes = list[tuple[Claimed, delivery.DeliveryResult]]


class _Recorder:
    """Writes delivery outcomes as they arrive: one transaction for whatever has arrived,
    while the next ones queue for the one after (a group commit). :meth:`record` returns once
    its outcome is committed, or raises what the write raised."""

    def __init__(self, write: Callable[[Outcomes], Awaitable[None]]) -> None:
        self._write = write
        self._queue: list[tuple[Claimed, delivery.DeliveryResult, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: Claimed, result: delivery.DeliveryResult) -> None:
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, result, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await written

    async def _drain(self) -> None:
        while self._queue:
            taken, self._queue = self._queue, []
            try:
                await self._write([(item, result) for item, result, _ in taken])
            except Exception as err:
                for *_, written in taken:
                    if not written.done():  # its sender may have been cancelled
                        written.set_exception(err)
            else:
                for *_, written in taken:
                    if not written.done():
                        written.set_result(None)


class OutboxProcessor:
    """Fans out and delivers the outbox; ``run_once`` for tests, ``run_forever`` for the worker."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        worker_id: str | None = None,
        client: httpx.AsyncClient | None = None,
        stages: list[Stage] | None = None,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.worker_id = worker_id or new_worker_id()
        ap = settings.activitypub
        self._own_client = client is None
        self.client = client or guarded_client(settings, max_connections=ap.delivery_concurrency)
        # Which signature scheme each host reads (the double knock's memory).
        self.schemes = knock.memory_for(redis)
        self._limit = asyncio.Semaphore(ap.delivery_concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(ap.delivery_per_host)
        )
        # Other domains' reactions to events (cache invalidation, emails) join here later.
        self.extra_stages = stages or []
        self.stats = RunStats()
        # The wait between cycles while PostgreSQL is unreachable (0 while it answers).
        self.outage_wait_s = 0.0

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def __aenter__(self) -> OutboxProcessor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- running ----------------------------------------------------------------------

    async def run_once(self) -> RunStats:
        """Work until nothing is due right now; return what was done."""
        before = RunStats(**vars(self.stats))
        while True:
            fanned = await self.fan_out()
            claimed = await self.deliver_due()
            extra = 0
            for stage in self.extra_stages:
                extra += await stage()
            if fanned == 0 and claimed == 0 and extra == 0:
                break
        done = RunStats()
        for name in vars(done):
            setattr(done, name, getattr(self.stats, name) - getattr(before, name))
        return done

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop`` is set; a failing cycle is logged and retried, never fatal.

        While PostgreSQL is unreachable the wait between cycles doubles, up to
        ``OUTAGE_BACKOFF_MAX_S``; shared.db logs the outage once, when it starts and ends."""
        interval = self.settings.activitypub.worker_poll_interval_s
        wait = interval
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                done = await self.run_once()
                if done.fanned_out or done.delivered or done.dead or done.retrying:
                    log.info("worker: %s", done)
                wait, self.outage_wait_s = interval, 0.0
            except DatabaseUnavailable:
                wait = self.outage_wait_s = min(max(wait, interval) * 2, OUTAGE_BACKOFF_MAX_S)
            except Exception:
                log.exception("worker cycle failed; retrying in %.1fs", interval)
                wait = interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        log.info("worker %s stopped", self.worker_id)

    # --- fan-out ----------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Turn up to a batch of new activities into deliveries; returns how many activities."""
        async with self.session_factory() as session, session.begin():
            activities = (
                await session.scalars(
                    select(ApActivity)
                    .where(ApActivity.fanned_out_at.is_(None))
                    .order_by(ApActivity.id)
                    .limit(FAN_OUT_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for activity in activities:
                inboxes = set(activity.target_inboxes)
                if activity.to_followers and activity.actor_account_id is not None:
                    # A member's post goes to the member's remote followers (local ones read
                    # it from the database; they need no delivery).
                    member_followers = await session.execute(
                        select(SocialAccount.inbox_url, SocialAccount.shared_inbox_url)
                        .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
                        .where(
                            SocialFollow.target_id == activity.actor_account_id,
                            SocialFollow.state == "accepted",
                            SocialAccount.domain.is_not(None),
                            SocialAccount.inbox_url.is_not(None),
                        )
                    )
                    inboxes.update(shared or own for own, shared in member_followers if own)
                elif activity.to_followers:
                    followers = await session.execute(
                        select(ApFollower.inbox_url, ApFollower.shared_inbox_url).where(
                            ApFollower.actor_app == activity.actor_app
                        )
                    )
                    inboxes.update(shared or own for own, shared in followers)
                if inboxes:
                    await session.execute(
                        insert(ApDelivery)
                        .values(
                            [
                                {
                                    "activity_id": activity.id,
                                    "inbox_url": inbox,
                                    "host": host_of(inbox),
                                }
                                for inbox in sorted(inboxes)
                            ]
                        )
                        .on_conflict_do_nothing(
                            index_elements=[ApDelivery.activity_id, ApDelivery.inbox_url]
                        )
                    )
                activity.fanned_out_at = func.now()
            self.stats.fanned_out += len(activities)
            return len(activities)

    # --- delivery ---------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim, send and record one batch of due deliveries; returns how many were claimed."""
        batch, claimed = await self._claim()
        if not claimed:
            return 0
        recorder = _Recorder(lambda outcomes: self._record(outcomes, batch.probes))
        done = await asyncio.gather(
            *(
                self._send(item, batch.payloads[item.activity_id], recorder)
                for item in batch.to_send
            ),
            return_exceptions=True,
        )
        # Every send has finished (and every outcome that could be written was): a failure
        # to record fails the cycle, and its deliveries are retried when their lease ends.
        for failed in done:
            if isinstance(failed, BaseException):
                raise failed
        return claimed

    async def _claim(self) -> tuple[_Batch, int]:
        ap = self.settings.activitypub
        lease = timedelta(seconds=ap.delivery_timeout_s * 2 + 30)
        batch = _Batch()
        async with self.session_factory() as session, session.begin():
            rows = (
                await session.execute(
                    text(
                        """
                        WITH due AS (
                            SELECT id FROM ap_deliveries
                            WHERE status = 'pending' AND next_attempt_at <= now()
                            ORDER BY next_attempt_at, id
                            LIMIT :n
                            FOR UPDATE SKIP LOCKED
                        )
                        UPDATE ap_deliveries d
                        SET next_attempt_at = now() + :lease, claimed_by = :worker,
                            claimed_at = now()
                        FROM due WHERE d.id = due.id
                        RETURNING d.id, d.activity_id, d.inbox_url, d.host, d.attempts
                        """
                    ).bindparams(bindparam("lease", type_=Interval)),
                    {"n": ap.delivery_batch, "lease": lease, "worker": self.worker_id},
                )
            ).all()
            if not rows:
                return batch, 0
            claimed = [Claimed(*row) for row in rows]
            await self._gate_unavailable_hosts(session, claimed, batch)
            ids = sorted({c.activity_id for c in batch.to_send})
            if ids:
                app_key = keys.private_key(self.settings)
                for activity_id, actor_app, payload, member_uri, member_key in (
                    await session.execute(
                        select(
                            ApActivity.id,
                            ApActivity.actor_app,
                            ApActivity.payload,
                            SocialAccount.uri,
                            SocialAccount.private_key_enc,
                        )
                        .outerjoin(SocialAccount, SocialAccount.id == ApActivity.actor_account_id)
                        .where(ApActivity.id.in_(ids))
                    )
                ).all():
                    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
                    if member_uri is not None and member_key is not None:
                        # A member's activity is signed with the member's own key.
                        batch.payloads[activity_id] = (
                            members.key_id(member_uri),
                            body,
                            members.load_private_key(self.settings, member_key),
                        )
                    else:
                        batch.payloads[activity_id] = (
                            actor_urls(self.settings, actor_app).key_id,
                            body,
                            app_key,
                        )
        self.stats.postponed += batch.postponed
        return batch, len(claimed)

    async def _gate_unavailable_hosts(
        self, session: AsyncSession, claimed: list[Claimed], batch: _Batch
    ) -> None:
        """Hold back deliveries to unavailable hosts, letting one probe through per interval."""
        hosts = sorted({c.host for c in claimed})
        down = {
            h.host: h
            for h in (
                await session.scalars(
                    select(ApHost)
                    .where(ApHost.host.in_(hosts), ApHost.unavailable_since.is_not(None))
                    .with_for_update()
                )
            ).all()
        }
        if not down:
            batch.to_send = claimed
            return
        now: datetime = (await session.execute(select(func.now()))).scalar_one()
        probe_every = timedelta(seconds=self.settings.activitypub.host_probe_interval_s)
        held: list[dict[str, Any]] = []
        for item in claimed:
            host = down.get(item.host)
            if host is None:
                batch.to_send.append(item)
            elif item.host not in batch.probes and (
                host.next_probe_at is None or host.next_probe_at <= now
            ):
                batch.probes.add(item.host)
                host.next_probe_at = now + probe_every
                batch.to_send.append(item)
            else:
                held.append({"b_id": item.id, "b_at": host.next_probe_at or now + probe_every})
        if held:
            await (await session.connection()).execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id == bindparam("b_id"))
                .values(
                    next_attempt_at=bindparam("b_at"),
                    claimed_by=None,
                    last_error="host unavailable: waiting for its next probe",
                ),
                held,
            )
        batch.postponed = len(held)

    async def _send(
        self, item: Claimed, payload: tuple[str, bytes, Any], recorder: _Recorder
    ) -> None:
        key_id, body, private_key = payload
        # The overall place is held until the outcome is committed: at any moment at most
        # ``delivery_concurrency`` deliveries are sent and not yet recorded.
        async with self._limit:
            async with self._per_host[item.host]:
                result = await delivery.post(
                    self.client,
                    item.inbox_url,
                    body,
                    key_id=key_id,
                    private_key=private_key,
                    timeout_s=self.settings.activitypub.delivery_timeout_s,
                    memory=self.schemes,
                )
            await recorder.record(item, result)

    async def _record(
        self,
        outcomes: list[tuple[Claimed, delivery.DeliveryResult]],
        probes: set[str],
    ) -> None:
        if not outcomes:
            return
        ap = self.settings.activitypub
        updates: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        host_ok: dict[str, bool] = {}
        host_failures: dict[str, int] = defaultdict(int)
        for item, result in outcomes:
            tries = item.attempts + 1
            if result.ok:
                status, delay, outcome = "delivered", timedelta(0), "delivered"
                self.stats.delivered += 1
            elif result.final or tries >= ap.delivery_max_attempts:
                status, delay, outcome = "dead", timedelta(0), "dead"
                self.stats.dead += 1
                log.warning("delivery %s to %s is dead: %s", item.id, item.inbox_url, result.error)
            else:
                status, outcome = "pending", "retry"
                delay = timedelta(seconds=backoff_seconds(self.settings, tries))
                self.stats.retrying += 1
            updates.append(
                {
                    "b_id": item.id,
                    "b_status": status,
                    "b_attempts": tries,
                    "b_delay": delay,
                    "b_code": result.status_code,
                    "b_error": result.error,
                    "b_delivered": result.ok,
                }
            )
            attempts.append(
                {
                    "delivery_id": item.id,
                    "worker": self.worker_id,
                    "status_code": result.status_code,
                    "error": result.error,
                    "outcome": outcome,
                    "duration_ms": result.duration_ms,
                }
            )
            if result.host_answered:
                host_ok[item.host] = True
            else:
                host_ok.setdefault(item.host, False)
                host_failures[item.host] += 1
        table = DELIVERIES
        async with self.session_factory() as session, session.begin():
            conn = await session.connection()
            await conn.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    attempts=bindparam("b_attempts"),
                    next_attempt_at=func.now() + bindparam("b_delay", type_=Interval),
                    last_attempt_at=func.now(),
                    last_status_code=bindparam("b_code"),
                    last_error=bindparam("b_error"),
                    delivered_at=case(
                        (bindparam("b_delivered", type_=Boolean), func.now()), else_=None
                    ),
                    claimed_by=None,
                ),
                updates,
            )
            await conn.execute(insert(ATTEMPTS), attempts)
            await self._update_hosts(session, host_ok, host_failures, probes)

    async def _update_hosts(
        self,
        session: AsyncSession,
        host_ok: dict[str, bool],
        host_failures: dict[str, int],
        probes: set[str],
    ) -> None:
        ap = self.settings.activitypub
        conn = await session.connection()
        answered = sorted(h for h, ok in host_ok.items() if ok)
        if answered:
            # Only hosts that were marked failing need a row update; the common case is a no-op.
            recovered = (
                await conn.execute(
                    text(
                        """
                        UPDATE ap_hosts SET consecutive_failures = 0, failing_since = NULL,
                            unavailable_since = NULL, next_probe_at = NULL,
                            last_success_at = now()
                        WHERE host = ANY(:hosts) AND consecutive_failures > 0
                        RETURNING host
                        """
                    ),
                    {"hosts": answered},
                )
            ).all()
            back = [h for (h,) in recovered if h in probes]
            if back:
                log.info("hosts answering again: %s", ", ".join(back))
                await conn.execute(
                    update(DELIVERIES)
                    .where(
                        DELIVERIES.c.host.in_(back),
                        DELIVERIES.c.status == "pending",
                        DELIVERIES.c.claimed_by.is_(None),
                    )
                    .values(next_attempt_at=func.now())
                )
        failing = [
            {"host": h, "n": host_failures[h]} for h, ok in sorted(host_ok.items()) if not ok
        ]
        if failing:
            await conn.execute(
                text(
                    """
                    INSERT INTO ap_hosts AS h
                        (host, consecutive_failures, failing_since, last_failure_at)
                    VALUES (:host, :n, now(), now())
                    ON CONFLICT (host) DO UPDATE SET
                        consecutive_failures =
                            h.consecutive_failures + EXCLUDED.consecutive_failures,
                        failing_since = COALESCE(h.failing_since, now()),
                        last_failure_at = now()
                    """
                ),
                failing,
            )
            # A long run of failures (long enough, and enough of them) marks the host
            # unavailable: it is skipped, except for one probe per interval.
            await conn.execute(
                text(
                    """
                    UPDATE ap_hosts
                    SET unavailable_since = now(), next_probe_at = now() + :probe
                    WHERE host = ANY(:hosts) AND unavailable_since IS NULL
                      AND failing_since <= now() - :after
                      AND consecutive_failures >= :min
                    """
                ).bindparams(
                    bindparam("after", type_=Interval),
                    bindparam("probe", type_=Interval),
                ),
                {
                    "hosts": [row["host"] for row in failing],
                    "after": timedelta(seconds=ap.host_unavailable_after_s),
                    "min": ap.host_unavailable_min_failures,
                    "probe": timedelta(seconds=ap.host_probe_interval_s),
                },
            )
