"""The catalog domain's service (the market app): products as the cart sells them, and stock.

Stock only changes here, and only under :func:`shared.infrastructure.locking.lock_objects`
(key ``("product", id)``): :meth:`SqlCatalogService.reserve` checks the locks are held, reads
the counts and writes them in the caller's transaction, all or nothing.

The market's pages read through the same service: listings are one count, one page of
products (with their supplier joined) and one query each for the page's images and
categories, whatever the number of products. The category tree is small and read whole.
Staff writes check every field first and report every problem at once
(:class:`~shared.contracts.errors.InvalidCatalogInput`), sanitize HTML, keep the price
history and write an audit row; the CSV import is all or nothing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.dtos import (
    MAX_PRICE_MINOR,
    PRODUCT_SORTS,
    CategoryDTO,
    CategoryInput,
    CategoryListing,
    CsvImportReport,
    FulfilmentLine,
    MarketHome,
    MarketPageDTO,
    MarketPageInput,
    MarketPageItemDTO,
    Money,
    ProductDTO,
    ProductFilters,
    ProductImageDTO,
    ProductInput,
    ProductPage,
    ProductSearchHit,
    ProductSearchResults,
    SellableDTO,
    SupplierDTO,
    SupplierInput,
    SupplierListing,
)
from shared.contracts.errors import InvalidCatalogInput, SoldOut, Unavailable
from shared.errors import Conflict, DomainError, NotFound
from shared.infrastructure.locking import LockKey, lock_objects, require_locked
from shared.infrastructure.sanitize import (
    SLUG_MAX,
    SLUG_RE,
    clean_text,
    html_to_text,
    sanitize_html,
    slugify,
)
from shared.models import (
    Category,
    MarketPage,
    MarketPageItem,
    PriceChange,
    Product,
    ProductCategory,
    ProductImage,
    Supplier,
)
from shared.services import audit
from shared.services.market import catalog_csv

KIND = "product"


def product_lock_key(product_id: int) -> LockKey:
    return (KIND, product_id)


class SqlCatalogService:
    """Implements :class:`shared.contracts.protocols.CatalogService`."""

    def __init__(self, public_url: str = "") -> None:
        # The market's address as buyers see it: cart lines link back to the product there.
        self.public_url = public_url.rstrip("/")

    # -- what the cart sells --

    async def sellables(self, session: AsyncSession, ids: Iterable[int]) -> dict[int, SellableDTO]:
        """The current price, availability and stock of each known product id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        first_image = (
            select(ProductImage.url)
            .where(ProductImage.product_id == Product.id)
            .order_by(ProductImage.position, ProductImage.id)
            .limit(1)
            .scalar_subquery()
        )
        rows = await session.execute(
            select(
                Product.id,
                Product.slug,
                Product.title,
                Product.price_minor,
                Product.currency,
                Product.available,
                Product.stock,
                Product.unit,
                first_image,
            ).where(Product.id.in_(wanted))
        )
        return {
            row.id: SellableDTO(
                kind=KIND,
                id=row.id,
                title=row.title,
                price=Money(row.price_minor, row.currency),
                available=row.available and (row.stock is None or row.stock > 0),
                stock=row.stock,
                url=f"{self.public_url}/products/{row.slug}",
                image_url=row[8],
                unit=row.unit,
            )
            for row in rows
        }

    async def lock_keys(self, session: AsyncSession, ids: Iterable[int]) -> list[LockKey]:
        """One key per product: its stock count."""
        return [product_lock_key(i) for i in sorted(set(ids))]

    async def reserve(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Take ``quantities`` from the products' stock, all or nothing (locks must be held)."""
        wanted = _positive(quantities)
        require_locked(session, [product_lock_key(i) for i in wanted])
        # Read fresh from the database, not from the session's identity map.
        rows = {
            row.id: row
            for row in await session.execute(
                select(Product.id, Product.available, Product.stock)
                .where(Product.id.in_(list(wanted)))
                .execution_options(populate_existing=True)
            )
        }
        missing = sorted(i for i in wanted if i not in rows or not rows[i].available)
        if missing:
            raise Unavailable(KIND, missing)
        short = {
            i: rows[i].stock
            for i, quantity in wanted.items()
            if rows[i].stock is not None and rows[i].stock < quantity
        }
        if short:
            raise SoldOut(KIND, short)
        for product_id, quantity in sorted(wanted.items()):
            if rows[product_id].stock is not None:
                await session.execute(
                    update(Product)
                    .where(Product.id == product_id)
                    .values(stock=Product.stock - quantity)
                )

    async def release(self, session: AsyncSession, quantities: Mapping[int, int]) -> None:
        """Give back what :meth:`reserve` took (unlimited products have nothing to give back)."""
        for product_id, quantity in sorted(_positive(quantities).items()):
            # An increment cannot oversell, so it needs no lock: the UPDATE is atomic.
            await session.execute(
                update(Product)
                .where(Product.id == product_id, Product.stock.is_not(None))
                .values(stock=Product.stock + quantity)
            )

    async def fulfil(self, session: AsyncSession, lines: Sequence[FulfilmentLine]) -> None:
        """Nothing to issue for goods: collection or delivery is the order's, not the product's."""

    # -- staff --

    async def set_stock(self, session: AsyncSession, product_id: int, stock: int | None) -> None:
        """Set a product's stock count (None: unlimited), under the product's lock."""
        if stock is not None and stock < 0:
            raise DomainError("invalid_stock", "Stock cannot be negative.")
        await lock_objects(session, [product_lock_key(product_id)])
        result = await session.execute(
            update(Product).where(Product.id == product_id).values(stock=stock)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("product_not_found", "No such product.")

    # -- the market's pages --

    async def market_home(
        self, session: AsyncSession, *, featured_limit: int = 8, latest_limit: int = 8
    ) -> MarketHome:
        """The category tree, featured products and the newest products."""
        tree = _tree(await self._categories(session))
        featured = await self.featured_products(session, limit=featured_limit)
        rows = await session.execute(
            _listing_select()
            .where(*_on_sale())
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(latest_limit)
        )
        latest = await self._hydrate(session, rows.all())
        return MarketHome(categories=tree, featured=featured, latest=tuple(latest))

    async def products(
        self, session: AsyncSession, filters: ProductFilters, *, page: int = 1, per_page: int = 24
    ) -> ProductPage:
        """One page of the products ``filters`` select, sorted as they say."""
        categories = await self._categories(session) if filters.category else {}
        return await self._listing(session, filters, categories, page, per_page)

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
        categories = await self._categories(session)
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
        listing = await self._listing(
            session, _replace(filters, category=slug), categories, page, per_page
        )
        return CategoryListing(
            category=category,
            trail=tuple(trail[:-1]),
            children=children,
            products=listing,
            suppliers=await self.suppliers(session),
        )

    async def supplier_listing(
        self, session: AsyncSession, slug: str, *, page: int = 1, per_page: int = 24
    ) -> SupplierListing:
        """A supplier and one page of its products."""
        row = await session.scalar(select(Supplier).where(Supplier.slug == slug))
        if row is None:
            raise NotFound("supplier_not_found", "There is no such supplier.")
        listing = await self._listing(session, ProductFilters(supplier=slug), {}, page, per_page)
        return SupplierListing(supplier=_supplier_dto(row), products=listing)

    async def product_by_slug(self, session: AsyncSession, slug: str) -> ProductDTO:
        """A product (also when unavailable: its page says so)."""
        return await self._one(session, Product.slug == slug)

    async def product_by_id(self, session: AsyncSession, product_id: int) -> ProductDTO:
        """A product by id (also when unavailable)."""
        return await self._one(session, Product.id == product_id)

    async def search_products(
        self, session: AsyncSession, query: str, *, page: int = 1, per_page: int = 24
    ) -> ProductSearchResults:
        """Available products matching ``query`` (web-search syntax), best first, with
        highlighted snippets."""
        _check_paging(page, per_page)
        query = clean_text(query)[:MAX_QUERY_CHARS]
        if not query:
            return ProductSearchResults(query="", hits=(), page=1, per_page=per_page, total=0)
        tsquery = func.websearch_to_tsquery(literal("english", type_=REGCONFIG), query)
        matches = [*_on_sale(), Product.search.op("@@")(tsquery)]
        total = int(
            await session.scalar(select(func.count()).select_from(Product).where(*matches)) or 0
        )
        if page > 1 and (page - 1) * per_page >= total:
            raise NotFound("page_out_of_range", "There is no such page.")
        if total == 0:
            return ProductSearchResults(query=query, hits=(), page=1, per_page=per_page, total=0)
        rank = func.ts_rank(Product.search, tsquery)
        ranked = (
            select(Product.id, rank.label("rank"))
            .where(*matches)
            .order_by(rank.desc(), Product.created_at.desc(), Product.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .subquery()
        )
        # ts_headline is costly: run it on this page's rows only, over the same text the
        # search column indexes ('<' and '>' blanked the same way, see shared.models.market).
        source = func.concat_ws(
            " ", func.coalesce(Product.summary, ""), func.coalesce(Product.plaintext, "")
        )
        headline = func.ts_headline(
            literal("english", type_=REGCONFIG),
            func.translate(source, "<>", "  "),
            tsquery,
            _HEADLINE_OPTIONS,
        )
        rows = (
            await session.execute(
                _listing_select(ranked.c.rank, headline.label("headline"))
                .join(ranked, ranked.c.id == Product.id)
                .order_by(ranked.c.rank.desc(), Product.created_at.desc(), Product.id.desc())
            )
        ).all()
        products = await self._hydrate(session, rows)
        hits = []
        for product, row in zip(products, rows, strict=True):
            raw = row.headline or ""
            snippet = _highlight(raw) if _HL_START in raw else html.escape(product.summary or "")
            hits.append(ProductSearchHit(product=product, rank=float(row.rank), snippet=snippet))
        return ProductSearchResults(
            query=query, hits=tuple(hits), page=page, per_page=per_page, total=total
        )

    async def featured_products(
        self, session: AsyncSession, *, limit: int = 4
    ) -> tuple[ProductDTO, ...]:
        """Featured available products, newest first."""
        if not 0 < limit <= MAX_PER_PAGE:
            raise DomainError("limit_out_of_range", f"limit must be 1 to {MAX_PER_PAGE}.")
        rows = await session.execute(
            _listing_select()
            .where(*_on_sale(), Product.featured.is_(True))
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(limit)
        )
        return tuple(await self._hydrate(session, rows.all()))

    async def category_tree(self, session: AsyncSession) -> tuple[CategoryDTO, ...]:
        """The top-level categories, each with its sub-categories, in order."""
        return _tree(await self._categories(session))

    async def suppliers(self, session: AsyncSession) -> tuple[SupplierDTO, ...]:
        """Every supplier, by name."""
        rows = await session.scalars(select(Supplier).order_by(func.lower(Supplier.name)))
        return tuple(_supplier_dto(r) for r in rows)

    async def market_page(
        self, session: AsyncSession, slug: str, *, include_unpublished: bool = False
    ) -> MarketPageDTO:
        """A curated page with its items in order (unavailable products left out)."""
        row = await session.scalar(select(MarketPage).where(MarketPage.slug == slug))
        if row is None or not (row.published or include_unpublished):
            raise NotFound("market_page_not_found", "There is no such page.")
        return await self._page_dto(session, row, public=True)

    async def market_pages(
        self, session: AsyncSession, *, include_unpublished: bool = False
    ) -> tuple[MarketPageDTO, ...]:
        """The market pages (without their items), by title."""
        stmt = select(MarketPage).order_by(func.lower(MarketPage.title), MarketPage.id)
        if not include_unpublished:
            stmt = stmt.where(MarketPage.published.is_(True))
        return tuple(_page_dto(r, ()) for r in await session.scalars(stmt))

    # -- staff --

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
        return await self._page_of(session, conditions, "newest", page, per_page)

    async def get_supplier(self, session: AsyncSession, supplier_id: int) -> SupplierDTO:
        """A supplier by id."""
        return _supplier_dto(await self._supplier_row(session, supplier_id))

    async def create_supplier(
        self, session: AsyncSession, data: SupplierInput, *, actor_user_id: int | None = None
    ) -> SupplierDTO:
        """Add a supplier (description sanitized); audited."""
        row = Supplier(slug="", name="")
        await self._apply_supplier(session, row, data)
        session.add(row)
        await session.flush()
        dto = _supplier_dto(row)
        _audit(
            session, "market.supplier.created", "market_supplier", row.id, actor_user_id, None, dto
        )
        return dto

    async def update_supplier(
        self,
        session: AsyncSession,
        supplier_id: int,
        data: SupplierInput,
        *,
        actor_user_id: int | None = None,
    ) -> SupplierDTO:
        """Change a supplier; audited."""
        row = await self._supplier_row(session, supplier_id)
        before = _supplier_dto(row)
        await self._apply_supplier(session, row, data)
        await session.flush()
        dto = _supplier_dto(row)
        _audit(
            session,
            "market.supplier.updated",
            "market_supplier",
            row.id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def delete_supplier(
        self, session: AsyncSession, supplier_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a supplier that has no products; audited."""
        row = await self._supplier_row(session, supplier_id)
        used = await session.scalar(
            select(func.count()).select_from(Product).where(Product.supplier_id == supplier_id)
        )
        if used:
            raise Conflict(
                "supplier_in_use",
                f"{row.name} still has {used} product(s): move or withdraw them first.",
            )
        before = _supplier_dto(row)
        await session.delete(row)
        await session.flush()
        _audit(
            session,
            "market.supplier.deleted",
            "market_supplier",
            supplier_id,
            actor_user_id,
            before,
            None,
        )

    async def get_category(self, session: AsyncSession, category_id: int) -> CategoryDTO:
        """A category by id."""
        return _category_dto(await self._category_row(session, category_id))

    async def create_category(
        self, session: AsyncSession, data: CategoryInput, *, actor_user_id: int | None = None
    ) -> CategoryDTO:
        """Add a category under ``data.parent_id`` (or at the top); audited."""
        row = Category(slug="", name="")
        await self._apply_category(session, row, data)
        session.add(row)
        await session.flush()
        dto = _category_dto(row)
        _audit(
            session, "market.category.created", "market_category", row.id, actor_user_id, None, dto
        )
        return dto

    async def update_category(
        self,
        session: AsyncSession,
        category_id: int,
        data: CategoryInput,
        *,
        actor_user_id: int | None = None,
    ) -> CategoryDTO:
        """Change a category; it cannot move under itself or its own descendants."""
        row = await self._category_row(session, category_id)
        before = _category_dto(row)
        await self._apply_category(session, row, data)
        await session.flush()
        dto = _category_dto(row)
        _audit(
            session,
            "market.category.updated",
            "market_category",
            row.id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def delete_category(
        self, session: AsyncSession, category_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a category without sub-categories or products; audited."""
        row = await self._category_row(session, category_id)
        children = await session.scalar(
            select(func.count()).select_from(Category).where(Category.parent_id == category_id)
        )
        if children:
            raise Conflict(
                "category_has_children", f"{row.name} has sub-categories: move them first."
            )
        products = await session.scalar(
            select(func.count())
            .select_from(ProductCategory)
            .where(ProductCategory.category_id == category_id)
        )
        if products:
            raise Conflict(
                "category_in_use", f"{row.name} still has {products} product(s): move them first."
            )
        before = _category_dto(row)
        await session.delete(row)
        await session.flush()
        _audit(
            session,
            "market.category.deleted",
            "market_category",
            category_id,
            actor_user_id,
            before,
            None,
        )

    async def create_product(
        self, session: AsyncSession, data: ProductInput, *, actor_user_id: int | None = None
    ) -> ProductDTO:
        """Add a product (its first price recorded in the price history); audited."""
        checked = await self._check_product(session, None, data)
        row = await self._write_product(session, None, checked, source="staff")
        dto = await self.product_by_id(session, row.id)
        _audit(
            session, "market.product.created", "market_product", row.id, actor_user_id, None, dto
        )
        return dto

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
        row = await self._product_row(session, product_id)
        before = await self.product_by_id(session, product_id)
        checked = await self._check_product(session, row, data)
        await self._write_product(session, row, checked, source="staff")
        if checked.stock != before.stock:
            await self.set_stock(session, product_id, checked.stock)
        dto = await self.product_by_id(session, product_id)
        _audit(
            session,
            "market.product.updated",
            "market_product",
            product_id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def get_market_page(self, session: AsyncSession, page_id: int) -> MarketPageDTO:
        """A market page by id, published or not, with every item."""
        return await self._page_dto(session, await self._page_row(session, page_id), public=False)

    async def create_market_page(
        self, session: AsyncSession, data: MarketPageInput, *, actor_user_id: int | None = None
    ) -> MarketPageDTO:
        """Compose a market page; audited."""
        row = MarketPage(slug="", title="")
        items = await self._apply_page(session, row, data)
        session.add(row)
        await session.flush()
        await self._write_page_items(session, row.id, items)
        dto = await self.get_market_page(session, row.id)
        _audit(session, "market.page.created", "market_page", row.id, actor_user_id, None, dto)
        return dto

    async def update_market_page(
        self,
        session: AsyncSession,
        page_id: int,
        data: MarketPageInput,
        *,
        actor_user_id: int | None = None,
    ) -> MarketPageDTO:
        """Replace a market page's fields and items; audited."""
        row = await self._page_row(session, page_id)
        before = await self.get_market_page(session, page_id)
        items = await self._apply_page(session, row, data)
        await session.flush()
        await self._write_page_items(session, row.id, items)
        dto = await self.get_market_page(session, row.id)
        _audit(session, "market.page.updated", "market_page", row.id, actor_user_id, before, dto)
        return dto

    async def delete_market_page(
        self, session: AsyncSession, page_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a market page; audited."""
        row = await self._page_row(session, page_id)
        before = await self.get_market_page(session, page_id)
        await session.delete(row)
        await session.flush()
        _audit(session, "market.page.deleted", "market_page", page_id, actor_user_id, before, None)

    async def export_products_csv(self, session: AsyncSession) -> str:
        """Every product as CSV, in the columns :meth:`import_products_csv` reads."""
        rows = await session.execute(_listing_select().order_by(Product.id))
        return catalog_csv.write(await self._hydrate(session, rows.all()))

    async def import_products_csv(
        self, session: AsyncSession, text: str, *, actor_user_id: int | None = None
    ) -> CsvImportReport:
        """Create or update products from CSV rows (matched by slug), all or nothing:
        :class:`~shared.contracts.errors.CsvImportRefused` lists every bad line."""
        return await catalog_csv.import_rows(self, session, text, actor_user_id)

    # -- helpers --

    async def _categories(self, session: AsyncSession) -> dict[int, CategoryDTO]:
        rows = await session.scalars(select(Category).order_by(Category.position, Category.name))
        return {r.id: _category_dto(r) for r in rows}

    async def _listing(
        self,
        session: AsyncSession,
        filters: ProductFilters,
        categories: Mapping[int, CategoryDTO],
        page: int,
        per_page: int,
    ) -> ProductPage:
        conditions = list(_on_sale())
        if filters.category:
            root = next((c for c in categories.values() if c.slug == filters.category), None)
            if root is None:
                raise NotFound("category_not_found", "There is no such category.")
            conditions.append(
                Product.id.in_(
                    select(ProductCategory.product_id).where(
                        ProductCategory.category_id.in_(_subtree(categories, root.id))
                    )
                )
            )
        if filters.supplier:
            supplier_id = await session.scalar(
                select(Supplier.id).where(Supplier.slug == filters.supplier)
            )
            if supplier_id is None:
                raise NotFound("supplier_not_found", "There is no such supplier.")
            conditions.append(Product.supplier_id == supplier_id)
        if filters.in_stock:
            conditions.append(or_(Product.stock.is_(None), Product.stock > 0))
        if filters.min_price_minor is not None:
            conditions.append(Product.price_minor >= filters.min_price_minor)
        if filters.max_price_minor is not None:
            conditions.append(Product.price_minor <= filters.max_price_minor)
        if filters.sort not in PRODUCT_SORTS:
            raise DomainError("invalid_sort", "Sort by " + ", ".join(PRODUCT_SORTS) + ".")
        return await self._page_of(session, conditions, filters.sort, page, per_page)

    async def _page_of(
        self,
        session: AsyncSession,
        conditions: Sequence[ColumnElement[bool]],
        sort: str,
        page: int,
        per_page: int,
    ) -> ProductPage:
        _check_paging(page, per_page)
        total = int(
            await session.scalar(select(func.count()).select_from(Product).where(*conditions)) or 0
        )
        if page > 1 and (page - 1) * per_page >= total:
            raise NotFound("page_out_of_range", "There is no such page.")
        rows = await session.execute(
            _listing_select()
            .where(*conditions)
            .order_by(*_ORDER[sort])
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        products = await self._hydrate(session, rows.all())
        return ProductPage(products=tuple(products), page=page, per_page=per_page, total=total)

    async def _one(self, session: AsyncSession, condition: ColumnElement[bool]) -> ProductDTO:
        rows = (await session.execute(_listing_select().where(condition))).all()
        if not rows:
            raise NotFound("product_not_found", "There is no such product.")
        return (await self._hydrate(session, rows))[0]

    async def _hydrate(self, session: AsyncSession, rows: Sequence[Any]) -> list[ProductDTO]:
        """DTOs for rows of :func:`_listing_select`: one query for all their images, one for
        all their categories (never one per product)."""
        ids = [row.Product.id for row in rows]
        if not ids:
            return []
        images: dict[int, list[ProductImageDTO]] = {}
        for image in await session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id.in_(ids))
            .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
        ):
            images.setdefault(image.product_id, []).append(ProductImageDTO(image.url, image.alt))
        categories: dict[int, list[CategoryDTO]] = {}
        for product_id, category in await session.execute(
            select(ProductCategory.product_id, Category)
            .join(Category, Category.id == ProductCategory.category_id)
            .where(ProductCategory.product_id.in_(ids))
            .order_by(Category.position, Category.name)
        ):
            categories.setdefault(product_id, []).append(_category_dto(category))
        return [
            _product_dto(
                row.Product,
                row.Supplier,
                tuple(categories.get(row.Product.id, ())),
                tuple(images.get(row.Product.id, ())),
            )
            for row in rows
        ]

    async def _supplier_row(self, session: AsyncSession, supplier_id: int) -> Supplier:
        row = await session.get(Supplier, supplier_id)
        if row is None:
            raise NotFound("supplier_not_found", "There is no such supplier.")
        return row

    async def _category_row(self, session: AsyncSession, category_id: int) -> Category:
        row = await session.get(Category, category_id)
        if row is None:
            raise NotFound("category_not_found", "There is no such category.")
        return row

    async def _product_row(self, session: AsyncSession, product_id: int) -> Product:
        row = await session.get(Product, product_id)
        if row is None:
            raise NotFound("product_not_found", "There is no such product.")
        return row

    async def _page_row(self, session: AsyncSession, page_id: int) -> MarketPage:
        row = await session.get(MarketPage, page_id)
        if row is None:
            raise NotFound("market_page_not_found", "There is no such page.")
        return row

    async def _slug(
        self,
        session: AsyncSession,
        model: Any,
        wanted: str,
        name: str,
        own_id: int | None,
        errors: dict[str, str],
    ) -> str:
        """The slug asked for (checked and free), or one made from ``name`` (made free)."""
        slug = wanted.strip().lower()
        if slug:
            if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
                errors["slug"] = "Use lower-case letters, digits and single hyphens."
                return slug
            taken = await session.scalar(
                select(model.id).where(model.slug == slug, model.id != (own_id or 0))
            )
            if taken is not None:
                errors["slug"] = f"The slug {slug!r} is already used."
            return slug
        base = (slugify(name) or "item")[: SLUG_MAX - 6].rstrip("-")
        used = set(
            await session.scalars(
                select(model.slug).where(
                    or_(model.slug == base, model.slug.like(f"{base}-%")),
                    model.id != (own_id or 0),
                )
            )
        )
        slug, n = base, 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        return slug

    async def _apply_supplier(
        self, session: AsyncSession, row: Supplier, data: SupplierInput
    ) -> None:
        errors: dict[str, str] = {}
        name = clean_text(data.name)
        if not name:
            errors["name"] = "Give the supplier a name."
        elif len(name) > 191:
            errors["name"] = "At most 191 characters."
        website = _check_url(data.website, "website", errors, absolute=True)
        logo = _check_url(data.logo_url, "logo_url", errors)
        description = _check_html(data.description, "description", errors)
        slug = await self._slug(session, Supplier, data.slug, name, row.id, errors)
        if errors:
            raise InvalidCatalogInput(errors)
        row.name, row.slug, row.website, row.logo_url = name, slug, website, logo
        row.description = description or None

    async def _apply_category(
        self, session: AsyncSession, row: Category, data: CategoryInput
    ) -> None:
        errors: dict[str, str] = {}
        name = clean_text(data.name)
        if not name:
            errors["name"] = "Give the category a name."
        elif len(name) > 191:
            errors["name"] = "At most 191 characters."
        description = _check_html(data.description, "description", errors)
        if not -10_000 <= data.position <= 10_000:
            errors["position"] = "A position from -10000 to 10000."
        if data.parent_id is not None:
            categories = await self._categories(session)
            if data.parent_id not in categories:
                errors["parent"] = "Choose an existing category as parent."
            elif row.id is not None and data.parent_id in _subtree(categories, row.id):
                errors["parent"] = "A category cannot go under itself or its own sub-categories."
        slug = await self._slug(session, Category, data.slug, name, row.id, errors)
        if errors:
            raise InvalidCatalogInput(errors)
        row.name, row.slug, row.parent_id, row.position = name, slug, data.parent_id, data.position
        row.description = description or None

    async def _check_product(
        self, session: AsyncSession, row: Product | None, data: ProductInput
    ) -> _CheckedProduct:
        """Every field checked, every problem reported at once."""
        errors: dict[str, str] = {}
        title = clean_text(data.title)
        if not title:
            errors["title"] = "Give the product a title."
        elif len(title) > 300:
            errors["title"] = "At most 300 characters."
        summary = clean_text(data.summary)
        if len(summary) > 500:
            errors["summary"] = "At most 500 characters."
        sku = clean_text(data.sku)
        if len(sku) > 100:
            errors["sku"] = "At most 100 characters."
        description = _check_html(data.description, "description", errors)
        if not isinstance(data.price_minor, int) or not 0 <= data.price_minor <= MAX_PRICE_MINOR:
            errors["price"] = "A price from 0 to 1,000,000.00."
        currency = data.currency.strip().upper()
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            errors["currency"] = "A three-letter currency code such as GBP."
        unit = clean_text(data.unit) or "each"
        if len(unit) > 32:
            errors["unit"] = "At most 32 characters (each, kg, 500 g ...)."
        if data.stock is not None and not 0 <= data.stock <= MAX_STOCK:
            errors["stock"] = f"A count from 0 to {MAX_STOCK:,}, or empty for unlimited."
        supplier_id = None
        if data.supplier.strip():
            supplier_id = await session.scalar(
                select(Supplier.id).where(Supplier.slug == data.supplier.strip().lower())
            )
            if supplier_id is None:
                errors["supplier"] = f"There is no supplier {data.supplier.strip()!r}."
        wanted = list(dict.fromkeys(c.strip().lower() for c in data.categories if c.strip()))
        category_ids: list[int] = []
        if wanted:
            if len(wanted) > MAX_PRODUCT_CATEGORIES:
                errors["categories"] = f"At most {MAX_PRODUCT_CATEGORIES} categories."
            found = dict(
                (
                    await session.execute(
                        select(Category.slug, Category.id).where(Category.slug.in_(wanted))
                    )
                ).all()
            )
            missing = [c for c in wanted if c not in found]
            if missing:
                errors["categories"] = "No such category: " + ", ".join(missing) + "."
            category_ids = [found[c] for c in wanted if c in found]
        images: list[ProductImageDTO] = []
        if len(data.images) > MAX_IMAGES:
            errors["images"] = f"At most {MAX_IMAGES} images."
        for image in data.images[:MAX_IMAGES]:
            url = _check_url(image.url, "images", errors)
            alt = clean_text(image.alt)[:300]
            if url:
                images.append(ProductImageDTO(url, alt))
        slug = await self._slug(
            session, Product, data.slug, title, row.id if row is not None else None, errors
        )
        if errors:
            raise InvalidCatalogInput(errors)
        return _CheckedProduct(
            slug=slug,
            title=title,
            summary=summary or None,
            description=description or None,
            plaintext=html_to_text(description) if description else None,
            sku=sku or None,
            supplier_id=supplier_id,
            price_minor=data.price_minor,
            currency=currency,
            unit=unit,
            stock=data.stock,
            available=data.available,
            featured=data.featured,
            category_ids=tuple(category_ids),
            images=tuple(images),
        )

    async def _write_product(
        self,
        session: AsyncSession,
        row: Product | None,
        checked: _CheckedProduct,
        *,
        source: str,
    ) -> Product:
        """Store a checked product; an existing product's stock is left to the caller, who
        changes it under its lock."""
        old_price = None if row is None else (row.price_minor, row.currency)
        if row is None:
            row = Product(
                slug=checked.slug, title=checked.title, price_minor=0, stock=checked.stock
            )
            session.add(row)
        row.slug, row.title, row.summary = checked.slug, checked.title, checked.summary
        row.description, row.plaintext, row.sku = (
            checked.description,
            checked.plaintext,
            checked.sku,
        )
        row.supplier_id, row.unit = checked.supplier_id, checked.unit
        row.price_minor, row.currency = checked.price_minor, checked.currency
        row.available, row.featured = checked.available, checked.featured
        await session.flush()
        if old_price != (checked.price_minor, checked.currency):
            session.add(
                PriceChange(
                    product_id=row.id,
                    old_price_minor=old_price[0] if old_price else None,
                    new_price_minor=checked.price_minor,
                    currency=checked.currency,
                    source=source,
                )
            )
        await session.execute(delete(ProductCategory).where(ProductCategory.product_id == row.id))
        session.add_all(
            ProductCategory(product_id=row.id, category_id=c) for c in checked.category_ids
        )
        await session.execute(delete(ProductImage).where(ProductImage.product_id == row.id))
        session.add_all(
            ProductImage(product_id=row.id, url=i.url, alt=i.alt, position=n)
            for n, i in enumerate(checked.images)
        )
        await session.flush()
        return row

    async def _apply_page(
        self, session: AsyncSession, row: MarketPage, data: MarketPageInput
    ) -> list[tuple[int | None, int | None]]:
        errors: dict[str, str] = {}
        title = clean_text(data.title)
        if not title:
            errors["title"] = "Give the page a title."
        elif len(title) > 300:
            errors["title"] = "At most 300 characters."
        intro = _check_html(data.intro, "intro", errors)
        items: list[tuple[int | None, int | None]] = []
        if len(data.items) > MAX_PAGE_ITEMS:
            errors["items"] = f"At most {MAX_PAGE_ITEMS} items."
        else:
            products = {s for k, s in data.items if k == "product"}
            categories = {s for k, s in data.items if k == "category"}
            product_ids = dict(
                (
                    await session.execute(
                        select(Product.slug, Product.id).where(Product.slug.in_(products))
                    )
                ).all()
            )
            category_ids = dict(
                (
                    await session.execute(
                        select(Category.slug, Category.id).where(Category.slug.in_(categories))
                    )
                ).all()
            )
            problems = []
            for n, (kind, slug) in enumerate(data.items, start=1):
                if kind == "product" and slug in product_ids:
                    items.append((product_ids[slug], None))
                elif kind == "category" and slug in category_ids:
                    items.append((None, category_ids[slug]))
                elif kind in ("product", "category"):
                    problems.append(f"item {n}: there is no {kind} {slug!r}")
                else:
                    problems.append(f"item {n}: write product:<slug> or category:<slug>")
            if problems:
                errors["items"] = "; ".join(problems).capitalize() + "."
        slug = await self._slug(session, MarketPage, data.slug, title, row.id, errors)
        if errors:
            raise InvalidCatalogInput(errors)
        row.title, row.slug, row.intro, row.published = title, slug, intro or None, data.published
        return items

    async def _write_page_items(
        self, session: AsyncSession, page_id: int, items: list[tuple[int | None, int | None]]
    ) -> None:
        await session.execute(delete(MarketPageItem).where(MarketPageItem.page_id == page_id))
        session.add_all(
            MarketPageItem(page_id=page_id, position=n, product_id=p, category_id=c)
            for n, (p, c) in enumerate(items)
        )
        await session.flush()

    async def _page_dto(
        self, session: AsyncSession, row: MarketPage, *, public: bool
    ) -> MarketPageDTO:
        items = (
            await session.scalars(
                select(MarketPageItem)
                .where(MarketPageItem.page_id == row.id)
                .order_by(MarketPageItem.position, MarketPageItem.id)
            )
        ).all()
        product_ids = [i.product_id for i in items if i.product_id is not None]
        products: dict[int, ProductDTO] = {}
        if product_ids:
            rows = await session.execute(_listing_select().where(Product.id.in_(product_ids)))
            products = {p.id: p for p in await self._hydrate(session, rows.all())}
        categories = await self._categories(session) if any(i.category_id for i in items) else {}
        entries = []
        for item in items:
            if item.product_id is not None:
                product = products.get(item.product_id)
                if product is None or (public and not product.available):
                    continue
                entries.append(MarketPageItemDTO(item.position, product=product))
            elif item.category_id in categories:
                entries.append(
                    MarketPageItemDTO(item.position, category=categories[item.category_id])
                )
        return _page_dto(row, tuple(entries))


class _CheckedProduct:
    """A product's fields after :meth:`SqlCatalogService._check_product`: ready to store."""

    def __init__(self, **fields: Any) -> None:
        self.slug: str = fields["slug"]
        self.title: str = fields["title"]
        self.summary: str | None = fields["summary"]
        self.description: str | None = fields["description"]
        self.plaintext: str | None = fields["plaintext"]
        self.sku: str | None = fields["sku"]
        self.supplier_id: int | None = fields["supplier_id"]
        self.price_minor: int = fields["price_minor"]
        self.currency: str = fields["currency"]
        self.unit: str = fields["unit"]
        self.stock: int | None = fields["stock"]
        self.available: bool = fields["available"]
        self.featured: bool = fields["featured"]
        self.category_ids: tuple[int, ...] = fields["category_ids"]
        self.images: tuple[ProductImageDTO, ...] = fields["images"]


MAX_QUERY_CHARS = 200
MAX_PER_PAGE = 100
MAX_STOCK = 1_000_000
MAX_IMAGES = 12
MAX_PRODUCT_CATEGORIES = 20
MAX_PAGE_ITEMS = 100
MAX_HTML_CHARS = 100_000
# \x01 and \x02 never occur in stored text (the sanitizer strips control characters), so
# they can mark ts_headline's highlights through html.escape and become <mark> after it.
_HL_START, _HL_STOP = "\x01", "\x02"
_HEADLINE_OPTIONS = (
    f"StartSel={_HL_START}, StopSel={_HL_STOP}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_ORDER: dict[str, tuple[Any, ...]] = {
    "newest": (Product.created_at.desc(), Product.id.desc()),
    "price-asc": (Product.price_minor.asc(), Product.id.asc()),
    "price-desc": (Product.price_minor.desc(), Product.id.desc()),
    "name": (func.lower(Product.title).asc(), Product.id.asc()),
}


def _listing_select(*extra: Any) -> Any:
    """Products with their supplier joined (one row each); ``extra`` columns after them."""
    return select(Product, Supplier, *extra).outerjoin(Supplier, Supplier.id == Product.supplier_id)


def _on_sale() -> list[ColumnElement[bool]]:
    return [Product.available.is_(True)]


def _check_paging(page: int, per_page: int) -> None:
    if page < 1:
        raise NotFound("page_out_of_range", "There is no such page.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DomainError("per_page_out_of_range", f"per_page must be 1 to {MAX_PER_PAGE}.")


def _replace(filters: ProductFilters, **changes: Any) -> ProductFilters:
    from dataclasses import replace

    return replace(filters, **changes)


def _subtree(categories: Mapping[int, CategoryDTO], root: int) -> set[int]:
    """``root`` and every category below it."""
    below: dict[int | None, list[int]] = {}
    for c in categories.values():
        below.setdefault(c.parent_id, []).append(c.id)
    found, todo = set(), [root]
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo.extend(below.get(node, ()))
    return found


def _tree(categories: Mapping[int, CategoryDTO]) -> tuple[CategoryDTO, ...]:
    """The categories as a tree, each level by position then name."""
    below: dict[int | None, list[CategoryDTO]] = {}
    for c in categories.values():
        parent = c.parent_id if c.parent_id in categories else None
        below.setdefault(parent, []).append(c)

    def build(parent: int | None, seen: frozenset[int]) -> tuple[CategoryDTO, ...]:
        level = sorted(below.get(parent, ()), key=lambda c: (c.position, c.name.lower()))
        return tuple(
            _replace_category(c, build(c.id, seen | {c.id})) for c in level if c.id not in seen
        )

    return build(None, frozenset())


def _replace_category(category: CategoryDTO, children: tuple[CategoryDTO, ...]) -> CategoryDTO:
    from dataclasses import replace

    return replace(category, children=children)


def _supplier_dto(row: Supplier) -> SupplierDTO:
    return SupplierDTO(row.id, row.slug, row.name, row.website, row.description, row.logo_url)


def _category_dto(row: Category) -> CategoryDTO:
    return CategoryDTO(row.id, row.slug, row.name, row.description, row.parent_id, row.position)


def _product_dto(
    row: Product,
    supplier: Supplier | None,
    categories: tuple[CategoryDTO, ...],
    images: tuple[ProductImageDTO, ...],
) -> ProductDTO:
    return ProductDTO(
        id=row.id,
        slug=row.slug,
        title=row.title,
        summary=row.summary,
        description=row.description,
        price=Money(row.price_minor, row.currency),
        unit=row.unit,
        stock=row.stock,
        available=row.available,
        featured=row.featured,
        supplier=_supplier_dto(supplier) if supplier is not None else None,
        categories=categories,
        images=images,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sku=row.sku,
        source_url=row.source_url,
        last_imported_at=row.last_imported_at,
    )


def _page_dto(row: MarketPage, items: tuple[MarketPageItemDTO, ...]) -> MarketPageDTO:
    return MarketPageDTO(
        id=row.id,
        slug=row.slug,
        title=row.title,
        intro=row.intro,
        published=row.published,
        items=items,
        updated_at=row.updated_at,
    )


def _check_url(
    value: str | None, field: str, errors: dict[str, str], *, absolute: bool = False
) -> str | None:
    """A link (``absolute``: http or https) or an image (https, or a path on our own site
    such as ``/static/...``: every page's Content-Security-Policy allows only those)."""
    text = (value or "").strip()
    if not text:
        return None
    ok = len(text) <= 2000 and not any(c.isspace() or ord(c) < 32 for c in text)
    if ok:
        lowered = text.lower()
        if absolute:
            ok = lowered.startswith(("https://", "http://"))
        else:
            ok = lowered.startswith("https://") or (
                text.startswith("/") and not text.startswith("//")
            )
    if not ok:
        errors[field] = (
            "An address starting with https:// or http://"
            if absolute
            else "An address starting with https:// or a path starting with /"
        ) + f" (not {text[:60]!r})."
        return None
    return text


def _check_html(value: str, field: str, errors: dict[str, str]) -> str:
    if len(value) > MAX_HTML_CHARS:
        errors[field] = f"At most {MAX_HTML_CHARS:,} characters."
        return ""
    return sanitize_html(value) if value.strip() else ""


def _audit(
    session: AsyncSession,
    action: str,
    object_type: str,
    object_id: int,
    actor_user_id: int | None,
    before: Any,
    after: Any,
) -> None:
    audit.record(
        session,
        action,
        object_type=object_type,
        object_id=object_id,
        actor_user_id=actor_user_id,
        before=_audit_view(before),
        after=_audit_view(after),
    )


def _audit_view(dto: Any) -> dict[str, Any] | None:
    """What an audit row keeps of a DTO: its own fields as JSON values (no nested lists of
    products, no HTML bodies beyond their length)."""
    if dto is None or isinstance(dto, dict):
        return dto
    view: dict[str, Any] = {}
    for name, value in vars(dto).items():
        if isinstance(value, Money):
            view[name] = {"amount_minor": value.amount_minor, "currency": value.currency}
        elif isinstance(value, datetime):
            continue
        elif name in ("description", "intro") and isinstance(value, str):
            view[name + "_chars"] = len(value)
        elif isinstance(value, (str, int, bool)) or value is None:
            view[name] = value
        elif name == "supplier":
            view[name] = value.slug if value is not None else None
        elif name in ("categories",):
            view[name] = [c.slug for c in value]
        elif name == "images":
            view[name] = [i.url for i in value]
        elif name == "items":
            view[name] = [
                f"product:{i.product.slug}" if i.product else f"category:{i.category.slug}"
                for i in value
            ]
    return view


def _highlight(raw: str) -> str:
    """ts_headline output made safe: everything escaped, then our markers become <mark>."""
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_HL_START, "<mark>").replace(_HL_STOP, "</mark>")


def _positive(quantities: Mapping[int, int]) -> dict[int, int]:
    for item_id, quantity in quantities.items():
        if quantity <= 0:
            raise DomainError("invalid_quantity", f"Quantity for {item_id} must be positive.")
    return dict(quantities)
