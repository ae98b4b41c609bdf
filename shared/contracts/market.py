"""The market's contracts: the catalogue (suppliers, products, categories, pages, CSV) and
the import of supplier catalogues (scrape sources, runs, what a crawl found)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.common import Money, Paginated, SellableProvider
from shared.contracts.federation import ApObjectDTO

# --- the catalogue ----------------------------------------------------------------------


def parse_amount_minor(value: str) -> int:
    """``"4.50"`` (or ``"4"``, ``"£4.50"``) in integer minor units; ValueError when it is not a
    plain amount with at most two decimals (never through a float)."""
    text = value.strip().lstrip("£€$").strip()
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not an amount: {value!r}")
    major, minor = match.group(1), (match.group(2) or "").ljust(2, "0")
    amount = int(major) * 100 + int(minor)
    if amount > MAX_PRICE_MINOR:
        raise ValueError(f"amount too large: {value!r}")
    return amount


_AMOUNT_RE = re.compile(r"(\d{1,8})(?:\.(\d{1,2}))?")
# The price column is a 32-bit integer: a million pounds is far beyond any product.
MAX_PRICE_MINOR = 100_000_000


@dataclass(frozen=True)
class SupplierDTO:
    id: int
    slug: str
    name: str
    website: str | None = None
    description: str | None = None  # sanitized HTML
    logo_url: str | None = None


@dataclass(frozen=True)
class CategoryDTO:
    """A node of the category tree; ``children`` is filled where a tree is asked for."""

    id: int
    slug: str
    name: str
    description: str | None = None
    parent_id: int | None = None
    position: int = 0
    children: tuple[CategoryDTO, ...] = ()


@dataclass(frozen=True)
class ProductImageDTO:
    url: str
    alt: str = ""


@dataclass(frozen=True)
class ProductDTO:
    """A product as pages show it; ``description`` is sanitized HTML, ``price`` exact."""

    id: int
    slug: str
    title: str
    summary: str | None
    description: str | None
    price: Money
    unit: str
    stock: int | None  # None: unlimited
    available: bool
    featured: bool
    supplier: SupplierDTO | None
    categories: tuple[CategoryDTO, ...]
    images: tuple[ProductImageDTO, ...]
    created_at: datetime
    updated_at: datetime
    sku: str | None = None
    source_url: str | None = None
    last_imported_at: datetime | None = None

    @property
    def in_stock(self) -> bool:
        """Whether it can be bought now: available, and unlimited or some left."""
        return self.available and (self.stock is None or self.stock > 0)

    @property
    def image(self) -> ProductImageDTO | None:
        return self.images[0] if self.images else None


# How listings may be sorted (the first is the default).
PRODUCT_SORTS = ("newest", "price-asc", "price-desc", "name")


@dataclass(frozen=True)
class ProductFilters:
    """What a visitor narrows a listing by; prices in minor units, bounds included."""

    category: str | None = None  # a slug: the category and all its sub-categories
    supplier: str | None = None  # a slug
    in_stock: bool = False
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    sort: str = "newest"


@dataclass(frozen=True)
class ProductPage(Paginated):
    """One page of a listing. The public listings page by keyset: ``next_after`` is the cursor
    of the next page (None on the last), ``after`` the one this page was asked for; ``?page=N``
    still works (by offset). Their ``total`` is counted up to a cap: ``total_capped`` says
    there are more than ``total`` (decision 0105)."""

    products: tuple[ProductDTO, ...]
    page: int
    per_page: int
    total: int
    next_after: str | None = None
    after: str | None = None
    total_capped: bool = False


@dataclass(frozen=True)
class MarketHome:
    categories: tuple[CategoryDTO, ...]  # the tree's top level, each with its children
    featured: tuple[ProductDTO, ...]
    latest: tuple[ProductDTO, ...]


@dataclass(frozen=True)
class CategoryListing:
    """A category's page: where it sits (``trail``, top first), what is under it, and one
    page of its products and those of its sub-categories, filtered and sorted."""

    category: CategoryDTO
    trail: tuple[CategoryDTO, ...]
    children: tuple[CategoryDTO, ...]
    products: ProductPage
    suppliers: tuple[SupplierDTO, ...]  # for the supplier filter


@dataclass(frozen=True)
class SupplierListing:
    supplier: SupplierDTO
    products: ProductPage


@dataclass(frozen=True)
class ProductSearchHit:
    """``snippet`` is safe HTML: escaped text whose only markup is our ``<mark>``."""

    product: ProductDTO
    rank: float
    snippet: str


@dataclass(frozen=True)
class ProductSearchResults(Paginated):
    query: str
    hits: tuple[ProductSearchHit, ...]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class MarketPageItemDTO:
    """One entry of a market page: a product or a category, exactly one of them."""

    position: int
    product: ProductDTO | None = None
    category: CategoryDTO | None = None


@dataclass(frozen=True)
class MarketPageDTO:
    id: int
    slug: str
    title: str
    intro: str | None  # sanitized HTML
    published: bool
    items: tuple[MarketPageItemDTO, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SupplierInput:
    """Staff's supplier form; ``slug`` empty means "from the name"."""

    name: str
    slug: str = ""
    website: str | None = None
    description: str = ""  # any HTML: sanitized by the service
    logo_url: str | None = None


