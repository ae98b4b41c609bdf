"""The frozen dataclasses that cross domain boundaries (ORM objects never do)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class UserDTO:
    """A member or staff account as other domains see it (no email, no password hash)."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        """What to call the person on a page."""
        return self.display_name or self.username

    def has_role(self, role: str) -> bool:
        """Admins hold every role."""
        return role in self.roles or "admin" in self.roles


@dataclass(frozen=True)
class AccountDTO:
    """A member's own account details (federation's settings pages, the CLI, admins)."""

    id: int
    email: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    email_verified: bool
    is_active: bool
    has_password: bool
    created_at: datetime

    def user(self) -> UserDTO:
        return UserDTO(self.id, self.username, self.display_name, self.roles)


@dataclass(frozen=True)
class SignUpRequest:
    email: str
    username: str
    password: str
    display_name: str = ""


@dataclass(frozen=True)
class SignUpResult:
    """``account`` is None when the email was already registered: the caller answers exactly
    as for a new account (no enumeration) and emails the owner instead."""

    account: AccountDTO | None
    existing: AccountDTO | None


@dataclass(frozen=True)
class SessionDTO:
    """A sign-in at federation; ``sid`` is shared by every app's session and ID token."""

    sid: str
    user_id: int
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class EmailChange:
    """A pending change of address, carried by the signed link sent to the new address."""

    user_id: int
    old_email: str
    new_email: str


# --- blog -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItemDTO:
    """A site navigation link: into an app (``app`` and a path) or elsewhere (an https URL).

    A top-level item carries its sub-items (``children``, one level deep) in order.
    """

    label: str
    app: str | None
    path: str
    id: int = 0
    parent_id: int | None = None
    children: tuple[NavItemDTO, ...] = ()
    # Adopted from Ghost's navigation by the Ghost sync: editors cannot change it here.
    from_ghost: bool = False


@dataclass(frozen=True)
class NavItemInput:
    """An editor's navigation link: ``app`` empty for an absolute https URL in ``path``."""

    label: str
    app: str | None
    path: str
    parent_id: int | None = None


@dataclass(frozen=True)
class GhostNavReport:
    """What replacing the Ghost links of the navigation did: ``changed`` when the stored
    links differ from before; ``skipped`` holds (label, error code) of links refused."""

    changed: bool
    stored: int
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TagDTO:
    id: int
    slug: str
    name: str
    description: str | None = None
    visibility: str = "public"


@dataclass(frozen=True)
class AuthorDTO:
    id: int
    slug: str
    name: str
    bio: str | None = None
    profile_image: str | None = None
    website: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class PostDTO:
    """A post or a page (``kind``). ``html`` is sanitized: render it as-is.

    ``locked`` means the item is members-only and was read for a viewer who is not a
    member: ``html`` is then empty (the service never hands the body out) and the page
    shows ``excerpt`` with an invitation to sign in.
    """

    id: int
    kind: str
    title: str
    slug: str
    html: str
    excerpt: str
    feature_image: str | None
    feature_image_alt: str | None
    status: str
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    featured: bool
    visibility: str
    meta_title: str | None = None
    meta_description: str | None = None
    og_title: str | None = None
    og_description: str | None = None
    og_image: str | None = None
    canonical_url: str | None = None
    ghost_id: str | None = None
    tags: tuple[TagDTO, ...] = ()
    authors: tuple[AuthorDTO, ...] = ()
    locked: bool = False

    @property
    def members_only(self) -> bool:
        return self.visibility == "members"

    @property
    def primary_tag(self) -> TagDTO | None:
        return self.tags[0] if self.tags else None


