"""The market's curated pages: an intro and a list of products and categories, composed by
staff (each edit audited) and read by the market's public pages."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    FederationService,
    MarketPageDTO,
    MarketPageInput,
    MarketPageItemDTO,
    ProductDTO,
)
from shared.contracts.errors import InvalidCatalogInput
from shared.errors import NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models import Category, MarketPage, MarketPageItem, Product
from shared.services.market.editing import check_html, record_audit, unique_slug
from shared.services.market.queries import hydrate, listing_select, load_categories

MAX_PAGE_ITEMS = 100


class MarketPages:
    """The market-page part of :class:`shared.contracts.CatalogService`."""

    federation: FederationService | None

    async def market_page(
        self, session: AsyncSession, slug: str, *, include_unpublished: bool = False
    ) -> MarketPageDTO:
        """A curated page with its items in order (unavailable products left out)."""
        row = await session.scalar(select(MarketPage).where(MarketPage.slug == slug))
        if row is None or not (row.published or include_unpublished):
            raise NotFound("market_page_not_found", "There is no such page.")
        return await _page_with_items(session, row, public=True)

    async def market_pages(
        self, session: AsyncSession, *, include_unpublished: bool = False
    ) -> tuple[MarketPageDTO, ...]:
        """The market pages (without their items), by title."""
        stmt = select(MarketPage).order_by(func.lower(MarketPage.title), MarketPage.id)
        if not include_unpublished:
            stmt = stmt.where(MarketPage.published.is_(True))
        return tuple(_page_dto(r, ()) for r in await session.scalars(stmt))

    async def get_market_page(self, session: AsyncSession, page_id: int) -> MarketPageDTO:
        """A market page by id, published or not, with every item."""
        return await _page_with_items(session, await _page_row(session, page_id), public=False)

    async def create_market_page(
        self, session: AsyncSession, data: MarketPageInput, *, actor_user_id: int | None = None
    ) -> MarketPageDTO:
        """Compose a market page; audited."""
        row = MarketPage(slug="", title="")
        items = await _apply_page(session, row, data)
        session.add(row)
        await session.flush()
        await _write_page_items(session, row.id, items)
        dto = await self.get_market_page(session, row.id)
        record_audit(
            session, "market.page.created", "market_page", row.id, actor_user_id, None, dto
        )
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
        row = await _page_row(session, page_id)
        before = await self.get_market_page(session, page_id)
        items = await _apply_page(session, row, data)
        await session.flush()
        # The flush set updated_at in the database (onupdate): read it back here, not lazily.
        await session.refresh(row)
        await _write_page_items(session, row.id, items)
        dto = await self.get_market_page(session, row.id)
        record_audit(
            session, "market.page.updated", "market_page", row.id, actor_user_id, before, dto
        )
        return dto

    async def delete_market_page(
        self, session: AsyncSession, page_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a market page; audited."""
        row = await _page_row(session, page_id)
        before = await self.get_market_page(session, page_id)
        if self.federation is not None and row.ap_object_uri is not None:
            # Withdrawn from the fediverse in the deleting transaction (federating.py).
            await self.federation.publish(session, "market", "Delete", row.ap_object_uri)
        await session.delete(row)
        await session.flush()
        record_audit(
            session, "market.page.deleted", "market_page", page_id, actor_user_id, before, None
        )


async def _page_row(session: AsyncSession, page_id: int) -> MarketPage:
    row = await session.get(MarketPage, page_id)
    if row is None:
        raise NotFound("market_page_not_found", "There is no such page.")
    return row


async def _apply_page(
    session: AsyncSession, row: MarketPage, data: MarketPageInput
) -> list[tuple[int | None, int | None]]:
    """Check ``data`` and set the page's own fields; the items as (product id, category id)."""
    errors: dict[str, str] = {}
    title = clean_text(data.title)
    if not title:
        errors["title"] = "Give the page a title."
    elif len(title) > 300:
        errors["title"] = "At most 300 characters."
    intro = check_html(data.intro, "intro", errors)
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
    slug = await unique_slug(session, MarketPage, data.slug, title, row.id, errors)
    if errors:
        raise InvalidCatalogInput(errors)
    row.title, row.slug, row.intro, row.published = title, slug, intro or None, data.published
    return items


async def _write_page_items(
    session: AsyncSession, page_id: int, items: list[tuple[int | None, int | None]]
) -> None:
    await session.execute(delete(MarketPageItem).where(MarketPageItem.page_id == page_id))
    session.add_all(
        MarketPageItem(page_id=page_id, position=n, product_id=p, category_id=c)
        for n, (p, c) in enumerate(items)
    )
    await session.flush()


async def _page_with_items(
    session: AsyncSession, row: MarketPage, *, public: bool
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
        rows = await session.execute(listing_select().where(Product.id.in_(product_ids)))
        products = {p.id: p for p in await hydrate(session, rows.all())}
    categories = await load_categories(session) if any(i.category_id for i in items) else {}
    entries = []
    for item in items:
        if item.product_id is not None:
            product = products.get(item.product_id)
            if product is None or (public and not product.available):
                continue
            entries.append(MarketPageItemDTO(item.position, product=product))
        elif item.category_id in categories:
            entries.append(MarketPageItemDTO(item.position, category=categories[item.category_id]))
    return _page_dto(row, tuple(entries))


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
