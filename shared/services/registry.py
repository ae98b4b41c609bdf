"""The one place that maps each domain protocol to its implementation, wired at start-up.

Routes, fragment handlers and other domains obtain services only from here::

    from shared.services.registry import services

    items = await services().blog.navigation(db_session())

``Services`` is typed by the protocols, so mypy checks every implementation against its
protocol where it is wired, and tests/shared/test_contracts.py checks it again at run time
(method present, async where declared, same parameters).

Some implementations are configured by the settings (identity: the key that signs email links,
the password-hashing cost). Each app wires its own set from its settings at start-up
(:func:`install`), and :func:`services` answers with that set inside the app; elsewhere
(workers, scripts, tests) it is the process's set, built from the environment's settings on
first use. In production both are the same: one process serves one app.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Quart, current_app, has_app_context

from shared.config import Settings, load_settings
from shared.contracts.protocols import (
    AccountService,
    BlogService,
    CartService,
    CatalogImportService,
    CatalogService,
    EventService,
    FederationService,
    IdentityService,
    SocialService,
)
from shared.services.account import SqlAccountService
from shared.services.blog import SqlBlogService
from shared.services.cart import SqlCartService
from shared.services.catalog import SqlCatalogService
from shared.services.catalog_import import SqlCatalogImportService
from shared.services.events import SqlEventService
from shared.services.federation import SqlFederationService
from shared.services.identity import SqlIdentityService
from shared.services.social import SqlSocialService

EXTENSION = "rose_services"


@dataclass(frozen=True)
class Services:
    """One implementation per domain protocol."""

    identity: IdentityService
    blog: BlogService
    catalog: CatalogService
    cart: CartService
    events: EventService
    account: AccountService
    federation: FederationService
    # The market's importer of supplier catalogues (scrape sources and runs).
    catalog_import: CatalogImportService
    social: SocialService


def default_services(settings: Settings | None = None) -> Services:
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
        account=SqlAccountService.from_settings(settings),
        federation=federation,
        catalog_import=SqlCatalogImportService(),
        social=social,
    )


_wired: Services | None = None


def wire(registry: Services | None = None) -> Services:
    """Install the process's implementations (wired on first use anyway); idempotent."""
    global _wired
    if registry is not None or _wired is None:
        _wired = registry or default_services()
    return _wired


def install(app: Quart, settings: Settings) -> Services:
    """Wire ``app``'s own implementations from its settings (the factory does this)."""
    wired = default_services(settings)
    app.extensions[EXTENSION] = wired
    return wired


def services() -> Services:
    """The services of the app in context, else the process's (wired on first use)."""
    if has_app_context():
        own = current_app.extensions.get(EXTENSION)
        if isinstance(own, Services):
            return own
    return _wired or wire()
