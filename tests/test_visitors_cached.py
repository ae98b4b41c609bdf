"""What a real browser gets from the page cache (decisions 0091, 0092), over real HTTP: the six
apps served on loopback with the page cache on, cookie-keeping browsers following every
redirect. Structural, not timed: a page is a cache hit when it says so (``x-rose-cache``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.config import APP_NAMES
from shared.infrastructure import pagecache
from shared.models import CartItem, Product
from tests.identity.factories import MEMBER_PASSWORD, sign_in_at
from tests.support import Browser
from tests.support.live import Platform

pytestmark = pytest.mark.slow

# The apps whose pages anonymous visitors are served from the cache (their front pages).
CACHED_APPS = ("blog", "market", "events")


@pytest.fixture
async def site(sso: Platform) -> Platform:
    sso.env.update(ROSE_PAGECACHE__ENABLED="true")
    await sso.serve(*APP_NAMES)
    return sso


@pytest.fixture
async def product(site: Platform) -> AsyncIterator[int]:
    engine = create_async_engine(site.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as db:
        row = Product(
            slug=f"p-{secrets.token_hex(5)}", title="Seed potatoes", price_minor=250, stock=9
        )
        db.add(row)
        await db.flush()
        product_id = row.id
    try:
        yield product_id
    finally:
        async with sessions.begin() as db:
            # The apps committed the shopper's cart line: it goes with the product.
            await db.execute(
                delete(CartItem).where(CartItem.kind == "product", CartItem.item_id == product_id)
            )
            await db.execute(delete(Product).where(Product.id == product_id))
        await engine.dispose()


@pytest.fixture
async def shopper() -> AsyncIterator[Browser]:
    b = Browser()
    yield b
    await b.aclose()


async def test_a_new_visitor_pays_no_silent_check_and_is_served_from_the_cache(
    site: Platform, browser: Browser
) -> None:
    url = site.url
    # A browser that never signed in at federation holds no sign-in generation, which every
    # app reads (one host here): nobody to find, so no app's first page costs a redirect
    # (decision 0113), and nothing is set in the browser.
    for name in ("blog", "market", "cart", "events", "account"):
        page = await browser.get(f"{url(name)}/")
        assert browser.hops == [f"{url(name)}/"], (name, browser.hops)
        assert page.status_code == 200, name
        assert "Sign in</a>" in page.text, name
    assert not list(browser.http.cookies.jar)
    # Every app's cacheable page is a cache hit.
    for name in CACHED_APPS:
        await browser.get(f"{url(name)}/")  # stored, unless another visitor's copy was
        page = await browser.get(f"{url(name)}/")
        assert browser.hops == [f"{url(name)}/"], name
        assert page.headers.get("x-rose-cache") == "hit", (name, browser.http.cookies.jar)
        assert "Sign in</a>" in page.text, name
        assert 'data-count="0"' in page.text, name


async def test_a_visitor_with_a_cart_shares_the_cached_page_and_sees_their_own_count(
    site: Platform, browser: Browser, shopper: Browser, product: int, redis: aioredis.Redis
) -> None:
    url = site.url
    await browser.get(f"{url('blog')}/")
    await shopper.get(f"{url('market')}/")
    added = await shopper.post(
        f"{url('market')}/cart-add",
        {"kind": "product", "item_id": str(product), "quantity": "2"},
        headers={"Origin": url("market"), "HX-Request": "true"},
    )
    assert added.status_code == 200, added.text
    assert any(c.name == "rose_cart" for c in shopper.http.cookies.jar)
    for name in CACHED_APPS:
        await shopper.get(f"{url(name)}/")
        page = await shopper.get(f"{url(name)}/")
        assert page.headers.get("x-rose-cache") == "hit", name
        # The page is everyone's with a cart: a placeholder for the count, nobody's number.
        assert 'hx-get="/cart-mini"' in page.text, name
        assert "data-count=" not in page.text, name
        # ...which the browser fills from the app it is on, with its own cart.
        mini = await shopper.http.get(f"{url(name)}/cart-mini", headers={"HX-Request": "true"})
        assert mini.status_code == 200
        assert 'data-count="2"' in mini.text, name
        assert "private" in mini.headers["Cache-Control"]
        # A visitor without a cart still gets the page with the empty count, no placeholder.
        other = await browser.get(f"{url(name)}/")
        assert 'data-count="0"' in other.text, name
        assert "/cart-mini" not in other.text, name
    # Nothing stored anywhere holds the shopper's count.
    for key in await redis.keys(f"{pagecache.ENTRY_PREFIX}*"):
        assert b'data-count="2"' not in (await redis.hget(key, "body") or b""), key


async def test_a_member_is_never_served_a_cached_page_nor_is_their_page_stored(
    site: Platform, browser: Browser, shopper: Browser, redis: aioredis.Redis
) -> None:
    url = site.url
    await site.member("ilex", display_name="Ilex Holly")
    # An anonymous visitor has every cacheable page stored first.
    for name in CACHED_APPS:
        await shopper.get(f"{url(name)}/")
        assert (await shopper.get(f"{url(name)}/")).headers.get("x-rose-cache") == "hit"
    await sign_in_at(browser, url("blog"), "ilex", MEMBER_PASSWORD)
    for name in CACHED_APPS:
        for _ in range(2):
            page = await browser.get(f"{url(name)}/")
            assert "x-rose-cache" not in page.headers, name
            assert "Ilex Holly" in page.text, name
            assert "Sign in</a>" not in page.text, name
    # ...and the anonymous visitor is never shown the member's pages.
    for name in CACHED_APPS:
        page = await shopper.get(f"{url(name)}/")
        assert page.headers.get("x-rose-cache") == "hit", name
        assert "Ilex Holly" not in page.text, name
    for key in await redis.keys(f"{pagecache.ENTRY_PREFIX}*"):
        assert b"Ilex Holly" not in (await redis.hget(key, "body") or b""), key