class Paginated:
    """Page arithmetic for a listing dataclass with ``page``, ``per_page`` and ``total``."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class PostPage(Paginated):
    """One page of a listing."""

    posts: tuple[PostDTO, ...]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class HomePage:
    featured: tuple[PostDTO, ...]
    latest: PostPage


@dataclass(frozen=True)
class SlugLookup:
    """A post found by slug; ``moved`` when the slug asked for is an old one (answer 301)."""

    post: PostDTO
    moved: bool


@dataclass(frozen=True)
class TagArchive:
    tag: TagDTO
    posts: PostPage


@dataclass(frozen=True)
class AuthorArchive:
    author: AuthorDTO
    posts: PostPage


@dataclass(frozen=True)
class SearchHit:
    """``snippet`` is safe HTML: escaped text whose only markup is our ``<mark>``."""

    post: PostDTO
    rank: float
    snippet: str


@dataclass(frozen=True)
class SearchResults(Paginated):
    query: str
    hits: tuple[SearchHit, ...]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class PostInput:
    """What an editor (or the Ghost sync) gives to create or replace a post or page.

    ``html`` may be anything: the service sanitizes it. ``slug`` empty means "from the
    title". ``tags`` are names or slugs (made when missing); ``authors`` are author slugs
    (which must exist). Status changes go through publish/schedule/unpublish, not here.
    """

    title: str
    html: str = ""
    kind: str = "post"
    slug: str = ""
    excerpt: str = ""
    feature_image: str | None = None
    feature_image_alt: str | None = None
    featured: bool = False
    visibility: str = "public"
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    meta_title: str | None = None
    meta_description: str | None = None
    og_title: str | None = None
    og_description: str | None = None
    og_image: str | None = None
    canonical_url: str | None = None


@dataclass(frozen=True)
class SitemapEntry:
    """One public URL of the blog: ``kind`` is post, page, tag or author."""

    kind: str
    slug: str
    updated_at: datetime | None


@dataclass(frozen=True)
class SyncedTag:
    """A public tag as Ghost has it, validated by the sync (``ghost_id`` is Ghost's id)."""

    ghost_id: str
    slug: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class SyncedAuthor:
    """An author as Ghost has them, validated by the sync."""

    ghost_id: str
    slug: str
    name: str
    bio: str | None = None
    profile_image: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class SyncReport:
    """What one Ghost sync run did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    tags: int = 0
    authors: int = 0


# --- money and things the cart sells ----------------------------------------------------


@dataclass(frozen=True, order=True)
class Money:
    """An amount in integer minor units (pence, cents) of an ISO 4217 currency; never a float.

    Sums and multiples are exact; adding two currencies is a programming error. Rounding,
    where a rule ever needs it (a percentage refund), is the cart's, in one place.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("Money takes integer minor units")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def decimal_str(self) -> str:
        """``"12.50"``: the amount in major units as SumUp and forms write it (2 decimals)."""
        sign = "-" if self.amount_minor < 0 else ""
        major, minor = divmod(abs(self.amount_minor), 100)
        return f"{sign}{major}.{minor:02d}"

    def __str__(self) -> str:
        symbol = CURRENCY_SYMBOLS.get(self.currency)
        if symbol is None:
            return f"{self.decimal_str()} {self.currency}"
        if self.amount_minor < 0:
            return f"-{symbol}{Money(-self.amount_minor, self.currency).decimal_str()}"
        return f"{symbol}{self.decimal_str()}"


CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


@dataclass(frozen=True)
class SellableDTO:
    """Something a domain sells through the cart (a product, a ticket type), as it is now:
    the cart re-reads this at checkout and never trusts a price from the browser.

    ``stock`` is how many are left (None: unlimited); ``available`` is False when it cannot be
    bought at all (withdrawn, sold out, an event that has passed).
    """

    kind: str  # "product" (CatalogService) or "ticket" (EventService)
    id: int
    title: str
    price: Money
    available: bool
    stock: int | None
    url: str
    image_url: str | None = None
    unit: str = "each"


@dataclass(frozen=True)
class FulfilmentLine:
    """An order line that has been paid, handed to the domain that sold it (tickets are
    issued then). ``order_line_id`` makes fulfilment idempotent."""

    order_id: int
    order_line_id: int
    item_id: int
    quantity: int
    buyer_user_id: int | None
    buyer_email: str
    buyer_name: str


# --- market catalogue -------------------------------------------------------------------


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
    products: tuple[ProductDTO, ...]
    page: int
    per_page: int
    total: int


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


# --- cart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a member, or an anonymous visitor's cart key — exactly one of them."""

    user_id: int | None = None
    cart_key: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.cart_key is None):
            raise ValueError("a cart belongs to a member or to a cart key, exactly one")


