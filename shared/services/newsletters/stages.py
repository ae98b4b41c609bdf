"""The newsletters' stage in each cycle of ``rose-ash worker``: send the messages that are due
(:class:`~shared.services.newsletters.sender.NewsletterSender`), paced with every other
worker's through Redis (:class:`~shared.infrastructure.pace.SharedPace`)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.infrastructure.pace import SharedPace
from shared.services.domain import WorkerContext, WorkerStage
from shared.services.newsletters.sender import NewsletterSender

# Every worker's sender reserves its slots here: together they keep newsletters.rate_per_s.
PACE_KEY = "newsletters:pace"


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    pace = SharedPace(worker.redis, PACE_KEY) if worker.redis is not None else None
    sender = NewsletterSender(
        worker.settings, worker.session_factory, worker.services.newsletters, pace=pace
    )
    return [WorkerStage(sender)]
