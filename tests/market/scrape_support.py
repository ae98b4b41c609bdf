"""Product pages as shops publish them (JSON-LD, microdata, RDFa, OpenGraph) and helpers to
set up a supplier with a scrape source in a committed database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.contracts import ScrapeSourceDTO, ScrapeSourceInput
from shared.models import Supplier
from shared.services.market.importing import SqlCatalogImportService


def jsonld_page(
    name: str,
    price: str,
    *,
    currency: str = "GBP",
    availability: str = "https://schema.org/InStock",
    image: str = "/img/a.jpg",
    description: str = "Pressed from three orchard varieties.",
    links: str = "",
) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": name,
        "sku": f"SKU-{name[:3].upper()}",
        "description": description,
        "image": [image],
        "offers": {
            "@type": "Offer",
            "price": price,
            "priceCurrency": currency,
            "availability": availability,
        },
    }
    # As shops write it: "</" escaped so a description cannot close the script element.
    script = json.dumps(data).replace("</", "<\\/")
    return (
        f"<!doctype html><html><head><title>{name}</title>"
        f'<script type="application/ld+json">{script}</script></head>'
        f"<body><h1>{name}</h1>{links}</body></html>"
    )


def microdata_page(name: str, price: str, *, currency: str = "GBP", stock: str = "InStock") -> str:
    return (
        f"<!doctype html><html><head><title>{name}</title></head><body>"
        '<div itemscope itemtype="https://schema.org/Product">'
        f'<h1 itemprop="name">{name}</h1><img itemprop="image" src="/img/{name[:3]}.jpg">'
        '<p itemprop="description">Raw and <b>unfiltered</b>.</p>'
        '<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        f'<span itemprop="price" content="{price}">£{price}</span>'
        f'<meta itemprop="priceCurrency" content="{currency}">'
        f'<link itemprop="availability" href="https://schema.org/{stock}"></div></div>'
        "</body></html>"
    )


def rdfa_page(name: str, price: str, *, currency: str = "GBP") -> str:
    return (
        f"<!doctype html><html><head><title>{name}</title></head><body>"
        '<div vocab="https://schema.org/" typeof="Product">'
        f'<h1 property="name">{name}</h1>'
        '<div property="offers" typeof="Offer">'
        f'<span property="price" content="{price}">{price}</span>'
        f'<meta property="priceCurrency" content="{currency}"></div></div>'
        "</body></html>"
    )


def og_page(name: str, amount: str, *, currency: str = "GBP") -> str:
    return (
        '<!doctype html><html prefix="og: https://ogp.me/ns# product: https://ogp.me/ns/product#">'
        f'<head><title>{name}</title><meta property="og:type" content="product">'
        f'<meta property="og:title" content="{name}">'
        '<meta property="og:description" content="Made in small batches.">'
        '<meta property="og:image" content="/img/jam.jpg">'
        f'<meta property="product:price:amount" content="{amount}">'
        f'<meta property="product:price:currency" content="{currency}">'
        "</head><body><p>Jam.</p></body></html>"
    )


def listing(*paths: str) -> str:
    items = "".join(f'<li><a href="{p}">{p}</a></li>' for p in paths)
    return f"<!doctype html><html><body><h1>Catalogue</h1><ul>{items}</ul></body></html>"


@asynccontextmanager
async def committed(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        yield session


async def make_source(
    engine: AsyncEngine,
    slug: str,
    start_url: str,
    *,
    kind: str = "page",
    max_pages: int | None = None,
    currency: str | None = None,
) -> ScrapeSourceDTO:
    """A supplier ``slug`` with one scrape source, committed."""
    async with committed(engine) as session:
        supplier = Supplier(slug=slug, name=slug.replace("-", " ").title())
        session.add(supplier)
        await session.flush()
        return await SqlCatalogImportService().add_scrape_source(
            session,
            supplier.id,
            ScrapeSourceInput(
                start_url=start_url, kind=kind, max_pages=max_pages, currency=currency
            ),
            None,
        )