@dataclass(frozen=True)
class CartSummaryDTO:
    """What the header shows of a cart: how many items and what they cost now (None when
    empty)."""

    item_count: int
    total: Money | None = None


@dataclass(frozen=True)
class CartLineDTO:
    """A cart line as it can be bought now: the owning domain's current title, price and
    stock. ``problem`` is ``"unavailable"`` (cannot be bought at all) or ``"short"`` (fewer
    left than asked: ``stock`` says how many), else None."""

    kind: str
    item_id: int
    quantity: int
    title: str
    unit_price: Money | None
    line_total: Money | None
    stock: int | None
    url: str
    image_url: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class CartDTO:
    lines: tuple[CartLineDTO, ...]
    total: Money | None
    item_count: int

    @property
    def can_check_out(self) -> bool:
        return bool(self.lines) and all(line.problem is None for line in self.lines)


@dataclass(frozen=True)
class CheckoutDetails:
    """What the buyer tells the checkout (already checked by the service)."""

    email: str
    name: str
    fulfilment: str  # "collection" | "delivery"
    phone: str = ""
    address: str = ""
    notes: str = ""


@dataclass(frozen=True)
class OrderLineDTO:
    id: int
    kind: str
    item_id: int
    title: str
    unit_price: Money
    quantity: int
    line_total: Money
    url: str


@dataclass(frozen=True)
class PaymentDTO:
    """The order's SumUp checkout as last read from SumUp."""

    status: str  # NEW (not created yet) | PENDING | PAID | FAILED | EXPIRED
    checkout_id: str | None
    hosted_url: str
    amount: Money
    transaction_id: str | None
    transaction_code: str | None
    last_error: str
    # Which attempt this checkout is (a new one after SumUp reported FAILED or EXPIRED).
    attempt: int = 1
    created_at: datetime | None = None


@dataclass(frozen=True)
class RefundDTO:
    id: int
    amount: Money
    transaction_id: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class OrderSummaryDTO:
    """An order in a list (account, staff admin)."""

    id: int
    status: str
    total: Money
    item_count: int
    email: str
    name: str
    created_at: datetime
    needs_attention: bool


@dataclass(frozen=True)
class OrderDTO:
    id: int
    user_id: int | None
    status: str
    email: str
    name: str
    phone: str
    fulfilment: str
    address: str
    notes: str
    total: Money
    refunded: Money
    created_at: datetime
    paid_at: datetime | None
    reserved_until: datetime | None
    needs_attention: bool
    attention_reason: str
    lines: tuple[OrderLineDTO, ...]
    payment: PaymentDTO | None
    refunds: tuple[RefundDTO, ...]
    # Every payment attempt, oldest first (``payment`` is the latest).
    payments: tuple[PaymentDTO, ...] = ()

    @property
    def refundable(self) -> Money:
        return self.total - self.refunded

    @property
    def awaiting_payment(self) -> bool:
        return self.status == "pending_payment"


@dataclass(frozen=True)
class SyncOutcome:
    """What a re-read of a checkout did: ``paid`` (this call marked the order paid),
    ``unchanged``, ``unknown`` (no such checkout of ours), ``flagged`` (mismatch, staff)."""

    result: str
    order_id: int | None = None


# --- federation (ActivityPub) ---------------------------------------------------------


