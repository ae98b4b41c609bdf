"""``Services``: one implementation per domain protocol, as an app or process has them wired.

Typed by the protocols, so mypy checks every implementation where it is built
(shared/services/registry.py) and every call made through ``services()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.protocols import (
    BlogService,
    CartService,
    CatalogImportService,
    CatalogService,
    EventService,
    FederationService,
    IdentityService,
    NewsletterService,
    SocialService,
)


@dataclass(frozen=True)
class Services:
    """One implementation per domain protocol."""

    identity: IdentityService
    blog: BlogService
    catalog: CatalogService
    cart: CartService
    events: EventService
    newsletters: NewsletterService
    federation: FederationService
    # The market's importer of supplier catalogues (scrape sources and runs).
    catalog_import: CatalogImportService
    social: SocialService
