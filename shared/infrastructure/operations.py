"""What an admin watches, read from the database: the queues (fediverse deliveries, newsletter
emails, supplier scrapes, files waiting to be erased) and the last runs of the Ghost sync, of
each scrape source and of the backup (``backup_runs``, written by `rose-ash backup`).

One reading serves both the worker's ``/metrics`` (shared/tooling/worker_metrics.py: gauges
read when Prometheus scrapes, never counters that drift from the rows) and federation's status
page for admins, which also asks each app's ``/readyz`` (:func:`apps_readiness`). It reads
several domains' tables and writes nothing, so it sits beside the domains rather than in one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, Settings
from shared.infrastructure.media_erasure import OVERDUE_AFTER
from shared.models.activitypub import ApDelivery
from shared.models.blog import GHOST_SCHEDULE_KEY, GhostState
from shared.models.market import ScrapeRun, ScrapeSource, Supplier
from shared.models.media import MediaErasure
from shared.models.newsletters import NewsletterDelivery
from shared.models.operations import BackupRun


@dataclass(frozen=True)
class HostDeliveries:
    """One remote host's deliveries: waiting their first try, waiting a retry, given up."""

    host: str
    pending: int
    retrying: int
    dead: int


@dataclass(frozen=True)
class ScrapeSourceRun:
    """A scrape source and its latest run (None when it never ran)."""

    source_id: int
    supplier: str
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class GhostSyncRun:
    """The worker's last periodic Ghost sync: when, and its error code if it failed."""

    at: datetime | None
    error: str | None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class LastBackup:
    """The newest backup `rose-ash backup` completed: when it finished, its name and size."""

    finished_at: datetime
    name: str
    total_bytes: int


@dataclass(frozen=True)
class MediaErasures:
    """Stored files waiting to be erased (media_erasure.py): all of them, those whose last
    attempt failed, and those waiting longer than ``media_erasure.OVERDUE_AFTER``."""

    pending: int = 0
    retrying: int = 0
    overdue: int = 0
    # The oldest one's request, and why its last attempt failed (None when none is waiting).
    oldest_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class OperationsFigures:
    deliveries: list[HostDeliveries] = field(default_factory=list)
    newsletter_pending: int = 0
    newsletter_failed: int = 0
    ghost_sync: GhostSyncRun = field(default_factory=lambda: GhostSyncRun(None, None))
    scrapes: list[ScrapeSourceRun] = field(default_factory=list)
    # None when no backup was ever recorded.
    backup: LastBackup | None = None
    media_erasures: MediaErasures = field(default_factory=MediaErasures)

    @property
    def deliveries_pending(self) -> int:
        return sum(h.pending for h in self.deliveries)

    @property
    def deliveries_retrying(self) -> int:
        return sum(h.retrying for h in self.deliveries)

    @property
    def deliveries_dead(self) -> int:
        return sum(h.dead for h in self.deliveries)

    @property
    def scrapes_running(self) -> int:
        return sum(1 for s in self.scrapes if s.status == "running")

    @property
    def scrapes_failed(self) -> int:
        return sum(1 for s in self.scrapes if s.status == "failed")


async def read_figures(session: AsyncSession) -> OperationsFigures:
    """The queues and the last runs, as the database holds them now."""
    return OperationsFigures(
        deliveries=await _deliveries(session),
        **await _newsletters(session),
        ghost_sync=await _ghost_sync(session),
        scrapes=await _scrapes(session),
        backup=await _last_backup(session),
        media_erasures=await _media_erasures(session),
    )


async def _media_erasures(session: AsyncSession) -> MediaErasures:
    waiting = MediaErasure.done_at.is_(None)
    overdue = MediaErasure.requested_at < func.now() - OVERDUE_AFTER
    pending, retrying, late, oldest_at = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(MediaErasure.attempts > 0),
                func.count().filter(overdue),
                func.min(MediaErasure.requested_at),
            ).where(waiting)
        )
    ).one()
    last_error = await session.scalar(
        select(MediaErasure.last_error)
        .where(waiting, MediaErasure.last_error.is_not(None))
        .order_by(MediaErasure.requested_at, MediaErasure.id)
        .limit(1)
    )
    return MediaErasures(pending, retrying, late, oldest_at, last_error)