@dataclass(frozen=True)
class ApObjectDTO:
    """An ActivityStreams document as JSON: an object a domain publishes (an ``Article``, an
    ``Event``), or an activity received from another server."""

    data: Mapping[str, Any]

    @property
    def type(self) -> str | None:
        value = self.data.get("type")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ArticleDTO:
    """A blog post as the fediverse sees it: ``id`` is its object URI (stable across edits),
    ``url`` its public page, ``content`` HTML."""

    id: str
    name: str
    summary: str
    content: str
    url: str
    published: datetime
    updated: datetime | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApActivityDTO:
    """An activity one of our actors published (``payload`` is its JSON as delivered)."""

    id: int
    uri: str
    actor_app: str
    activity_type: str
    object_uri: str | None
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class OutboxPageDTO:
    """One page of an actor's outbox, newest first; ``next_max_id`` continues it."""

    items: tuple[ApActivityDTO, ...]
    total: int
    next_max_id: int | None


@dataclass(frozen=True)
class FollowerDTO:
    actor_uri: str
    inbox_url: str
    shared_inbox_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class RemoteActorDTO:
    """An actor on another server, as fetched (and cached) with its public key."""

    uri: str
    key_id: str | None
    public_key_pem: str | None
    inbox_url: str | None
    shared_inbox_url: str | None
    preferred_username: str | None
    actor_type: str | None
    fetched_at: datetime

    @property
    def delivery_inbox(self) -> str | None:
        """Where to deliver public activities: the shared inbox when there is one."""
        return self.shared_inbox_url or self.inbox_url


@dataclass(frozen=True)
class ReceivedDTO:
    """What handling an inbound activity did (``outcome`` is a stable word for tests and logs:
    duplicate, followed, unfollowed, actor_deleted, noted); ``published`` are the activities
    it wrote to the outbox in reply (an Accept)."""

    outcome: str
    activity_type: str
    published: tuple[str, ...] = field(default=())


# The staff views of the delivery queue: retrying, dead letters, waiting, delivered.
DELIVERY_VIEWS = ("failing", "dead", "pending", "delivered")


@dataclass(frozen=True)
class DeliveryDTO:
    """One activity on its way to one inbox."""

    id: int
    activity_uri: str
    activity_type: str
    actor_app: str
    inbox_url: str
    host: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryAttemptDTO:
    attempted_at: datetime
    worker: str
    status_code: int | None
    error: str | None
    outcome: str
    duration_ms: int


@dataclass(frozen=True)
class ApHostDTO:
    """A remote host we deliver to, and how reachable it has been."""

    host: str
    consecutive_failures: int
    failing_since: datetime | None
    unavailable_since: datetime | None
    next_probe_at: datetime | None


@dataclass(frozen=True)
class DeliveryQueueDTO:
    """Deliveries by state, activities not yet fanned out, and the hosts being skipped."""

    pending: int
    retrying: int
    delivered: int
    dead: int
    unfanned: int
    unavailable_hosts: tuple[ApHostDTO, ...]


# --- market: importing supplier catalogues (shared/services/market/scrape/) ----------------


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


# --- account: newsletters, the dashboard, personal data -----------------------------------


@dataclass(frozen=True)
class NewsletterDTO:
    """A newsletter; ``subscribers`` counts the confirmed (active) ones."""

    id: int
    slug: str
    name: str
    description: str
    subscribers: int = 0


# --- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarDTO:
    """A calendar (a venue or programme); ``colour`` is ``#rrggbb``, ``timezone`` IANA."""

    id: int
    slug: str
    name: str
    colour: str
    description: str
    timezone: str


@dataclass(frozen=True)
class CalendarInput:
    """What staff give to create or change a calendar (``slug`` empty: from the name)."""

    name: str
    timezone: str
    slug: str = ""
    colour: str = "#7a3b69"
    description: str = ""


@dataclass(frozen=True)
class EventDTO:
    """An event. ``start``/``end`` are UTC (the first occurrence of a recurring one);
    ``rrule`` is the RFC 5545 RRULE value or None; ``uid`` is its stable iCalendar UID."""

    id: int
    calendar: CalendarDTO
    slug: str
    uid: str
    sequence: int
    title: str
    description_html: str
    image_url: str | None
    timezone: str
    start: datetime
    end: datetime
    all_day: bool
    rrule: str | None
    location_name: str
    location_address: str
    map_url: str | None
    organiser: str
    capacity: int | None
    per_person_limit: int
    status: str
    tags: tuple[str, ...]
    updated_at: datetime

    @property
    def recurring(self) -> bool:
        return self.rrule is not None


