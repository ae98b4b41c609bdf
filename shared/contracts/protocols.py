"""One ``typing.Protocol`` per domain service; shared/services/registry.py wires them.

Every method that touches the database takes the caller's ``AsyncSession`` (one unit of work
per request); methods take and return DTOs and plain values. A protocol declares only what its
domain implements today; each domain's issue grows its own. tests/shared/test_contracts.py
proves every registered implementation matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.dtos import (
    AccountDTO,
    ApActivityDTO,
    ApObjectDTO,
    ArticleDTO,
    AttendeeDTO,
    AuthorArchive,
    AvailabilityDTO,
    BookingDTO,
    CalendarDTO,
    CalendarInput,
    CartDTO,
    CartLineDTO,
    CartOwner,
    CartSummaryDTO,
    CategoryDTO,
    CategoryInput,
    CategoryListing,
    CheckInResult,
    CheckoutDetails,
    ComposeInput,
    CrawlResult,
    CsvImportReport,
    DeliveryAttemptDTO,
    DeliveryDTO,
    DeliveryQueueDTO,
    EmailChange,
    EventDTO,
    EventInput,
    EventSummaryDTO,
    FollowerDTO,
    FulfilmentLine,
    GhostNavReport,
    HomePage,
    IssueDTO,
    IssueInput,
    IssueProgressDTO,
    MarketHome,
    MarketPageDTO,
    MarketPageInput,
    MemberEntryDTO,
    MemberOrderDTO,
    MemberTicketDTO,
    Money,
    NavItemDTO,
    NavItemInput,
    NewsletterDTO,
    NotificationPageDTO,
    OccurrenceDTO,
    OccurrenceException,
    OrderDTO,
    OrderSummaryDTO,
    OutboxPageDTO,
    OutgoingDTO,
    PaymentDTO,
    PersonalDataDTO,
    PostDTO,
    PostInput,
    PostPage,
    ProductDTO,
    ProductFilters,
    ProductInput,
    ProductPage,
    ProductSearchResults,
    ReceivedDTO,
    RefundDTO,
    RelationshipDTO,
    RemoteActorDTO,
    ScrapeRunDTO,
    ScrapeRunStart,
    ScrapeSourceDTO,
    ScrapeSourceInput,
    ScrapeSupplierDTO,
    SearchResults,
    SellableDTO,
    SessionDTO,
    SignUpRequest,
    SignUpResult,
    SitemapEntry,
    SlugLookup,
    SocialAccountDTO,
    SocialOutboxPageDTO,
    SocialProfileInput,
    SocialReportDTO,
    SocialStatusDTO,
    SubscribeResult,
    SubscriptionDTO,
    SupplierDTO,
    SupplierInput,
    SupplierListing,
    SyncedAuthor,
    SyncedTag,
    SyncOutcome,
    TagArchive,
    TicketTypeDTO,
    TicketTypeInput,
    TimelinePageDTO,
    UserDTO,
)
from shared.infrastructure.locking import LockKey


class IdentityService(Protocol):
    """Accounts and sign-ins (owned by the federation app; every app asks who is signed in).

    Refusals are :class:`~shared.contracts.errors.IdentityError` (or ``NotFound``/``Conflict``)
    with a stable ``code``. A "sign-in" (``sid``) is one browser's sign-in at federation,
    shared by every app's session and ID token; ``session`` is always the database session.
    """

    async def warm_up(self) -> None:
        """Precompute what would make the first sign-in slower than the others."""
        ...

    # -- looking accounts up --

    async def get_user(self, session: AsyncSession, user_id: int) -> UserDTO | None:
        """The active account with this id, or None."""
        ...

    async def get_account(self, session: AsyncSession, user_id: int) -> AccountDTO | None:
        """The account with this id (active or not), or None."""
        ...

    async def find_account(self, session: AsyncSession, login: str) -> AccountDTO | None:
        """The account whose email or username is ``login`` (any case), or None."""
        ...

    async def list_accounts(
        self, session: AsyncSession, query: str = "", limit: int = 100
    ) -> list[AccountDTO]:
        """Accounts whose email, username or name contains ``query``, oldest first."""
        ...

    # -- creating and changing accounts --

    async def sign_up(self, session: AsyncSession, req: SignUpRequest) -> SignUpResult:
        """Create an unverified member, or report the existing account with that email."""
        ...

    async def create_account(
        self,
        session: AsyncSession,
        *,
        email: str,
        username: str,
        password: str,
        display_name: str = "",
        roles: Sequence[str] = (),
        verified: bool = True,
    ) -> AccountDTO:
        """An account made by an operator (the CLI): verified unless told otherwise."""
        ...

    async def set_password(self, session: AsyncSession, user_id: int, password: str) -> AccountDTO:
        """Set a password without knowing the old one (operators)."""
        ...

    async def set_display_name(
        self, session: AsyncSession, user_id: int, display_name: str
    ) -> AccountDTO:
        """Change the name shown to others (the username when left empty)."""
        ...

    async def set_roles(
        self, session: AsyncSession, actor: UserDTO, user_id: int, roles: Sequence[str]
    ) -> AccountDTO:
        """Give an account exactly these roles (member is implied); audited."""
        ...

    # -- signing in and out --

    async def authenticate(self, session: AsyncSession, login: str, password: str) -> AccountDTO:
        """The account for these credentials; every kind of refusal costs the same time."""
        ...

    async def start_session(self, session: AsyncSession, user_id: int) -> SessionDTO:
        """A new sign-in with a fresh, unguessable sid."""
        ...

    async def get_session(self, session: AsyncSession, sid: str) -> SessionDTO | None:
        """The sign-in if it is still on (not ended, not expired, account active)."""
        ...

    async def session_user(self, session: AsyncSession, sid: str) -> UserDTO | None:
        """The member signed in under ``sid``, or None when that sign-in has ended."""
        ...

    async def end_session(
        self, session: AsyncSession, sid: str, reason: str = "signed_out"
    ) -> bool:
        """End one sign-in (in every app); True if it was still on."""
        ...

    async def end_user_sessions(
        self, session: AsyncSession, user_id: int, *, keep_sid: str | None = None, reason: str
    ) -> list[str]:
        """End every sign-in of a member (except ``keep_sid``); returns the sids ended."""
        ...

    # -- email links --

    def verification_token(self, account: AccountDTO) -> str:
        """A link token that verifies this account's current address."""
        ...

    async def verify_email(self, session: AsyncSession, token: str) -> AccountDTO:
        """Mark the address in the token verified (idempotent)."""
        ...

    async def reset_token(self, session: AsyncSession, email: str) -> tuple[AccountDTO, str] | None:
        """A password-reset link token for the active account with this email, if any."""
        ...

    async def check_reset_token(self, session: AsyncSession, token: str) -> AccountDTO:
        """The account a reset token is for, if it is still usable."""
        ...

    async def reset_password(
        self, session: AsyncSession, token: str, password: str
    ) -> tuple[AccountDTO, list[str]]:
        """Set a new password from a reset link; every sign-in ends (returns their sids)."""
        ...

    async def change_password(
        self,
        session: AsyncSession,
        user_id: int,
        current: str,
        new: str,
        *,
        keep_sid: str | None,
    ) -> list[str]:
        """Change a password knowing the current one; other sign-ins end (returns their sids)."""
        ...

    async def request_email_change(
        self, session: AsyncSession, user_id: int, password: str, new_email: str
    ) -> tuple[EmailChange, str]:
        """Check the password and the new address; the change and its confirmation token."""
        ...

    async def confirm_email_change(self, session: AsyncSession, token: str) -> AccountDTO:
        """Apply a change of address from its confirmation link."""
        ...

    # -- erasure (the account app's "delete my account") --

    async def erase_account(self, session: AsyncSession, user_id: int) -> list[str]:
        """Anonymise the account for good (no email, name or password left; it can never
        sign in again; its id stays for records kept by law) and end every sign-in;
        returns the sids ended."""
        ...


