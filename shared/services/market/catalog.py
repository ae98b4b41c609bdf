"""The catalog domain's service (the market app): products as the cart sells them, and stock.

:class:`SqlCatalogService` is one object implementing
:class:`shared.contracts.CatalogService` (and so the cart's ``SellableProvider``),
put together from the parts of this package, each a module of its own:

- :mod:`~shared.services.market.stock`: what the cart sells and the stock counts. Stock only
  changes under :func:`shared.infrastructure.locking.lock_objects` (key ``("product", id)``):
  ``reserve`` checks the locks are held, reads the counts and writes them in the caller's
  transaction, all or nothing.
- :mod:`~shared.services.market.listings` and :mod:`~shared.services.market.search`: the
  market's pages read through the same service. Listings are one count, one page of products
  (with their supplier joined) and one query each for the page's images and categories,
  whatever the number of products (:mod:`~shared.services.market.queries`). The category tree
  is small and read whole.
- :mod:`~shared.services.market.suppliers`, :mod:`~shared.services.market.categories`,
  :mod:`~shared.services.market.products` and :mod:`~shared.services.market.pages`: staff
  writes. They check every field first and report every problem at once
  (:class:`~shared.contracts.errors.InvalidCatalogInput`), sanitize HTML, keep the price
  history and write an audit row (:mod:`~shared.services.market.editing`); the CSV import is
  all or nothing (:mod:`~shared.services.market.catalog_csv`).
- :mod:`~shared.services.market.fediverse` and :mod:`~shared.services.market.federating`:
  products and market pages as ActivityPub objects, looked up by URL and announced to the
  market actor's followers by the worker once a change has settled.
"""

from __future__ import annotations

from shared.contracts import FederationService
from shared.services.market.categories import CategoryEditing
from shared.services.market.federating import MarketFederating
from shared.services.market.listings import MarketListings
from shared.services.market.pages import MarketPages
from shared.services.market.products import ProductEditing
from shared.services.market.search import ProductSearch
from shared.services.market.stock import SellableSide
from shared.services.market.suppliers import SupplierEditing


class SqlCatalogService(
    MarketFederating,
    SellableSide,
    MarketListings,
    ProductSearch,
    MarketPages,
    SupplierEditing,
    CategoryEditing,
    ProductEditing,
):
    """Implements :class:`shared.contracts.CatalogService`."""

    def __init__(self, public_url: str = "", federation: FederationService | None = None) -> None:
        # The market's address as buyers see it: cart lines link back to the product there.
        self.public_url = public_url.rstrip("/")
        # The market actor announces products and pages through it (federating.py).
        self.federation = federation