@dataclass(frozen=True)
class EventInput:
    """What staff give to create or change an event. ``start_local``/``end_local`` are naive
    wall-clock times in ``timezone`` (the service converts them to UTC); for an all-day event
    only their dates count (``end_local``'s date is the last day). ``description_html`` may be
    anything: the service sanitizes it. ``rrule`` empty: a single event."""

    calendar_id: int
    title: str
    timezone: str
    start_local: datetime
    end_local: datetime
    slug: str = ""
    description_html: str = ""
    image_url: str | None = None
    all_day: bool = False
    rrule: str = ""
    location_name: str = ""
    location_address: str = ""
    map_url: str | None = None
    organiser: str = ""
    capacity: int | None = None
    per_person_limit: int = 4
    status: str = "draft"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OccurrenceDTO:
    """One occurrence of an event. ``occurrence_start`` (UTC) names it (its RECURRENCE-ID:
    what the rule gives, kept when staff move it); ``start``/``end`` (UTC) are when it
    really happens; ``local_start``/``local_end`` are those in the event's zone."""

    event: EventDTO
    occurrence_start: datetime
    start: datetime
    end: datetime
    local_start: datetime
    local_end: datetime
    moved: bool = False

    @property
    def key(self) -> str:
        """The occurrence in a URL: its RECURRENCE-ID as ``YYYYMMDDTHHMMSSZ``."""
        return self.occurrence_start.strftime("%Y%m%dT%H%M%SZ")

    @property
    def cancelled(self) -> bool:
        return self.event.status == "cancelled"


@dataclass(frozen=True)
class OccurrenceException:
    """A cancelled (``new_start`` None) or moved occurrence of a recurring event."""

    occurrence_start: datetime
    cancelled: bool
    new_start: datetime | None = None
    new_end: datetime | None = None


