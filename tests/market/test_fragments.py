"""The market's fragments: ``market/product-card`` and ``market/featured`` as other apps
fetch them, and a product card inside a blog post, with both apps served over real HTTP."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.contracts import ProductImageDTO, ProductInput, SupplierInput
from shared.infrastructure import internal_auth
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import Visitor
from shared.models import BlogPost, Product, Supplier
from tests.market import factories
from tests.support.live import Platform
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("market")


async def fetch(client: Client, type_: str, **args: str) -> tuple[int, str, str]:
    path = f"/internal/fragments/{type_}"
    query, headers = internal_auth.sign(
        TEST_INTERNAL_SECRET, "GET", path, sorted(args.items()), Visitor(user_id=7)
    )
    resp = await client.get(f"{path}?{query}" if query else path, headers=headers)
    return resp.status_code, await resp.get_data(as_text=True), resp.headers["Cache-Control"]


async def test_the_product_card_by_slug_or_id(app: RoseQuart, db: AsyncSession) -> None:
    supplier = await factories.supplier(db, "Card Farm")
    product = await factories.product(
        db, "Card honey", 725, supplier=supplier.slug, unit="340 g", summary="Set honey."
    )
    await db.commit()
    client = app.test_client()
    status, html, cache = await fetch(client, "product-card", slug=product.slug)
    assert status == 200
    assert cache == "max-age=300"
    assert f'href="http://127.0.0.1:8002/products/{product.slug}"' in html
    assert "£7.25" in html
    assert "340 g" in html
    assert "Card Farm" in html
    assert 'src="/static/img/market/loaf.svg"' in html
    assert (await fetch(client, "product-card", id=str(product.id)))[1] == html
    for bad in ({"slug": "no-such-product"}, {"id": "999999999"}, {"slug": "<x>"}, {}):
        assert (await fetch(client, "product-card", **bad))[:2] == (200, ""), bad


async def test_featured_lists_featured_available_products(app: RoseQuart, db: AsyncSession) -> None:
    await factories.product(db, "Plain jam", featured=False)
    await factories.product(db, "Star jam", featured=True)
    await factories.product(db, "Gone jam", featured=True, available=False)
    await db.commit()
    status, html, _ = await fetch(app.test_client(), "featured", limit="5")
    assert status == 200
    assert "Star jam" in html
    assert "Plain jam" not in html
    assert "Gone jam" not in html
    assert (await fetch(app.test_client(), "featured", limit="many"))[0] == 200


def post_body(html: str) -> str:
    match = re.search(r'<div class="post-body">(.*?)</div>\n  \n', html, re.S) or re.search(
        r'<div class="post-body">(.*)</article>', html, re.S
    )
    assert match, html[:3000]
    return match.group(1)


async def test_a_product_card_renders_inside_a_blog_post(
    live: Platform, engine: AsyncEngine, redis: aioredis.Redis
) -> None:
    """The market and the blog served for real: the post's markers become the market's
    cards, fetched over HTTP with the page's other fragments, and cached in Redis."""
    tag = secrets.token_hex(3)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db, db.begin():
        supplier = await services().catalog.create_supplier(
            db, SupplierInput(name=f"Embed Farm {tag}")
        )
        product = await services().catalog.create_product(
            db,
            ProductInput(
                title=f"Embedded loaf {tag}",
                price_minor=399,
                supplier=supplier.slug,
                images=(ProductImageDTO("/static/img/market/loaf.svg", "A loaf"),),
            ),
        )
        other = await services().catalog.create_product(
            db, ProductInput(title=f"Embedded butter {tag}", price_minor=250)
        )
        # Written as the blog stores a sanitized body (the service would also federate it).
        db.add(
            BlogPost(
                kind="post",
                status="published",
                title=f"Market day {tag}",
                slug=f"market-day-{tag}",
                html=(
                    f'<p>Our baker\'s pick:</p><div data-product="{product.slug}"></div>'
                    f"<p>And with it:</p><p>[product:{other.slug}]</p>"
                    '<div data-product="no-such-product"></div><p>The end.</p>'
                ),
                plaintext="Our baker's pick",
                published_at=datetime.now(UTC),
            )
        )
    try:
        await live.serve("market", "blog")
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            # Not asking for HTML: a browser's first visit is sent through silent sign-on.
            resp = await client.get(live.url("blog") + f"/posts/market-day-{tag}")
        assert resp.status_code == 200
        body = resp.text
        start = body.index('<div class="post-body">')
        end = body.index("The end.", start)
        section = body[start:end]
        assert (
            section.index("Our baker")
            < section.index(product.title)
            < section.index("And with it")
            < section.index(other.title)
        )
        assert f'href="{live.url("market")}/products/{product.slug}"' in section
        assert "£3.99" in section
        assert "data-product=" not in section.replace("data-product-slug=", "")
        assert "[product:" not in section
        # The cards are cached under their own keys for the next page.
        keys = [k async for k in redis.scan_iter("rose:frag:market/product-card*")]
        assert len(keys) >= 2
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(BlogPost).where(BlogPost.slug == f"market-day-{tag}"))
            await conn.execute(delete(Product).where(Product.id.in_([product.id, other.id])))
            await conn.execute(delete(Supplier).where(Supplier.id == supplier.id))


def test_the_sanitizer_keeps_only_the_product_marker() -> None:
    from shared.infrastructure.sanitize import sanitize_html

    assert sanitize_html('<div data-product="eggs"></div>') == '<div data-product="eggs"></div>'
    assert sanitize_html('<div data-product="x" data-evil="1" onclick="a()">y</div>') == (
        '<div data-product="x">y</div>'
    )
    assert sanitize_html('<span data-product="eggs">s</span>') == "<span>s</span>"
