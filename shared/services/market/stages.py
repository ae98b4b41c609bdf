"""The market's stage in each cycle of ``rose-ash worker``: the scrape runs that are due start
in the background (shared/services/market/scrape/schedule.py), so a crawl never holds up
deliveries. ``rose-ash worker --once`` waits for them; a stopping worker cancels them."""

from __future__ import annotations

from collections.abc import Sequence

from shared.services.domain import WorkerContext, WorkerStage
from shared.services.market.scrape.schedule import ScrapeScheduler


def worker_stages(worker: WorkerContext) -> Sequence[WorkerStage]:
    scraper = ScrapeScheduler(worker.settings, worker.engine)
    return [WorkerStage(scraper.stage, drain=scraper.drain, close=scraper.close)]
