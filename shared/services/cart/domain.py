"""The cart's parts: orders, SumUp payments and their follow-up in the worker."""

from __future__ import annotations

from shared.config import Settings
from shared.services.cart.service import SqlCartService
from shared.services.domain import Domain, Lazy, ServiceParts


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    # The cart sells what the domains offer through their SellableProvider side, by kind.
    providers = {"product": built["catalog"], "ticket": built["events"]}
    return {"cart": SqlCartService(settings, providers)}


DOMAIN = Domain(
    name="cart",
    build=build,
    worker_stages=Lazy("shared.services.cart.stages:worker_stages"),
    # After the market's: it adds products only to an empty catalogue.
    demo_seeders=(Lazy("shared.services.cart.demo:seed_cart"),),
)