@dataclass(frozen=True)
class AvailabilityDTO:
    """Places of one occurrence: ``capacity`` None is unlimited; ``taken`` counts confirmed
    bookings and tickets (reserved or issued); ``waiting`` the places on the waiting list."""

    capacity: int | None
    taken: int
    waiting: int

    @property
    def remaining(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.taken >= self.capacity


@dataclass(frozen=True)
class TicketTypeDTO:
    """A kind of paid ticket for one occurrence (the cart's sellable id is ``id``)."""

    id: int
    event_id: int
    occurrence_start: datetime
    name: str
    price: Money
    capacity: int | None
    taken: int
    available: bool

    @property
    def remaining(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class TicketTypeInput:
    """What staff give to add a ticket type (price in minor units)."""

    name: str
    occurrence_start: datetime
    price_minor: int
    currency: str = "GBP"
    capacity: int | None = None


@dataclass(frozen=True)
class BookingDTO:
    """A member's free booking of one occurrence: ``status`` confirmed, waiting or cancelled;
    ``code`` is the check-in code (confirmed bookings show it as a QR code)."""

    id: int
    event_id: int
    occurrence_start: datetime
    user_id: int | None  # None for a guest's booking
    quantity: int
    status: str
    code: str
    checked_in_at: datetime | None
    created_at: datetime
    # A guest's booking (no account): their address and name; ``status`` is "pending"
    # until they confirm through the emailed link.
    guest_email: str | None = None
    guest_name: str = ""


@dataclass(frozen=True)
class MemberEntryDTO:
    """One of a member's upcoming admissions, for their dashboard: a free booking or a paid
    ticket. ``code`` is what the QR code carries (``qr_svg_data_uri`` renders it, an
    ``<img src>`` the site's CSP allows); ``ics_url`` downloads the event."""

    kind: str  # "booking" or "ticket"
    id: int
    title: str
    event_url: str
    ics_url: str
    start: datetime
    end: datetime
    timezone: str
    local_start: datetime
    location_name: str
    quantity: int
    status: str
    code: str | None
    qr_svg_data_uri: str | None
    ticket_type: str | None = None


@dataclass(frozen=True)
class AttendeeDTO:
    """One line of an occurrence's attendee list (a booking or a ticket)."""

    kind: str
    name: str
    email: str
    quantity: int
    status: str
    code: str
    checked_in_at: datetime | None
    ticket_type: str | None = None


@dataclass(frozen=True)
class CheckInResult:
    """What scanning a code said: ``ok`` when this scan admitted it; otherwise
    ``checked_in_at`` says when it was used before."""

    ok: bool
    kind: str
    code: str
    title: str
    start: datetime
    holder: str
    quantity: int
    checked_in_at: datetime


@dataclass(frozen=True)
class SubscriptionDTO:
    """One address on one newsletter: ``pending`` (awaiting confirmation), ``active``,
    ``unsubscribed`` or ``bounced``."""

    id: int
    newsletter_id: int
    newsletter_slug: str
    newsletter_name: str
    email: str
    status: str
    user_id: int | None
    created_at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True)
class SubscribeResult:
    """``confirm_token`` is set when a confirmation email must go out (double opt-in); None
    when the address is already subscribed or was confirmed already (a member's own)."""

    subscription: SubscriptionDTO
    confirm_token: str | None


@dataclass(frozen=True)
class IssueInput:
    """What staff write: ``html`` may be anything, the service sanitizes it."""

    subject: str
    html: str = ""


@dataclass(frozen=True)
class IssueDTO:
    """An issue of a newsletter (``html`` sanitized): ``draft``, ``sending`` or ``sent``."""

    id: int
    newsletter_id: int
    newsletter_slug: str
    newsletter_name: str
    subject: str
    html: str
    status: str
    created_at: datetime
    updated_at: datetime
    send_started_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class DeliveryFailureDTO:
    """A recipient an issue could not reach, and why (the SMTP server's answer)."""

    email: str
    error: str
    attempts: int


@dataclass(frozen=True)
class IssueProgressDTO:
    """How far the sending of an issue has come (deliveries by status)."""

    issue: IssueDTO
    pending: int
    sent: int
    failed: int
    skipped: int
    failures: tuple[DeliveryFailureDTO, ...] = ()

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.skipped


@dataclass(frozen=True)
class OutgoingDTO:
    """One message the worker is to send now (its delivery row is locked meanwhile)."""

    delivery_id: int
    issue_id: int
    subscription_id: int
    email: str
    subject: str
    html: str
    newsletter_slug: str
    newsletter_name: str
    attempts: int


@dataclass(frozen=True)
class EventSummaryDTO:
    """An upcoming public event, as a newsletter digest lists it."""

    title: str
    starts_at: datetime
    url: str
    summary: str = ""


@dataclass(frozen=True)
class MemberOrderDTO:
    """One of a member's orders, as their dashboard lists it (the cart owns the detail)."""

    id: int
    reference: str
    status: str
    total: Money
    placed_at: datetime
    url: str


@dataclass(frozen=True)
class MemberTicketDTO:
    """A member's upcoming ticket or booking (``kind``), with its QR code image and
    iCalendar links (the events app serves both)."""

    id: int
    kind: str
    event_title: str
    starts_at: datetime
    url: str
    qr_url: str | None = None
    ics_url: str | None = None


@dataclass(frozen=True)
class PersonalDataDTO:
    """What one domain holds about a member, for their export: JSON-ready values only
    (strings, numbers, booleans, None, ISO dates, lists and mappings of those)."""

    domain: str
    data: Mapping[str, Any]


# --- the social hub (members on the fediverse) --------------------------------------------

SOCIAL_VISIBILITIES = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True)
class SocialAccountDTO:
    """A fediverse account, a member's own (``is_local``) or a remote one; ``acct`` is
    ``name@host`` and ``summary`` sanitized HTML."""

    id: int
    uri: str
    acct: str
    username: str
    display_name: str
    summary: str
    url: str | None
    avatar_url: str | None
    header_url: str | None
    fields: tuple[tuple[str, str], ...]
    is_local: bool
    locked: bool
    hide_followers: bool
    discoverable: bool
    # Suspended by an admin, or the member's account was erased: gone for other servers.
    suspended: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class AttachmentDTO:
    """An attachment: a member's own image (``is_local``, shown inline) or a remote one
    (linked, never loaded from its host by our pages)."""

    url: str
    media_type: str
    description: str
    width: int | None = None
    height: int | None = None
    is_local: bool = False


