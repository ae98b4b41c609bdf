"""The market's parts: the catalogue, supplier catalogue imports (CSV and scraping)."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, ServiceParts
from shared.services.market.catalog import SqlCatalogService
from shared.services.market.commands import add_commands
from shared.services.market.demo import seed_market, seed_scrape_source
from shared.services.market.importing import SqlCatalogImportService
from shared.services.market.stages import worker_stages


def build(settings: Settings, _built: ServiceParts) -> ServiceParts:
    return {
        "catalog": SqlCatalogService(settings.apps["market"].public_url),
        "catalog_import": SqlCatalogImportService(),
    }


DOMAIN = Domain(
    name="market",
    build=build,
    worker_stages=worker_stages,
    commands=add_commands,
    # The demo supplier's site comes after the catalogue.
    demo_seeders=(seed_market, seed_scrape_source),
)
