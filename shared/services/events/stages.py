"""The events domain's stage in each cycle of ``rose-ash worker``: :func:`occurrence_federation`
announces the occurrences of recurring events as they come within the horizon
(:mod:`shared.services.events.federate`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import EventService
from shared.services.domain import Stage, WorkerContext, WorkerStage

# How often the stage looks: an occurrence is announced at most this late after it came
# within the twelve weeks' horizon (an edit announces at once).
EVERY_S = 600.0


def occurrence_federation(
    session_factory: async_sessionmaker[AsyncSession],
    events: EventService,
    *,
    every_s: float = EVERY_S,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Stage:
    """A processor stage: once every ``every_s`` (the first cycle at once), announce what came
    within the horizon, in one transaction; returns how many activities it published. Events
    are locked while looked at (SKIP LOCKED) and what was announced is remembered in the same
    transaction, so workers side by side, or one after a crash, announce nothing twice."""
    last: float | None = None

    async def stage() -> int:
        nonlocal last
        if last is not None and time.monotonic() - last < every_s:
            return 0
        async with session_factory() as session, session.begin():
            done = await events.federate_occurrences(session, now=clock())
        last = time.monotonic()
        return done

    return stage


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    return [WorkerStage(occurrence_federation(worker.session_factory, worker.services.events))]
