"""The market's parts: the catalogue, supplier catalogue imports (CSV and scraping)."""

from __future__ import annotations

from shared.config import Settings
from shared.contracts.widgets import WidgetParam, WidgetType
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.market.catalog import SqlCatalogService
from shared.services.market.importing import SqlCatalogImportService


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    return {
        # The market actor publishes through federation (built before the market).
        "catalog": SqlCatalogService(settings.apps["market"].public_url, built["federation"]),
        "catalog_import": SqlCatalogImportService(),
    }


# The market's widgets (its fragments, market/bp/fragments): one product's card, the featured
# products, a category's products.
WIDGETS = (
    WidgetType(
        "market/product-card",
        "Product",
        "market/product-card",
        (WidgetParam("product", "product", required=True),),
    ),
    WidgetType("market/featured", "Featured products", "market/featured",
               (WidgetParam("count", "count"),)),
    WidgetType(
        "market/category",
        "A category's products",
        "market/category",
        (WidgetParam("category", "category", required=True), WidgetParam("count", "count")),
    ),
)  # fmt: skip

DOMAIN = Domain(
    name="market",
    build=build,
    worker_stages=Lazy("shared.services.market.stages:worker_stages"),
    commands=Lazy("shared.services.market.commands:add_commands"),
    # The demo supplier's site comes after the catalogue.
    demo_seeders=(
        Lazy("shared.services.market.demo:seed_market"),
        Lazy("shared.services.market.demo:seed_scrape_source"),
    ),
    widgets=WIDGETS,
)
