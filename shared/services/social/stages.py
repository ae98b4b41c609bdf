"""The social hub's stage in each cycle of ``rose-ash worker``: the members' images whose last
owner went (a replaced avatar, a deleted post, an erased member) are erased from the social
hub's store, where the worker finds it (shared/infrastructure/media_erasure.py)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.infrastructure import media_erasure
from shared.services.domain import WorkerContext, WorkerStage


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    return [
        WorkerStage(media_erasure.stage(worker.session_factory, worker.settings.media, "social"))
    ]
