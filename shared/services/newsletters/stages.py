"""The newsletters' stage in each cycle of ``rose-ash worker``: send the messages that are due
(:class:`~shared.services.newsletters.sender.NewsletterSender`)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.services.domain import WorkerContext, WorkerStage
from shared.services.newsletters.sender import NewsletterSender


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    sender = NewsletterSender(worker.settings, worker.session_factory, worker.services.newsletters)
    return [WorkerStage(sender)]
