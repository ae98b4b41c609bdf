"""The cart's parts: orders, SumUp payments and their follow-up in the worker."""

from __future__ import annotations

from shared.config import Settings
from shared.services.cart.demo import seed_cart
from shared.services.cart.service import SqlCartService
from shared.services.cart.stages import worker_stages
from shared.services.domain import Domain, ServiceParts


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    # The cart sells what the domains offer through their SellableProvider side, by kind.
    providers = {"product": built["catalog"], "ticket": built["events"]}
    return {"cart": SqlCartService(settings, providers)}


DOMAIN = Domain(
    name="cart",
    build=build,
    worker_stages=worker_stages,
    # After the market's: it adds products only to an empty catalogue.
    demo_seeders=(seed_cart,),
)