async def _deliveries(session: AsyncSession) -> list[HostDeliveries]:
    # Delivered rows are history; the per-status index (status, host) answers the rest.
    waiting = and_(ApDelivery.status == "pending", ApDelivery.attempts == 0)
    retrying = and_(ApDelivery.status == "pending", ApDelivery.attempts > 0)
    rows = await session.execute(
        select(
            ApDelivery.host,
            func.count().filter(waiting),
            func.count().filter(retrying),
            func.count().filter(ApDelivery.status == "dead"),
        )
        .where(ApDelivery.status.in_(("pending", "dead")))
        .group_by(ApDelivery.host)
        .order_by(ApDelivery.host)
    )
    return [HostDeliveries(host, p, r, d) for host, p, r, d in rows]


async def _newsletters(session: AsyncSession) -> dict[str, int]:
    row = (
        await session.execute(
            select(
                func.count().filter(NewsletterDelivery.status == "pending"),
                func.count().filter(NewsletterDelivery.status == "failed"),
            ).where(NewsletterDelivery.status.in_(("pending", "failed")))
        )
    ).one()
    return {"newsletter_pending": row[0], "newsletter_failed": row[1]}


async def _ghost_sync(session: AsyncSession) -> GhostSyncRun:
    value = await session.scalar(
        select(GhostState.value).where(GhostState.name == GHOST_SCHEDULE_KEY)
    )
    if not value or not value.get("last_run_at"):
        return GhostSyncRun(None, None)
    error = value.get("error")
    return GhostSyncRun(datetime.fromisoformat(value["last_run_at"]), str(error) if error else None)


async def _last_backup(session: AsyncSession) -> LastBackup | None:
    row = (
        await session.execute(
            select(BackupRun.finished_at, BackupRun.name, BackupRun.total_bytes)
            .order_by(BackupRun.finished_at.desc(), BackupRun.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return LastBackup(*row) if row else None


async def _scrapes(session: AsyncSession) -> list[ScrapeSourceRun]:
    latest = select(
        ScrapeRun.source_id,
        ScrapeRun.status,
        ScrapeRun.started_at,
        ScrapeRun.finished_at,
        func.row_number()
        .over(
            partition_by=ScrapeRun.source_id,
            order_by=(ScrapeRun.started_at.desc(), ScrapeRun.id.desc()),
        )
        .label("n"),
    ).subquery()
    rows = await session.execute(
        select(
            ScrapeSource.id,
            Supplier.name,
            latest.c.status,
            latest.c.started_at,
            latest.c.finished_at,
        )
        .join(Supplier, Supplier.id == ScrapeSource.supplier_id)
        .outerjoin(latest, and_(latest.c.source_id == ScrapeSource.id, latest.c.n == 1))
        .order_by(ScrapeSource.id)
    )
    return [ScrapeSourceRun(*row) for row in rows]


@dataclass(frozen=True)
class AppReadiness:
    """One app's answer to ``/readyz``, in words: ready, what is down, or not answering."""

    app: str
    ready: bool
    words: str


async def apps_readiness(settings: Settings) -> list[AppReadiness]:
    """Ask every app's ``/readyz`` (its internal address, from the settings) at once."""
    timeout = settings.readiness_timeout_s + 1.0

    async def ask(client: httpx.AsyncClient, name: str) -> AppReadiness:
        url = settings.apps[name].internal_url + "/readyz"
        try:
            answer = await client.get(url)
        except httpx.HTTPError as err:
            return AppReadiness(name, False, f"not answering ({type(err).__name__})")
        if answer.status_code == 200:
            return AppReadiness(name, True, "ready")
        try:
            down = answer.json().get("down") or []
        except ValueError:
            down = []
        if down:
            return AppReadiness(name, False, f"answering, but cannot reach {' and '.join(down)}")
        return AppReadiness(name, False, f"answering {answer.status_code}")

    # The apps' own addresses from the settings, never one a stranger chose: no address guard.
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        return list(await asyncio.gather(*(ask(client, name) for name in APP_NAMES)))
