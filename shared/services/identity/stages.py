"""The identity domain's stage in each cycle of ``rose-ash worker``: back-channel logout
tokens to the tools members signed in to (:mod:`shared.services.identity.oidc.backchannel`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.services.domain import WorkerContext, WorkerStage
from shared.services.identity.oidc.backchannel import backchannel_cycle, guarded_http
from shared.services.identity.oidc.clients import load_signing_key

log = logging.getLogger("rose_ash.worker")


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    settings = worker.settings
    if not settings.secrets.oidc_private_key:
        log.info("no ROSE_OIDC_PRIVATE_KEY: back-channel logout is not sent by this worker")
        return []
    key = load_signing_key(settings)
    issuer = settings.apps["federation"].public_url
    http = guarded_http(settings)

    async def stage() -> int:
        return await backchannel_cycle(worker.session_factory, http, key, issuer)

    return [WorkerStage(stage, close=http.aclose)]
