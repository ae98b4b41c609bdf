"""Builds the domain services from the settings: one implementation per domain protocol.

Nothing here is wired on first use. An app installs its set at start-up
(``create_base_app(name, services=build_services)``); the worker, the CLI and the tests install
the process's with ``shared.infrastructure.context.use_services(build_services(settings))``.
Code reaches them through ``shared.infrastructure.context.services()``, typed by the protocols
(:class:`shared.contracts.Services`), so mypy checks every implementation where it is built and
tests/contracts/test_contracts.py checks it again at run time.
"""

from __future__ import annotations

from shared.config import Settings, load_settings
from shared.contracts.services import Services
from shared.services.blog.service import SqlBlogService
from shared.services.cart.service import SqlCartService
from shared.services.events.service import SqlEventService
from shared.services.federation.service import SqlFederationService
from shared.services.identity.service import SqlIdentityService
from shared.services.market.catalog import SqlCatalogService
from shared.services.market.importing import SqlCatalogImportService
from shared.services.newsletters.service import SqlNewsletterService
from shared.services.social.service import SqlSocialService


def build_services(settings: Settings | None = None) -> Services:
    """The implementations, configured by ``settings`` (the environment's when None)."""
    settings = settings or load_settings()
    # The blog announces its posts through federation, in the same transaction.
    # Members' actors (the social hub) receive through the same inbox as the app actors.
    social = SqlSocialService(settings)
    federation = SqlFederationService(settings, social=social)
    catalog = SqlCatalogService(settings.apps["market"].public_url)
    events = SqlEventService(settings.apps["events"].public_url, federation, settings=settings)
    # The cart sells what the domains offer through their SellableProvider side, by kind.
    cart = SqlCartService(settings, {"product": catalog, "ticket": events})
    return Services(
        identity=SqlIdentityService.from_settings(settings),
        blog=SqlBlogService(
            federation, settings.apps["blog"].public_url, settings.apps["market"].public_url
        ),
        catalog=catalog,
        cart=cart,
        events=events,
        newsletters=SqlNewsletterService.from_settings(settings),
        federation=federation,
        catalog_import=SqlCatalogImportService(),
        social=social,
    )
