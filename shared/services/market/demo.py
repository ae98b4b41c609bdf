"""The market's demo seeders; the content is in demo.yaml beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import ConfigError, load_settings
from shared.contracts import (
    CategoryInput,
    MarketPageInput,
    PostInput,
    ProductImageDTO,
    ProductInput,
    SupplierInput,
)
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import slugify
from shared.models import BlogPost, Category, MarketPage, Product, ScrapeSource, Supplier
from shared.services.domain import demo_content
from shared.services.market.scrape.demo_site import SUPPLIER_NAME, SUPPLIER_SLUG


async def seed_market(session: AsyncSession) -> None:
    """Suppliers, a category tree, forty products with prices, stock and images, a market
    page and a blog post embedding two product cards, once."""
    content = demo_content(__file__)
    catalog = services().catalog
    for supplier in content["suppliers"]:
        slug = supplier["slug"]
        if await session.scalar(select(Supplier.id).where(Supplier.slug == slug)) is None:
            await catalog.create_supplier(
                session,
                SupplierInput(
                    name=supplier["name"],
                    slug=slug,
                    website=supplier["website"],
                    description=supplier["description"],
                    logo_url="/static/img/market/leaf.svg",
                ),
            )
    for category in content["categories"]:
        slug = category["slug"]
        if await session.scalar(select(Category.id).where(Category.slug == slug)) is None:
            parent_id = await session.scalar(
                select(Category.id).where(Category.slug == category["parent"])
            )
            await catalog.create_category(
                session,
                CategoryInput(
                    name=category["name"],
                    slug=slug,
                    parent_id=parent_id,
                    position=category["position"],
                ),
            )
    for product in content["products"]:
        title, summary = product["title"], product["summary"]
        slug = slugify(title)
        if await session.scalar(select(Product.id).where(Product.slug == slug)) is not None:
            continue
        await catalog.create_product(
            session,
            ProductInput(
                title=title,
                slug=slug,
                price_minor=product["price_minor"],
                unit=product["unit"],
                stock=product["stock"],
                supplier=product["supplier"],
                categories=tuple(product["categories"]),
                summary=summary,
                description=f"<p>{summary}</p><p>Collect it at the café, or have it delivered "
                "with the Thursday round.</p>",
                featured=product["featured"],
                images=(ProductImageDTO(f"/static/img/market/{product['image']}.svg", title),),
            ),
        )
    page = content["market_page"]
    if await session.scalar(select(MarketPage.id).where(MarketPage.slug == page["slug"])) is None:
        await catalog.create_market_page(
            session,
            MarketPageInput(
                title=page["title"],
                slug=page["slug"],
                intro=page["intro"],
                published=True,
                items=tuple((kind, slug) for kind, slug in page["items"]),
            ),
        )
    post = content["market_post"]
    if await session.scalar(select(BlogPost.id).where(BlogPost.slug == post["slug"])) is None:
        blog = services().blog
        created = await blog.create_post(
            session,
            PostInput(title=post["title"], slug=post["slug"], html=post["html"], tags=("Market",)),
        )
        await blog.publish(session, created.id, now=datetime.now(UTC) - timedelta(hours=2))


async def seed_scrape_source(session: AsyncSession) -> None:
    """The demo supplier whose website `rose-ash up --demo` serves on loopback, with a scrape
    source pointing at it: `rose-ash scrape orchard-lane` imports its shop (a second run
    reports every product unchanged). Scheduled runs are off, so the import is yours to run
    (or press "Run now" at /editor/scrape on the market)."""
    try:
        port = load_settings().scrape.demo_site_port
    except ConfigError:
        port = 8010
    site = f"http://127.0.0.1:{port}"
    supplier_id = await session.scalar(select(Supplier.id).where(Supplier.slug == SUPPLIER_SLUG))
    if supplier_id is None:
        supplier = Supplier(
            slug=SUPPLIER_SLUG,
            name=SUPPLIER_NAME,
            website=site,
            description=demo_content(__file__)["scrape_supplier"]["description"],
        )
        session.add(supplier)
        await session.flush()
        supplier_id = supplier.id
    has_source = await session.scalar(
        select(ScrapeSource.id).where(ScrapeSource.supplier_id == supplier_id)
    )
    if has_source is None:
        session.add(
            ScrapeSource(
                supplier_id=supplier_id,
                start_url=f"{site}/",
                kind="page",
                enabled=False,
                interval_hours=24,
                settings={"currency": "GBP"},
            )
        )
