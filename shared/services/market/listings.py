"""The market's product listings: the home page, category and supplier pages, a product,
and staff's list of every product."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    PRODUCT_SORTS,
    CategoryDTO,
    CategoryListing,
    MarketHome,
    ProductDTO,
    ProductFilters,
    ProductPage,
    SupplierDTO,
    SupplierListing,
)
from shared.errors import DomainError, NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models import Product, ProductCategory
from shared.services.market.paging import listing_page
from shared.services.market.queries import (
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    hydrate,
    listing_select,
    load_categories,
    load_suppliers,
    on_sale,
    one_product,
    page_of,
    subtree,
    tree,
)


class MarketListings:
    """The read side of :class:`shared.contracts.CatalogService` (search apart)."""

    async def market_home(
        self, session: AsyncSession, *, featured_limit: int = 8, latest_limit: int = 8
    ) -> MarketHome:
        """The category tree, featured products and the newest products."""
        categories = tree(await load_categories(session))
        featured = await self.featured_products(session, limit=featured_limit)
        rows = await session.execute(
            listing_select()
            .where(*on_sale())
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(latest_limit)
        )
        latest = await hydrate(session, rows.all())
        return MarketHome(categories=categories, featured=featured, latest=tuple(latest))

    async def products(
        self,
        session: AsyncSession,
        filters: ProductFilters,
        *,
        page: int = 1,
        per_page: int = 24,
        after: str | None = None,
    ) -> ProductPage:
        """One page of the products ``filters`` select, sorted as they say."""
        categories = await load_categories(session)
        suppliers = await load_suppliers(session)
        return await _listing(session, filters, categories, suppliers, page, per_page, after)

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
        """A category with its trail, sub-categories and its (and their) products: three
        statements (the categories, the suppliers, the page)."""
        categories = await load_categories(session)
        category = next((c for c in categories.values() if c.slug == slug), None)
        if category is None:
            raise NotFound("category_not_found", "There is no such category.")
        trail: list[CategoryDTO] = []
        node: CategoryDTO | None = category
        while node is not None:
            trail.insert(0, node)
            node = categories.get(node.parent_id) if node.parent_id is not None else None
        children = tuple(
            sorted(
                (c for c in categories.values() if c.parent_id == category.id),
                key=lambda c: (c.position, c.name.lower()),
            )
        )
        suppliers = await load_suppliers(session)
        listing = await _listing(
            session, replace(filters, category=slug), categories, suppliers, page, per_page, after
        )
        return CategoryListing(
            category=category,
            trail=tuple(trail[:-1]),
            children=children,
            products=listing,
            suppliers=tuple(suppliers.values()),
        )

    async def supplier_listing(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 24,
        after: str | None = None,
    ) -> SupplierListing:
        """A supplier and one page of its products."""
        suppliers = await load_suppliers(session)
        found = next((s for s in suppliers.values() if s.slug == slug), None)
        if found is None:
            raise NotFound("supplier_not_found", "There is no such supplier.")
        listing = await _listing(
            session,
            ProductFilters(supplier=slug),
            await load_categories(session),
            suppliers,
            page,
            per_page,
            after,
        )
        return SupplierListing(supplier=found, products=listing)

    async def product_by_slug(self, session: AsyncSession, slug: str) -> ProductDTO:
        """A product (also when unavailable: its page says so)."""
        return await one_product(session, Product.slug == slug)

    async def product_by_id(self, session: AsyncSession, product_id: int) -> ProductDTO:
        """A product by id (also when unavailable)."""
        return await one_product(session, Product.id == product_id)

    async def featured_products(
        self, session: AsyncSession, *, limit: int = 4
    ) -> tuple[ProductDTO, ...]:
        """Featured available products, newest first."""
        if not 0 < limit <= MAX_PER_PAGE:
            raise DomainError("limit_out_of_range", f"limit must be 1 to {MAX_PER_PAGE}.")
        rows = await session.execute(
            listing_select()
            .where(*on_sale(), Product.featured.is_(True))
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(limit)
        )
        return tuple(await hydrate(session, rows.all()))

    async def category_tree(self, session: AsyncSession) -> tuple[CategoryDTO, ...]:
        """The top-level categories, each with its sub-categories, in order."""
        return tree(await load_categories(session))

    async def suppliers(self, session: AsyncSession) -> tuple[SupplierDTO, ...]:
        """Every supplier, by name."""
        return tuple((await load_suppliers(session)).values())

    async def staff_products(
        self, session: AsyncSession, *, query: str = "", page: int = 1, per_page: int = 50
    ) -> ProductPage:
        """Every product, unavailable ones too, newest first (``query`` narrows by title,
        slug or SKU)."""
        conditions: list[ColumnElement[bool]] = []
        text = clean_text(query)[:MAX_QUERY_CHARS]
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                or_(
                    Product.title.ilike(pattern),
                    Product.slug.ilike(pattern),
                    Product.sku.ilike(pattern),
                )
            )
        return await page_of(session, conditions, "newest", page, per_page)


async def _listing(
    session: AsyncSession,
    filters: ProductFilters,
    categories: Mapping[int, CategoryDTO],
    suppliers: Mapping[int, SupplierDTO],
    page: int,
    per_page: int,
    after: str | None,
) -> ProductPage:
    conditions = list(on_sale())
    if filters.category:
        root = next((c for c in categories.values() if c.slug == filters.category), None)
        if root is None:
            raise NotFound("category_not_found", "There is no such category.")
        conditions.append(
            Product.id.in_(
                select(ProductCategory.product_id).where(
                    ProductCategory.category_id.in_(subtree(categories, root.id))
                )
            )
        )
    if filters.supplier:
        supplier = next((s for s in suppliers.values() if s.slug == filters.supplier), None)
        if supplier is None:
            raise NotFound("supplier_not_found", "There is no such supplier.")
        conditions.append(Product.supplier_id == supplier.id)
    if filters.in_stock:
        conditions.append(or_(Product.stock.is_(None), Product.stock > 0))
    if filters.min_price_minor is not None:
        conditions.append(Product.price_minor >= filters.min_price_minor)
    if filters.max_price_minor is not None:
        conditions.append(Product.price_minor <= filters.max_price_minor)
    if filters.sort not in PRODUCT_SORTS:
        raise DomainError("invalid_sort", "Sort by " + ", ".join(PRODUCT_SORTS) + ".")
    return await listing_page(
        session,
        conditions,
        filters.sort,
        categories=categories,
        suppliers=suppliers,
        page=page,
        per_page=per_page,
        after=after,
    )