@dataclass(frozen=True)
class CategoryInput:
    name: str
    slug: str = ""
    description: str = ""
    parent_id: int | None = None
    position: int = 0


@dataclass(frozen=True)
class ProductInput:
    """Staff's product form or a CSV row. ``supplier`` and ``categories`` are slugs."""

    title: str
    price_minor: int
    slug: str = ""
    summary: str = ""
    description: str = ""  # any HTML: sanitized by the service
    sku: str = ""
    supplier: str = ""
    categories: tuple[str, ...] = ()
    currency: str = "GBP"
    unit: str = "each"
    stock: int | None = None  # None: unlimited
    available: bool = True
    featured: bool = False
    images: tuple[ProductImageDTO, ...] = ()


@dataclass(frozen=True)
class MarketPageInput:
    """``items`` in order: ``("product", slug)`` or ``("category", slug)``."""

    title: str
    slug: str = ""
    intro: str = ""
    published: bool = False
    items: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CsvRowError:
    """Why one line of an imported CSV file was refused (``line`` counts the header as 1)."""

    line: int
    message: str


@dataclass(frozen=True)
class CsvImportReport:
    created: int
    updated: int
    unchanged: int


class CatalogService(SellableProvider, Protocol):
    """Suppliers, products and categories (the market app)."""

    async def set_stock(self, session: AsyncSession, product_id: int, stock: int | None) -> None:
        """Set a product's stock count (None: unlimited), under the product's lock."""
        ...

    # -- the market's pages (available products only; ``NotFound`` for unknown slugs) --

    async def market_home(
        self, session: AsyncSession, *, featured_limit: int = 8, latest_limit: int = 8
    ) -> MarketHome:
        """The category tree, featured products and the newest products."""
        ...

    async def products(
        self,
        session: AsyncSession,
        filters: ProductFilters,
        *,
        page: int = 1,
        per_page: int = 24,
        after: str | None = None,
    ) -> ProductPage:
        """One page of the products ``filters`` select, sorted as they say: the ``page``-th,
        or the one after the cursor ``after`` (a bad cursor is a ``DomainError``, 400)."""
        ...

    async def category_listing(
        self,
        session: AsyncSession,
        slug: str,
        filters: ProductFilters,
        *,
        page: int = 1,
        per_page: int = 24,
        after: str | None = None,
    ) -> CategoryListing:
        """A category with its trail, sub-categories and its (and their) products (paged as
        :meth:`products` is)."""
        ...

    async def supplier_listing(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 24,
        after: str | None = None,
    ) -> SupplierListing:
        """A supplier and one page of its products (paged as :meth:`products` is)."""
        ...

    async def product_by_slug(self, session: AsyncSession, slug: str) -> ProductDTO:
        """A product (also when unavailable: its page says so)."""
        ...

    async def product_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """The product at ``slug`` as an ActivityStreams ``Note`` under its page's URL (what a
        server asking for ActivityStreams gets there), or None."""
        ...

    async def page_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """The published market page at ``slug`` as an ``Article`` under its URL, or None."""
        ...

    async def federate_due(
        self, session: AsyncSession, *, settled: datetime, limit: int = 50
    ) -> int:
        """Announce, update or withdraw on the fediverse the products and market pages whose
        last change is older than ``settled`` (the worker's stage); returns how many
        activities were written to the outbox."""
        ...

    async def product_by_id(self, session: AsyncSession, product_id: int) -> ProductDTO:
        """A product by id (also when unavailable)."""
        ...

    async def search_products(
        self, session: AsyncSession, query: str, *, page: int = 1, per_page: int = 24
    ) -> ProductSearchResults:
        """Available products matching ``query`` (web-search syntax), best first, with
        highlighted snippets."""
        ...

    async def featured_products(
        self, session: AsyncSession, *, limit: int = 4
    ) -> tuple[ProductDTO, ...]:
        """Featured available products, newest first."""
        ...

    async def category_tree(self, session: AsyncSession) -> tuple[CategoryDTO, ...]:
        """The top-level categories, each with its sub-categories, in order."""
        ...

    async def suppliers(self, session: AsyncSession) -> tuple[SupplierDTO, ...]:
        """Every supplier, by name."""
        ...

    async def market_page(
        self, session: AsyncSession, slug: str, *, include_unpublished: bool = False
    ) -> MarketPageDTO:
        """A curated page with its items in order (unavailable products left out)."""
        ...

    async def market_pages(
        self, session: AsyncSession, *, include_unpublished: bool = False
    ) -> tuple[MarketPageDTO, ...]:
        """The market pages (without their items), by title."""
        ...

    # -- staff (editors and admins); refusals are InvalidCatalogInput, Conflict or NotFound --

    async def staff_products(
        self, session: AsyncSession, *, query: str = "", page: int = 1, per_page: int = 50
    ) -> ProductPage:
        """Every product, unavailable ones too, newest first (``query`` narrows by title,
        slug or SKU)."""
        ...

    async def get_supplier(self, session: AsyncSession, supplier_id: int) -> SupplierDTO:
        """A supplier by id."""
        ...

    async def create_supplier(
        self, session: AsyncSession, data: SupplierInput, *, actor_user_id: int | None = None
    ) -> SupplierDTO:
        """Add a supplier (description sanitized); audited."""
        ...

    async def update_supplier(
        self,
        session: AsyncSession,
        supplier_id: int,
        data: SupplierInput,
        *,
        actor_user_id: int | None = None,
    ) -> SupplierDTO:
        """Change a supplier; audited."""
        ...

    async def delete_supplier(
        self, session: AsyncSession, supplier_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a supplier that has no products; audited."""
        ...

    async def get_category(self, session: AsyncSession, category_id: int) -> CategoryDTO:
        """A category by id."""
        ...

    async def create_category(
        self, session: AsyncSession, data: CategoryInput, *, actor_user_id: int | None = None
    ) -> CategoryDTO:
        """Add a category under ``data.parent_id`` (or at the top); audited."""
        ...

    async def update_category(
        self,
        session: AsyncSession,
        category_id: int,
        data: CategoryInput,
        *,
        actor_user_id: int | None = None,
    ) -> CategoryDTO:
        """Change a category; it cannot move under itself or its own descendants."""
        ...

    async def delete_category(
        self, session: AsyncSession, category_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a category without sub-categories or products; audited."""
        ...

    async def create_product(
        self, session: AsyncSession, data: ProductInput, *, actor_user_id: int | None = None
    ) -> ProductDTO:
        """Add a product (its first price recorded in the price history); audited."""
        ...

    async def update_product(
        self,
        session: AsyncSession,
        product_id: int,
        data: ProductInput,
        *,
        actor_user_id: int | None = None,
    ) -> ProductDTO:
        """Replace a product's fields; a new price is recorded (source ``staff``) and a new
        stock count goes through :meth:`set_stock`; audited."""
        ...

    async def get_market_page(self, session: AsyncSession, page_id: int) -> MarketPageDTO:
        """A market page by id, published or not, with every item."""
        ...

    async def create_market_page(
        self, session: AsyncSession, data: MarketPageInput, *, actor_user_id: int | None = None
    ) -> MarketPageDTO:
        """Compose a market page; audited."""
        ...

    async def update_market_page(
        self,
        session: AsyncSession,
        page_id: int,
        data: MarketPageInput,
        *,
        actor_user_id: int | None = None,
    ) -> MarketPageDTO:
        """Replace a market page's fields and items; audited."""
        ...

    async def delete_market_page(
        self, session: AsyncSession, page_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a market page; audited."""
        ...

    async def export_products_csv(self, session: AsyncSession) -> str:
        """Every product as CSV, in the columns :meth:`import_products_csv` reads."""
        ...

    async def import_products_csv(
        self, session: AsyncSession, text: str, *, actor_user_id: int | None = None
    ) -> CsvImportReport:
        """Create or update products from CSV rows (matched by slug), all or nothing:
        :class:`~shared.contracts.errors.CsvImportRefused` lists every bad line."""
        ...


# --- importing supplier catalogues (shared/services/market/scrape/) ------------------------


@dataclass(frozen=True)
class ScrapedProduct:
    """A product as a supplier's page describes it (schema.org Product/Offer or OpenGraph).

    ``url`` is the page (the product's ``source_url``); ``price_minor`` is already integer
    minor units of ``currency``; ``description`` is sanitized HTML ("" when there is none).
    """

    url: str
    title: str
    price_minor: int
    currency: str
    available: bool
    description: str = ""
    sku: str | None = None
    images: tuple[str, ...] = ()
    syntax: str = "json-ld"  # json-ld, microdata, rdfa or opengraph


@dataclass(frozen=True)
class KnownPage:
    """What a page answered at the last run: validators for a conditional request, the hash
    of its body, and what was extracted from it then."""

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    product: ScrapedProduct | None
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrawledPage:
    """One page of a crawl: what it holds now (``product``, ``links``), its validators, and
    ``not_modified`` when it answered 304. ``gone`` is a page that answered 404/410."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    product: ScrapedProduct | None = None
    links: tuple[str, ...] = ()
    not_modified: bool = False
    gone: bool = False


@dataclass(frozen=True)
class ScrapeErrorDTO:
    url: str
    error: str


@dataclass(frozen=True)
class CrawlResult:
    """What a crawl saw. ``complete`` is True when it walked the whole site (nothing left
    unvisited for the page limit, the start page answered): only then may products it did not
    see be marked unavailable. ``failed`` pages (timeouts, refusals, malformed pages) keep
    their products as they were."""

    pages: tuple[CrawledPage, ...]
    errors: tuple[ScrapeErrorDTO, ...]
    pages_fetched: int
    complete: bool
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScrapeSourceInput:
    start_url: str
    kind: str = "page"  # page or sitemap
    interval_hours: int = 24
    max_pages: int | None = None
    currency: str | None = None  # when pages do not say
    enabled: bool = True


@dataclass(frozen=True)
class ScrapeSourceDTO:
    id: int
    supplier_id: int
    supplier_slug: str
    supplier_name: str
    start_url: str
    kind: str
    enabled: bool
    interval_hours: int
    max_pages: int | None
    currency: str | None
    delay_s: int | None
    last_run_at: datetime | None
    run_requested: bool


@dataclass(frozen=True)
class ScrapeRunDTO:
    id: int
    source_id: int
    status: str  # running, finished, failed
    started_at: datetime
    finished_at: datetime | None
    pages_fetched: int
    created: int
    updated: int
    unchanged: int
    unavailable: int
    errors: tuple[ScrapeErrorDTO, ...]


@dataclass(frozen=True)
class ScrapeRunStart:
    """A run just begun: its id, the source, and what its pages answered last time."""

    run: ScrapeRunDTO
    source: ScrapeSourceDTO
    known: tuple[KnownPage, ...]


@dataclass(frozen=True)
class ScrapeSupplierDTO:
    """A supplier as the importer's staff pages list it."""

    id: int
    slug: str
    name: str
    website: str | None
    sources: int


class CatalogImportService(Protocol):
    """Importing supplier catalogues (the market's scraper): scrape sources, their runs, and
    storing what a crawl found. The crawl itself is :mod:`shared.services.market.scrape`."""

    async def scrape_suppliers(self, session: AsyncSession) -> tuple[ScrapeSupplierDTO, ...]:
        """Every supplier with how many scrape sources it has, by name."""
        ...

    async def scrape_supplier(self, session: AsyncSession, slug: str) -> ScrapeSupplierDTO:
        """One supplier by slug; NotFound otherwise."""
        ...

    async def supplier_sources(
        self, session: AsyncSession, supplier_id: int
    ) -> tuple[ScrapeSourceDTO, ...]:
        """A supplier's scrape sources, oldest first."""
        ...

    async def scrape_source(self, session: AsyncSession, source_id: int) -> ScrapeSourceDTO:
        """One source; NotFound otherwise."""
        ...

    async def add_scrape_source(
        self,
        session: AsyncSession,
        supplier_id: int,
        data: ScrapeSourceInput,
        actor_user_id: int | None,
    ) -> ScrapeSourceDTO:
        """Validate and add a source (InvalidScrapeSource names the field at fault)."""
        ...

    async def set_scrape_source_enabled(
        self, session: AsyncSession, source_id: int, enabled: bool, actor_user_id: int | None
    ) -> ScrapeSourceDTO:
        """Turn a source's scheduled runs on or off."""
        ...

    async def request_scrape_run(
        self, session: AsyncSession, source_id: int, actor_user_id: int | None
    ) -> ScrapeSourceDTO:
        """Queue a run of this source for the worker (once, however often asked)."""
        ...

    async def scrape_runs(
        self, session: AsyncSession, source_id: int, limit: int
    ) -> tuple[ScrapeRunDTO, ...]:
        """A source's latest runs, newest first."""
        ...

    async def scrape_run(self, session: AsyncSession, run_id: int) -> ScrapeRunDTO:
        """One run; NotFound otherwise."""
        ...

    async def due_scrape_sources(self, session: AsyncSession, now: datetime) -> tuple[int, ...]:
        """Sources to run now: requested by staff, or enabled and due by their interval."""
        ...

    async def start_scrape_run(
        self, session: AsyncSession, source_id: int, now: datetime
    ) -> ScrapeRunStart:
        """Begin a run; the caller holds the source's run lock."""
        ...

    async def finish_scrape_run(
        self, session: AsyncSession, run_id: int, result: CrawlResult, now: datetime
    ) -> ScrapeRunDTO:
        """Store what the crawl found and the run's counts, in the caller's transaction."""
        ...

    async def fail_scrape_run(
        self, session: AsyncSession, run_id: int, error: str, pages_fetched: int, now: datetime
    ) -> ScrapeRunDTO:
        """Record that a run stopped before storing anything."""
        ...
