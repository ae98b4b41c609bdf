"""The blog's stages in each cycle of ``rose-ash worker``.

- :func:`scheduled_posts` publishes the scheduled posts whose time has come, so their
  ``Create`` is in the outbox and on its way in the same cycle; ``rose-ash blog publish-due``
  does the same by hand or from cron, and both can run at once.
- When a Ghost site is configured, :func:`ghost_stages` runs the Ghost sync once every
  ``ghost.sync_interval_s``: however many workers run, one of them syncs per interval.
- The blog's uploads whose last owner went are erased from the blog's store, where the worker
  finds it (shared/infrastructure/media_erasure.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import BlogService
from shared.infrastructure import media_erasure
from shared.services.blog import ghost_sync
from shared.services.domain import Stage, WorkerContext, WorkerStage

log = logging.getLogger("rose_ash.worker")


def scheduled_posts(session_factory: async_sessionmaker[AsyncSession], blog: BlogService) -> Stage:
    """A processor stage: publish the scheduled posts that are due, in one transaction;
    returns how many (rows are claimed with SKIP LOCKED, so workers side by side share them)."""

    async def stage() -> int:
        async with session_factory() as session, session.begin():
            return len(await blog.publish_due_scheduled(session))

    return stage


def ghost_stages(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> list[Stage]:
    """The periodic Ghost sync, when a Ghost is configured (see ghost_sync.periodic_sync)."""
    if not ghost_sync.periodic_configured(settings):
        if settings.ghost.url and settings.ghost.sync_interval_s:
            log.warning("ghost.url is set but ROSE_GHOST_CONTENT_KEY is not: no periodic sync")
        return []
    return [ghost_sync.periodic_sync(settings, session_factory)]


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    stages = [scheduled_posts(worker.session_factory, worker.services.blog)]
    stages += ghost_stages(worker.settings, worker.session_factory)
    stages.append(media_erasure.stage(worker.session_factory, worker.settings.media, "blog"))
    return [WorkerStage(stage) for stage in stages]