class BlogService(Protocol):
    """Posts, pages, tags, authors and the site navigation (the blog app).

    Readers pass ``viewer_is_member``: a members-only item read for anyone else comes back
    ``locked``, its body withheld. Bad input is :class:`~shared.contracts.errors.InvalidPost`
    (``field`` says which); a missing item or page is ``NotFound``; a slug in use ``Conflict``.
    """

    async def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]:
        """The site navigation: top-level links in order, each with its sub-links in order."""
        ...

    # -- editing the navigation (bad input: InvalidNavItem; a missing link: NotFound) --

    async def add_nav_item(self, session: AsyncSession, data: NavItemInput) -> NavItemDTO:
        """Append a link (at the end of the top level, or of its parent's sub-links)."""
        ...

    async def update_nav_item(
        self, session: AsyncSession, item_id: int, data: NavItemInput
    ) -> NavItemDTO:
        """Change a link's label, target or parent (moving it to the end of its new level)."""
        ...

    async def move_nav_item(self, session: AsyncSession, item_id: int, offset: int) -> None:
        """Move a link ``offset`` places among its siblings (-1: up, 1: down), clamped."""
        ...

    async def delete_nav_item(self, session: AsyncSession, item_id: int) -> None:
        """Remove a link (and its sub-links)."""
        ...

    async def editor_posts(
        self, session: AsyncSession, *, kind: str = "post", page: int = 1, per_page: int = 20
    ) -> PostPage:
        """Every post (or page) whatever its status, for the editor: drafts first."""
        ...

    # -- reading (the public site) --

    async def home(
        self,
        session: AsyncSession,
        *,
        page: int = 1,
        per_page: int = 10,
        featured_limit: int = 3,
        viewer_is_member: bool = False,
    ) -> HomePage:
        """Featured posts (first page only) and a page of the latest posts, newest first."""
        ...

    async def get_by_slug(
        self,
        session: AsyncSession,
        slug: str,
        *,
        viewer_is_member: bool = False,
        include_unpublished: bool = False,
    ) -> SlugLookup:
        """The post or page at ``slug``, or the one that used to be there (``moved``)."""
        ...

    async def get_post(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Any post or page by id, whatever its status (the editor, the sync)."""
        ...

    async def tag_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> TagArchive:
        """A public tag and a page of its published posts."""
        ...

    async def author_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> AuthorArchive:
        """An author and a page of their published posts."""
        ...

    async def search(
        self,
        session: AsyncSession,
        query: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> SearchResults:
        """Published posts and pages matching ``query`` (web-search syntax), best first."""
        ...

    async def feed(self, session: AsyncSession, *, limit: int = 20) -> tuple[PostDTO, ...]:
        """The latest published posts as an anonymous visitor sees them (RSS, Atom)."""
        ...

    async def sitemap(self, session: AsyncSession) -> tuple[SitemapEntry, ...]:
        """Every public URL of the blog."""
        ...

    # -- writing (the editor) --

    async def create_post(self, session: AsyncSession, data: PostInput) -> PostDTO:
        """A new draft post or page (its HTML sanitized)."""
        ...

    async def update_post(self, session: AsyncSession, post_id: int, data: PostInput) -> PostDTO:
        """Replace a post's content; a changed slug keeps the old one as a redirect."""
        ...

    async def publish(
        self, session: AsyncSession, post_id: int, *, now: datetime | None = None
    ) -> PostDTO:
        """Make a post live now (idempotent)."""
        ...

    async def schedule(
        self, session: AsyncSession, post_id: int, at: datetime, *, now: datetime | None = None
    ) -> PostDTO:
        """Have a draft go live at ``at`` (in the future, with a time zone)."""
        ...

    async def unpublish(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Back to draft (a scheduled post is unscheduled)."""
        ...

    async def delete_post(self, session: AsyncSession, post_id: int) -> None:
        """Remove a post or page for good."""
        ...

    async def publish_due_scheduled(
        self, session: AsyncSession, now: datetime | None = None
    ) -> tuple[PostDTO, ...]:
        """Publish every scheduled post whose time has come (safe to run concurrently)."""
        ...

    # -- the Ghost sync's writes (shared/services/blog/ghost_sync.py) --

    async def upsert_synced_post(
        self,
        session: AsyncSession,
        *,
        ghost_id: str,
        ghost_updated_at: datetime,
        published_at: datetime,
        data: PostInput,
    ) -> str:
        """Create or replace Ghost's item: "created", "updated" or "unchanged"."""
        ...

    async def delete_synced(self, session: AsyncSession, ghost_ids: Iterable[str]) -> int:
        """Remove the synced items Ghost no longer has; how many went."""
        ...

    async def synced_versions(self, session: AsyncSession, kind: str) -> dict[str, datetime]:
        """Ghost id -> Ghost ``updated_at`` of every synced item of ``kind``."""
        ...

    async def sync_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Make the synced tags exactly ``tags``."""
        ...

    async def sync_authors(self, session: AsyncSession, authors: Sequence[SyncedAuthor]) -> int:
        """Make the synced authors exactly ``authors``."""
        ...

    async def upsert_synced_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Create or update these synced tags, leaving the others alone."""
        ...

    async def upsert_synced_authors(
        self, session: AsyncSession, authors: Sequence[SyncedAuthor]
    ) -> int:
        """Create or update these synced authors, leaving the others alone."""
        ...

    async def replace_ghost_navigation(
        self, session: AsyncSession, links: Sequence[NavItemInput]
    ) -> GhostNavReport:
        """Make the navigation's Ghost links exactly ``links`` (top-level, in order, before
        the editors' own links, which stay as they are); links the navigation's rules refuse,
        or that do not fit in its limit, are skipped and reported."""
        ...

    async def published_slug_kinds(
        self, session: AsyncSession, slugs: Iterable[str]
    ) -> dict[str, str]:
        """Slug -> "post" or "page" for the published items among ``slugs``."""
        ...


class SellableProvider(Protocol):
    """What a domain that sells through the cart implements (the catalogue for kind
    ``"product"``, events for kind ``"ticket"``: ids are product ids and ticket-type ids).

    Taking stock is always: collect the keys of every item of every provider in the order
    (:meth:`lock_keys`), lock them all at once with
    :func:`shared.infrastructure.locking.lock_objects`, then :meth:`reserve` per provider, in
    the same transaction. :meth:`reserve` refuses (and changes nothing) without those locks.
    """

    async def sellables(self, session: AsyncSession, ids: Iterable[int]) -> dict[int, SellableDTO]:
        """The current price, availability and stock of each known id (unknown ids are absent)."""
        ...

    async def lock_keys(self, session: AsyncSession, ids: Iterable[int]) -> list[LockKey]:
        """The lock keys guarding the scarce counts behind these ids."""
        ...

    async def reserve(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Take ``quantities`` (id -> how many) from the counts, all or nothing.

        Raises :class:`~shared.contracts.errors.Unavailable` or
        :class:`~shared.contracts.errors.SoldOut` and changes nothing when any cannot be had.
        """
        ...

    async def release(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Give back what :meth:`reserve` took (an unpaid order expired or was cancelled)."""
        ...

    async def fulfil(self, session: AsyncSession, lines: Sequence[FulfilmentLine]) -> None:
        """The order was paid: do what the sale means (tickets are issued); idempotent per
        ``order_line_id``."""
        ...


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
        self, session: AsyncSession, filters: ProductFilters, *, page: int = 1, per_page: int = 24
    ) -> ProductPage:
        """One page of the products ``filters`` select, sorted as they say."""
        ...

    async def category_listing(
        self,
        session: AsyncSession,
        slug: str,
        filters: ProductFilters,
        *,
        page: int = 1,
        per_page: int = 24,
    ) -> CategoryListing:
        """A category with its trail, sub-categories and its (and their) products."""
        ...

    async def supplier_listing(
        self, session: AsyncSession, slug: str, *, page: int = 1, per_page: int = 24
    ) -> SupplierListing:
        """A supplier and one page of its products."""
        ...

    async def product_by_slug(self, session: AsyncSession, slug: str) -> ProductDTO:
        """A product (also when unavailable: its page says so)."""
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


class CartService(Protocol):
    """Carts, checkout and orders (the cart app)."""

    async def mini_summary(self, session: AsyncSession, owner: CartOwner) -> CartSummaryDTO:
        """How many items are in ``owner``'s cart and what they cost now."""
        ...

    async def cart(self, session: AsyncSession, owner: CartOwner) -> CartDTO:
        """``owner``'s cart at today's prices and stock, each line's problem named."""
        ...

    async def add(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int = 1
    ) -> CartLineDTO:
        """Put more of an item in the cart; refuses (``unavailable``, ``short_stock``,
        ``sold_out``, ``invalid_quantity``) and changes nothing when it cannot be had."""
        ...

    async def set_quantity(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int
    ) -> None:
        """Set a line's quantity (0 removes it), checked against what is left."""
        ...

    async def remove(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int
    ) -> None: ...

    async def merge(self, session: AsyncSession, cart_key: str, user_id: int) -> int:
        """Move an anonymous visitor's cart into the member's at sign-in."""
        ...

    async def place_order(
        self,
        session: AsyncSession,
        owner: CartOwner,
        details: CheckoutDetails,
        *,
        reservation_ttl_s: int | None = None,
    ) -> OrderDTO:
        """Reserve every line (one set of locks), snapshot them into a pending order, empty
        the cart; all or nothing."""
        ...

    async def order(self, session: AsyncSession, order_id: int) -> OrderDTO | None: ...

    async def orders_for_member(self, session: AsyncSession, user_id: int) -> list[OrderSummaryDTO]:
        """The member's orders, newest first (for account)."""
        ...

    async def order_for_member(
        self, session: AsyncSession, user_id: int, order_id: int
    ) -> OrderDTO | None:
        """The member's own order; None for another member's (or none)."""
        ...

    # -- guest links to an order (the receipt's) --

    def order_token(self, order_id: int) -> str: ...

    def check_order_token(self, order_id: int, token: str) -> bool: ...

    # -- payments (SumUp; docs/EXTERNAL-APIS.md) --

    async def ensure_checkout(
        self,
        session: AsyncSession,
        order_id: int,
    ) -> PaymentDTO:
        """The order's SumUp checkout, created if needed (reference = order id; a 409 is
        recovered by lookup). Raises ``payment_unavailable`` (503) when SumUp cannot be
        reached: the order stays reserved and pending."""
        ...

    async def order_id_for_checkout(
        self, session: AsyncSession, checkout_id: str
    ) -> int | None: ...

    async def sync_payment(self, session: AsyncSession, order_id: int) -> SyncOutcome:
        """Re-read the checkout from SumUp and act on it: the only path to "paid". Raises
        :class:`shared.services.cart.sumup.SumUpError` when SumUp cannot be read."""
        ...

    async def due_for_poll(
        self, session: AsyncSession, now: datetime, interval_s: int, limit: int = 50
    ) -> list[int]: ...

    async def due_for_expiry(
        self, session: AsyncSession, now: datetime, limit: int = 50
    ) -> list[int]: ...

    async def expire_one(self, session: AsyncSession, order_id: int, now: datetime) -> bool:
        """Give an unpaid order's stock back once its reservation has run out."""
        ...

    # -- staff --

    async def admin_orders(
        self,
        session: AsyncSession,
        *,
        status: str | None = None,
        attention: bool = False,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[OrderSummaryDTO]: ...

    async def mark_fulfilled(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def cancel(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def clear_attention(
        self, session: AsyncSession, order_id: int, *, by_user_id: int | None
    ) -> None: ...

    async def refund(
        self,
        session: AsyncSession,
        order_id: int,
        amount: Money,
        *,
        reason: str = "",
        by_user_id: int | None,
    ) -> RefundDTO:
        """Refund (part of) a paid order through SumUp, recorded per transaction."""
        ...

    async def retry_checkout(self, session: AsyncSession, order_id: int) -> PaymentDTO:
        """The checkout the buyer should pay now: a new attempt (reference
        ``<order id>-<attempt>``) only when SumUp, re-read first, reports every earlier one
        FAILED or EXPIRED; otherwise the current one (or the order is paid by the re-read).
        Refuses (``order_not_payable``, ``too_many_attempts``) for an order it cannot pay."""
        ...

    def order_url(self, order_id: int, *, token: bool = True) -> str:
        """The order's page in the cart app (where it is paid); ``token`` adds the link token
        that lets a guest open it."""
        ...

    def member_order_url(self, order_id: int) -> str:
        """Where a member reads their order: its page in the account app."""
        ...


class EventService(SellableProvider, Protocol):
    """Calendars, events and their occurrences, free bookings with a waiting list, tickets
    sold through the cart (kind ``"ticket"``, ids are ticket-type ids), check-in and
    iCalendar feeds (the events app).

    Times are aware UTC datetimes; an occurrence is named by its RECURRENCE-ID (``key``, the
    UTC start its rule gives it). Refusals are :class:`~shared.contracts.errors.InvalidEvent`
    (staff input), ``NotFound`` (another member's booking too), ``DomainError`` with codes
    ``booking_limit``/``booking_closed``, ``SoldOut``/``Unavailable`` for tickets.
    """

    # -- calendars and events (staff write, everyone reads) --

    async def calendars(self, session: AsyncSession) -> list[CalendarDTO]:
        """Every calendar, by name."""
        ...

    async def calendar_by_slug(self, session: AsyncSession, slug: str) -> CalendarDTO | None:
        """The calendar with this slug, or None."""
        ...

    async def save_calendar(
        self,
        session: AsyncSession,
        data: CalendarInput,
        *,
        calendar_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> CalendarDTO:
        """Create a calendar (``calendar_id`` None) or change one."""
        ...

    async def get_event(self, session: AsyncSession, event_id: int) -> EventDTO | None:
        """The event with this id, whatever its status (for staff), or None."""
        ...

    async def event_by_slug(
        self, session: AsyncSession, slug: str, *, include_drafts: bool = False
    ) -> EventDTO | None:
        """The public event with this slug (drafts too for staff), or None."""
        ...

    async def staff_events(self, session: AsyncSession) -> list[EventDTO]:
        """Every event, the latest first."""
        ...

    async def save_event(
        self,
        session: AsyncSession,
        data: EventInput,
        *,
        event_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> EventDTO:
        """Create an event or change one (the UID is kept, SEQUENCE bumped)."""
        ...

    async def exceptions(self, session: AsyncSession, event_id: int) -> list[OccurrenceException]:
        """The cancelled and moved occurrences of an event."""
        ...

    async def set_exception(
        self,
        session: AsyncSession,
        event_id: int,
        change: OccurrenceException,
        *,
        actor_user_id: int | None = None,
    ) -> None:
        """Cancel or move one occurrence of a recurring event."""
        ...

    # -- occurrences (expanded within a window, never stored) --

    async def occurrences(
        self,
        session: AsyncSession,
        window_start: datetime,
        window_end: datetime,
        *,
        calendar_slug: str | None = None,
        tag: str | None = None,
        event_id: int | None = None,
    ) -> list[OccurrenceDTO]:
        """Every public occurrence overlapping the window, in order."""
        ...

    async def upcoming(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 10,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The next ``limit`` occurrences that have not ended."""
        ...

    async def past(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 50,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The latest occurrences that have ended, latest first."""
        ...

    async def occurrence(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> OccurrenceDTO | None:
        """The occurrence of ``event`` named ``key``, or None (no such date, or cancelled)."""
        ...

    # -- free bookings --

    async def availability(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> AvailabilityDTO:
        """Places, places taken and places waiting of one occurrence."""
        ...

    async def book(
        self,
        session: AsyncSession,
        user_id: int,
        event_id: int,
        key: datetime,
        quantity: int = 1,
        *,
        now: datetime | None = None,
    ) -> BookingDTO:
        """Book free places for a member: confirmed, or on the waiting list when full."""
        ...

    async def cancel_booking(
        self, session: AsyncSession, user_id: int, booking_id: int
    ) -> list[BookingDTO]:
        """Cancel a member's own booking; returns the waiting bookings it confirmed."""
        ...

    async def member_bookings(
        self, session: AsyncSession, user_id: int, event_id: int
    ) -> list[BookingDTO]:
        """A member's bookings of one event, newest first."""
        ...

    async def member_upcoming(
        self, session: AsyncSession, user_id: int, *, now: datetime | None = None
    ) -> list[MemberEntryDTO]:
        """A member's upcoming bookings and tickets, soonest first, each with QR and .ics."""
        ...

    # -- ticket types --

    async def ticket_types(
        self, session: AsyncSession, event_id: int, key: datetime | None = None
    ) -> list[TicketTypeDTO]:
        """An event's ticket types (of one occurrence when ``key`` is given)."""
        ...

    async def add_ticket_type(
        self,
        session: AsyncSession,
        event_id: int,
        data: TicketTypeInput,
        *,
        actor_user_id: int | None = None,
    ) -> TicketTypeDTO:
        """A new ticket type for one occurrence."""
        ...

    # -- staff: attendees and check-in --

    async def attendees(
        self, session: AsyncSession, event_id: int, key: datetime
    ) -> list[AttendeeDTO]:
        """Everyone booked, waiting or ticketed for an occurrence."""
        ...

    async def check_in(
        self,
        session: AsyncSession,
        code: str,
        *,
        actor_user_id: int | None = None,
        now: datetime | None = None,
    ) -> CheckInResult:
        """Admit the booking or ticket with this code once; a later scan says when."""
        ...

    # -- iCalendar --

    async def feed_token(self, session: AsyncSession, user_id: int) -> str:
        """The member's private feed token (made on first use)."""
        ...

    async def ical(
        self,
        session: AsyncSession,
        *,
        calendar_slug: str | None = None,
        event_slug: str | None = None,
        feed_token: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """An RFC 5545 calendar of all, one calendar's, one or a member's events (None when
        unknown)."""
        ...

    # -- guests' bookings of free events (confirmed through a signed link emailed to them) --

    def guest_token(self, booking: BookingDTO, action: str) -> str:
        """The signed token of a guest's ``"confirm"`` or ``"cancel"`` link."""
        ...

    async def request_guest_booking(
        self,
        session: AsyncSession,
        event_id: int,
        key: datetime,
        *,
        name: str,
        email: str,
        quantity: int = 1,
        now: datetime | None = None,
    ) -> BookingDTO:
        """A pending booking (holding no place) and the email with its confirmation link."""
        ...

    async def guest_booking(
        self, session: AsyncSession, token: str, action: str
    ) -> tuple[BookingDTO, EventDTO]:
        """The booking a guest's link names (``token_invalid``/``token_expired`` refused)."""
        ...

    async def confirm_guest_booking(
        self, session: AsyncSession, token: str, *, now: datetime | None = None
    ) -> BookingDTO:
        """Confirm it under the capacity lock: confirmed, or the waiting list when full."""
        ...

    async def cancel_guest_booking(self, session: AsyncSession, token: str) -> list[BookingDTO]:
        """Cancel it; returns the waiting bookings it confirmed."""
        ...


class NewsletterService(Protocol):
    """Newsletters and the member's own data (the account app).

    Refusals are :class:`~shared.contracts.errors.NewsletterError` (``field`` says which form
    field), ``NotFound`` (another member's subscription too) or ``Conflict``.
    """

    def unsubscribe_token(self, subscription_id: int) -> str:
        """The signed one-click unsubscribe token of a subscription (never expires)."""
        ...

    # -- newsletters and subscribing --

    async def list_newsletters(self, session: AsyncSession) -> tuple[NewsletterDTO, ...]:
        """Every newsletter, by name, with its count of active subscribers."""
        ...

    async def get_newsletter(self, session: AsyncSession, newsletter_id: int) -> NewsletterDTO:
        """One newsletter (NotFound when there is none)."""
        ...

    async def create_newsletter(
        self, session: AsyncSession, name: str, description: str = "", *, actor_id: int
    ) -> NewsletterDTO:
        """A new newsletter (slug from the name; a name in use is a Conflict); audited."""
        ...

    async def subscribe(
        self,
        session: AsyncSession,
        newsletter_id: int,
        email: str,
        *,
        user_id: int | None = None,
        confirmed: bool = False,
    ) -> SubscribeResult:
        """Subscribe an address: pending with a confirmation token (double opt-in), or active
        at once when ``confirmed`` (a member's own verified address)."""
        ...

    async def confirm_subscription(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Activate the subscription in a confirmation link (idempotent)."""
        ...

    async def subscription_for_token(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """The subscription an unsubscribe link is for."""
        ...

    async def unsubscribe(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Unsubscribe through a signed link (one click; idempotent)."""
        ...

    async def unsubscribe_member(
        self, session: AsyncSession, user_id: int, subscription_id: int
    ) -> SubscriptionDTO:
        """A member ends one of their own subscriptions (anyone else's is NotFound)."""
        ...

    async def member_subscriptions(
        self, session: AsyncSession, user_id: int
    ) -> tuple[SubscriptionDTO, ...]:
        """A member's subscriptions (any status), by newsletter name."""
        ...

    # -- issues (staff) --

    async def list_issues(self, session: AsyncSession, newsletter_id: int) -> tuple[IssueDTO, ...]:
        """A newsletter's issues, newest first."""
        ...

    async def get_issue(self, session: AsyncSession, issue_id: int) -> IssueDTO:
        """One issue (NotFound when there is none)."""
        ...

    async def create_issue(
        self, session: AsyncSession, newsletter_id: int, data: IssueInput, *, actor_id: int
    ) -> IssueDTO:
        """A new draft issue (its HTML sanitized)."""
        ...

    async def update_issue(
        self, session: AsyncSession, issue_id: int, data: IssueInput
    ) -> IssueDTO:
        """Rewrite a draft (one being sent or sent is a Conflict)."""
        ...

    async def start_sending(
        self, session: AsyncSession, issue_id: int, *, actor_id: int
    ) -> IssueProgressDTO:
        """Queue a draft for every active, unsuppressed subscriber (one delivery row each);
        an issue already sending or sent is a Conflict and adds no one."""
        ...

    async def issue_progress(self, session: AsyncSession, issue_id: int) -> IssueProgressDTO:
        """Deliveries of an issue by status, and the failed ones with their reasons."""
        ...

    # -- sending (the worker, shared/services/newsletters/sender.py) --

    async def claim_delivery(
        self, session: AsyncSession, *, now: datetime | None = None
    ) -> OutgoingDTO | None:
        """The next due message, its row locked until the caller's transaction ends."""
        ...

    async def record_delivery(
        self,
        session: AsyncSession,
        delivery_id: int,
        outcome: str,
        error: str = "",
        *,
        now: datetime | None = None,
    ) -> str:
        """Record ``sent``, ``bounced`` (suppresses the address) or ``retry``; returns the
        delivery's status."""
        ...

    async def finish_issues(self, session: AsyncSession) -> int:
        """Mark ``sent`` every sending issue with nothing pending; returns how many."""
        ...

    # -- personal data --

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's newsletter subscriptions, for their data export."""
        ...

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove every subscription of the member or of their address."""
        ...


class FederationService(Protocol):
    """ActivityPub: what our app actors publish, who follows them, what they receive, and the
    delivery queue staff watch (the federation app; every app is an actor).

    Domains announce a change by calling :meth:`publish` inside the transaction that makes it
    (the transactional outbox): the activity exists exactly when the change committed, and the
    OutboxProcessor (``rose-ash worker``) delivers it afterwards. Refusals are DomainErrors with
    an ``ap_*`` code.
    """

    # -- publishing --

    def new_object_uri(self, actor_app: str) -> str:
        """A fresh object id on the actor's host (served at ``/ap/objects/<uid>``)."""
        ...

    def article(self, actor_app: str, article: ArticleDTO) -> ApObjectDTO:
        """The ``Article`` for a post: attributed to the actor, to Public, cc its followers."""
        ...

    async def publish(
        self,
        session: AsyncSession,
        actor_app: str,
        activity_type: str,
        obj: ApObjectDTO | str,
    ) -> ApActivityDTO:
        """Write a public Create/Update (``obj`` the object) or Delete/Announce (``obj`` its
        id) by ``actor_app`` to the outbox; nothing is sent before the session commits."""
        ...

    # -- what our actors published, and who follows them --

    async def outbox_page(
        self, session: AsyncSession, actor_app: str, *, max_id: int | None, limit: int
    ) -> OutboxPageDTO:
        """Public activities of ``actor_app``, newest first, below ``max_id``."""
        ...

    async def outbox_count(self, session: AsyncSession, actor_app: str) -> int:
        """How many public activities ``actor_app`` has published."""
        ...

    async def local_post_count(self, session: AsyncSession) -> int:
        """Objects ever created by any of our actors (NodeInfo's ``localPosts``)."""
        ...

    async def activity_by_uri(self, session: AsyncSession, uri: str) -> ApActivityDTO | None:
        """A public activity we published, or None."""
        ...

    async def object_by_uri(self, session: AsyncSession, uri: str) -> ApObjectDTO | None:
        """The latest version of an object we published; a Tombstone once deleted."""
        ...

    async def follower_count(self, session: AsyncSession, actor_app: str) -> int:
        """How many remote actors follow ``actor_app``."""
        ...

    async def followers_page(
        self, session: AsyncSession, actor_app: str, *, page: int, limit: int
    ) -> list[FollowerDTO]:
        """Followers of ``actor_app``, oldest first, ``limit`` per page (from 1)."""
        ...

    # -- receiving --

    async def receive(
        self,
        session: AsyncSession,
        recipient_app: str | None,
        activity: ApObjectDTO,
        sender: RemoteActorDTO,
    ) -> ReceivedDTO:
        """Act on an inbound activity whose signature proved ``sender`` to be its actor
        (``recipient_app`` None: it came to the shared inbox)."""
        ...

    async def mark_host_alive(self, session: AsyncSession, host: str) -> None:
        """A host that talks to us is up: stop skipping it and release its queue."""
        ...

    # -- the delivery queue, for staff --

    async def queue_overview(self, session: AsyncSession) -> DeliveryQueueDTO:
        """Deliveries by state, and the hosts currently skipped as unavailable."""
        ...

    async def list_deliveries(
        self, session: AsyncSession, view: str, *, limit: int = 100
    ) -> list[DeliveryDTO]:
        """The deliveries of one of ``dtos.DELIVERY_VIEWS``."""
        ...

    async def delivery_detail(
        self, session: AsyncSession, delivery_id: int
    ) -> tuple[DeliveryDTO, list[DeliveryAttemptDTO]]:
        """One delivery and every attempt at it (NotFound when there is none)."""
        ...

    async def retry_delivery(self, session: AsyncSession, delivery_id: int) -> None:
        """Put a dead or waiting delivery back at the front of the queue, attempts reset."""
        ...

    async def retry_dead(self, session: AsyncSession) -> int:
        """Requeue every dead letter; returns how many."""
        ...


# --- capabilities a domain takes on as it grows -----------------------------------------
#
# The account app's dashboard, data export and erasure, and newsletter digests ask other
# domains for these. A domain offers one by implementing its methods (exactly these
# signatures; tests/shared/test_contracts.py checks any implementation it finds); callers
# check with :func:`implements` and leave their part out until then, so they work before and
# after the domain lands.


class MemberOrders(Protocol):
    """A member's orders for their dashboard (the cart)."""

    async def dashboard_orders(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberOrderDTO, ...]:
        """The member's most recent orders, newest first."""
        ...


class MemberTickets(Protocol):
    """A member's upcoming tickets and bookings for their dashboard (events)."""

    async def upcoming_for_member(
        self, session: AsyncSession, user_id: int, *, limit: int = 10
    ) -> tuple[MemberTicketDTO, ...]:
        """The member's tickets and bookings for events still to come, soonest first."""
        ...


class UpcomingEvents(Protocol):
    """Public events still to come, for newsletter digests (events)."""

    async def upcoming_public(
        self, session: AsyncSession, *, limit: int = 5
    ) -> tuple[EventSummaryDTO, ...]:
        """The next public events, soonest first."""
        ...


class PersonalData(Protocol):
    """What a domain holding personal data contributes to a member's export and erasure.

    ``erase_member`` removes or anonymises what the domain holds about the member (records
    kept by law, such as orders, keep their amounts with the person's details removed); it
    runs in the same transaction as every other domain's, before the account itself is
    anonymised."""

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """Everything the domain holds about the member, JSON-ready."""
        ...

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove or anonymise it (``email``: the account's address, for records kept by
        address)."""
        ...


CAPABILITIES: tuple[type, ...] = (MemberOrders, MemberTickets, UpcomingEvents, PersonalData)


def implements(impl: object, capability: type) -> bool:
    """Whether ``impl`` offers every method of ``capability`` (one of :data:`CAPABILITIES`)."""
    return all(
        callable(getattr(impl, name, None))
        for name, value in vars(capability).items()
        if callable(value) and not name.startswith("_")
    )


class SocialService(Protocol):
    """The social hub at federation: members' fediverse accounts (each an actor with a keypair
    of its own), follows, timelines, posts, likes, boosts and notifications. What a member
    does that other servers must hear of goes through the outbox in the same transaction;
    inbound activities that concern members reach :meth:`receive` through the inbox.
    """

    async def account_for_member(self, session: AsyncSession, user_id: int) -> SocialAccountDTO:
        """The member's own account, made (with its keypair) on first need."""
        ...

    async def local_account(self, session: AsyncSession, username: str) -> SocialAccountDTO | None:
        """The account of the member called ``username`` (any case), if there is one."""
        ...

    async def account(self, session: AsyncSession, account_id: int) -> SocialAccountDTO: ...

    async def actor_document(self, session: AsyncSession, username: str) -> ApObjectDTO | None:
        """The member's ``Person`` document (None when there is no such member, or when the
        account is suspended)."""
        ...

    async def update_profile(
        self, session: AsyncSession, user_id: int, profile: SocialProfileInput
    ) -> SocialAccountDTO:
        """Save the member's profile and tell their followers (``Update`` of the Person)."""
        ...

    async def resolve_account(self, session: AsyncSession, query: str) -> SocialAccountDTO:
        """The account a handle (``@name@host``) or an actor URL names, fetched if remote."""
        ...

    async def relationship(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO: ...

    async def follow(self, session: AsyncSession, user_id: int, account_id: int) -> RelationshipDTO:
        """Follow an account: a remote one is asked with a ``Follow`` (pending until it
        accepts); a local one is followed at once unless it is locked."""
        ...

    async def unfollow(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO: ...

    async def follow_requests(
        self, session: AsyncSession, user_id: int
    ) -> list[SocialAccountDTO]: ...

    async def answer_follow_request(
        self, session: AsyncSession, user_id: int, account_id: int, *, accept: bool
    ) -> None:
        """Accept or reject a pending follow of the member's (locked) account."""
        ...

    async def followers(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        """Accepted followers, oldest first, and how many there are."""
        ...

    async def following(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]: ...

    async def compose(
        self, session: AsyncSession, user_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Publish a post: stored, and a ``Create{Note}`` to followers and mentioned accounts."""
        ...

    async def edit_status(
        self, session: AsyncSession, user_id: int, status_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Edit one of the member's posts (text and content warning; who can see it stays as
        it was) and federate the ``Update``. Another member's post is a 404."""
        ...

    async def delete_status(self, session: AsyncSession, user_id: int, status_id: int) -> None:
        """Delete one of the member's posts (another's is a 404) and federate the ``Delete``."""
        ...

    async def favourite(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Like (or unlike) a post the member can see; a remote author hears of it."""
        ...

    async def boost(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Boost (or un-boost) a public or unlisted post: an ``Announce`` to followers."""
        ...

    async def home_timeline(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """The member's own posts, those of accounts they follow and those addressed to them."""
        ...

    async def local_timeline(
        self, session: AsyncSession, viewer_user_id: int | None, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """Public posts of the cooperative's members, newest first."""
        ...

    async def account_statuses(
        self,
        session: AsyncSession,
        account_id: int,
        viewer_user_id: int | None,
        *,
        max_id: int | None,
        limit: int,
    ) -> TimelinePageDTO:
        """An account's posts that the viewer may see (a profile page)."""
        ...

    async def status(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> SocialStatusDTO:
        """One post, if the viewer may see it (else NotFound: its existence is not told)."""
        ...

    async def replies(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> list[SocialStatusDTO]: ...

    async def local_status_document(
        self, session: AsyncSession, username: str, uid: str
    ) -> ApObjectDTO | None:
        """A member's public or unlisted post as a ``Note`` (a Tombstone once deleted); None
        for anything a stranger may not see."""
        ...

    async def status_id_by_uri(
        self, session: AsyncSession, username: str, uid: str
    ) -> int | None: ...

    async def outbox(
        self, session: AsyncSession, username: str, *, max_id: int | None, limit: int
    ) -> SocialOutboxPageDTO:
        """A member's public activities (public and unlisted posts only), newest first:
        (page, total, next max_id)."""
        ...

    async def notifications(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> NotificationPageDTO: ...

    async def unread_count(self, session: AsyncSession, user_id: int) -> int: ...

    async def mark_notifications_read(self, session: AsyncSession, user_id: int) -> int: ...

    async def receive(
        self, session: AsyncSession, inbound: ApObjectDTO, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        """Act on a verified inbound activity that concerns members; None when it does not
        (an app actor's follow, say), so the app actors' handling takes it."""
        ...

    async def block(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        *,
        kind: str = "block",
        undo: bool = False,
    ) -> RelationshipDTO:
        """Block (no follows either way, nothing from them) or mute (nothing from them in
        timelines or notifications) an account, or undo it."""
        ...

    async def report(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        status_id: int | None,
        comment: str,
    ) -> None:
        """Report an account (and one of its posts the member can see) to the admins."""
        ...

    async def reports(self, session: AsyncSession, *, open_only: bool) -> list[SocialReportDTO]:
        """Reports for the admins, newest first."""
        ...

    async def resolve_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> None: ...

    async def suspend(
        self, session: AsyncSession, admin_user_id: int, account_id: int, *, undo: bool = False
    ) -> SocialAccountDTO:
        """Suspend an account (or lift it): its posts are hidden everywhere, a local actor
        disappears for other servers and a remote one is ignored at the inbox."""
        ...

    async def domain_blocks(self, session: AsyncSession) -> list[str]: ...

    async def domain_blocked(self, session: AsyncSession, host: str) -> bool:
        """Whether ``host`` (or a domain it is under) is blocked."""
        ...

    async def block_domain(
        self, session: AsyncSession, admin_user_id: int, domain: str, *, undo: bool = False
    ) -> None:
        """Block a whole domain: its activities are dropped at the inbox from now on, and its
        accounts (their follows, posts, likes) and its followers of our app actors removed."""
        ...

    async def member_profile(self, session: AsyncSession, user_id: int) -> SocialAccountDTO | None:
        """The member's fediverse profile (display name, bio, avatar) if they have one yet;
        reads only (the account dashboard shows it)."""
        ...

    async def app_actors(self, session: AsyncSession) -> list[SocialAccountDTO]:
        """The cooperative's own app actors (blog, market, events ...) as accounts a member
        can follow."""
        ...