@dataclass(frozen=True)
class SocialStatusDTO:
    """A post as a timeline shows it; ``reblog`` is the boosted post when this is a boost.
    ``content`` is sanitized HTML; ``spoiler_text`` the content warning."""

    id: int
    uri: str
    url: str | None
    account: SocialAccountDTO
    object_type: str
    name: str | None
    content: str
    spoiler_text: str
    sensitive: bool
    visibility: str
    in_reply_to_uri: str | None
    published_at: datetime
    edited_at: datetime | None
    attachments: tuple[AttachmentDTO, ...]
    tags: tuple[str, ...]
    reblog: SocialStatusDTO | None
    favourites_count: int
    reblogs_count: int
    replies_count: int
    favourited: bool
    reblogged: bool


@dataclass(frozen=True)
class TimelinePageDTO:
    """One page of a timeline, newest first; ``next_max_id`` continues it (a stable cursor:
    newer posts never shift an older page)."""

    items: tuple[SocialStatusDTO, ...]
    next_max_id: int | None


@dataclass(frozen=True)
class SocialNotificationDTO:
    id: int
    kind: str
    account: SocialAccountDTO
    status: SocialStatusDTO | None
    created_at: datetime
    unread: bool


@dataclass(frozen=True)
class NotificationPageDTO:
    items: tuple[SocialNotificationDTO, ...]
    next_max_id: int | None


@dataclass(frozen=True)
class RelationshipDTO:
    """How the viewer stands with an account: ``following`` is none, pending or accepted."""

    following: str
    followed_by: bool
    blocking: bool = False
    muting: bool = False


@dataclass(frozen=True)
class SocialProfileInput:
    display_name: str
    bio: str
    avatar_url: str
    header_url: str
    fields: tuple[tuple[str, str], ...]
    locked: bool
    hide_followers: bool
    discoverable: bool
    # Uploaded images replacing the avatar or header (checked and re-encoded by the service);
    # ``remove_*`` clears one.
    avatar: MediaUpload | None = None
    header: MediaUpload | None = None
    remove_avatar: bool = False
    remove_header: bool = False


@dataclass(frozen=True)
class ComposeInput:
    """A new post: plain text (mentions, hashtags and links become links), its visibility,
    an optional content warning, and the post it replies to."""

    text: str
    visibility: str = "public"
    spoiler_text: str = ""
    in_reply_to_id: int | None = None
    # Up to four images, each with its alt text.
    media: tuple[MediaUpload, ...] = ()


@dataclass(frozen=True)
class SocialOutboxPageDTO:
    """One page of a member's outbox (their public activities), newest first."""

    items: tuple[ApObjectDTO, ...]
    total: int
    next_max_id: int | None


@dataclass(frozen=True)
class SocialReportDTO:
    """A report to the admins: who reported whom (and which post), why, and whether it is
    dealt with."""

    id: int
    reporter: SocialAccountDTO
    target: SocialAccountDTO
    status: SocialStatusDTO | None
    comment: str
    created_at: datetime
    resolved: bool


@dataclass(frozen=True)
class MediaUpload:
    """An uploaded file as the member sent it (the service checks that it is an image) and
    its description (alt text)."""

    data: bytes
    description: str = ""
