"""The market's stages in each cycle of ``rose-ash worker``:

- the scrape runs that are due start in the background (shared/services/market/scrape/
  schedule.py), so a crawl never holds up deliveries. ``rose-ash worker --once`` waits for
  them; a stopping worker cancels them;
- products and market pages whose changes have settled are announced, updated or withdrawn
  on the fediverse (shared/services/market/federating.py), in one transaction a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.services.domain import Stage, WorkerContext, WorkerStage
from shared.services.market.scrape.schedule import ScrapeScheduler


def federating(worker: WorkerContext) -> Stage:
    quiet = timedelta(seconds=worker.settings.activitypub.object_quiet_s)

    async def stage() -> int:
        async with worker.session_factory() as session, session.begin():
            settled = datetime.now(UTC) - quiet
            return await worker.services.catalog.federate_due(session, settled=settled)

    return stage


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    scraper = ScrapeScheduler(worker.settings, worker.engine)
    return [
        WorkerStage(scraper.stage, drain=scraper.drain, close=scraper.close),
        WorkerStage(federating(worker)),
    ]
