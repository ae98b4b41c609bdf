"""``Services``: one implementation per domain protocol, as an app or process has them wired.

Typed by the protocols, so mypy checks every implementation where it is built
(shared/services/registry.py) and every call made through ``services()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.blog import BlogService
from shared.contracts.cart import CartService
from shared.contracts.events import EventService
from shared.contracts.federation import FederationService
from shared.contracts.identity import IdentityService
from shared.contracts.market import CatalogImportService, CatalogService
from shared.contracts.newsletters import NewsletterService
from shared.contracts.social import SocialService


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
