"""Checkout contention: many buyers at once for a product with a few units in stock.

Each buyer is a browser of its own (its own cookies): it opens the product's page on the
market, adds one to its cart there (``POST /cart-add``, checked by its Origin), opens the
cart app's checkout and places the order (with the cart's CSRF token). Every buyer starts at the
same moment. Afterwards the database must hold exactly as many orders for the product as it
had units, and none of it left in stock.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import SimpleCookie
from typing import Any

import httpx
from sqlalchemy import func, select

from shared.config import Settings
from shared.db import create_engine, create_session_factory
from shared.models import OrderLine, Product

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Outcome:
    placed: int = 0
    started: float = 0.0
    # When each order was placed, in seconds from the start.
    placed_at: list[float] = field(default_factory=list)
    sold_out: int = 0
    errors: list[str] = field(default_factory=list)
    requests: int = 0


class Buyer:
    """One browser: its own cookies, sent by hand (the platform's cookies are ``Secure`` and
    ``__Host-``, which a client jar would not send over loopback http)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.client.request(method, url, headers=headers, **kwargs)
        for line in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(line)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    async def form_token(self, url: str) -> str:
        page = await self.request("GET", url)
        if page.status_code != 200:
            raise RuntimeError(f"GET {url}: {page.status_code}")
        match = CSRF_RE.search(page.text)
        if match is None:
            raise RuntimeError(f"GET {url}: no form")
        return match.group(1)


async def buy(
    buyer: Buyer, market: str, cart: str, slug: str, product_id: int, n: int, outcome: Outcome
) -> None:
    try:
        page = await buyer.request("GET", f"{market}/products/{slug}")
        if page.status_code != 200 or 'action="/cart-add"' not in page.text:
            raise RuntimeError(f"product page: {page.status_code}")
        # The form carries no token (the page is cached whole); the browser's Origin counts.
        added = await buyer.request(
            "POST",
            f"{market}/cart-add",
            data={"kind": "product", "item_id": str(product_id), "quantity": "1"},
            headers={"Origin": market},
        )
        if added.status_code not in (302, 303):
            raise RuntimeError(f"cart-add: {added.status_code}")
        notice = added.headers.get("location", "").rpartition("notice=")[2]
        if notice != "added":
            # Sold out before this buyer got it into the cart: refused, nothing changed.
            outcome.requests += 2
            if notice in ("sold_out", "short_stock", "unavailable"):
                outcome.sold_out += 1
                return
            raise RuntimeError(f"cart-add: {notice}")
        token = await buyer.form_token(f"{cart}/checkout")
        placed = await buyer.request(
            "POST",
            f"{cart}/checkout",
            data={
                "email": f"buyer{n}@bench.example",
                "name": f"Buyer {n}",
                "fulfilment": "collection",
                "csrf_token": token,
            },
            headers={"Origin": cart},
        )
        outcome.requests += 4
        if placed.status_code in (302, 303) and "/orders/" in placed.headers.get("location", ""):
            outcome.placed += 1
            outcome.placed_at.append(time.perf_counter() - outcome.started)
        elif placed.status_code == 409:
            outcome.sold_out += 1
        else:
            raise RuntimeError(f"checkout: {placed.status_code}")
    except (httpx.HTTPError, RuntimeError) as err:
        outcome.errors.append(f"{type(err).__name__}: {err}")


async def _product(settings: Settings, units: int) -> tuple[int, str]:
    """A product of its own for this round, with ``units`` in stock."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            slug = f"bench-scarce-{secrets.token_hex(4)}"
            product = Product(
                slug=slug, title="Last loaves of the day", price_minor=350, stock=units
            )
            session.add(product)
            await session.flush()
            return product.id, slug
    finally:
        await engine.dispose()


async def _verify(settings: Settings, product_id: int) -> tuple[int, int | None]:
    """(orders holding the product, its stock left), read from the database."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            orders = await session.scalar(
                select(func.count(func.distinct(OrderLine.order_id))).where(
                    OrderLine.kind == "product", OrderLine.item_id == product_id
                )
            )
            stock = await session.scalar(select(Product.stock).where(Product.id == product_id))
            return int(orders or 0), stock
    finally:
        await engine.dispose()


async def _round(settings: Settings, buyers: int, units: int) -> dict[str, Any]:
    market = settings.apps["market"].public_url
    cart = settings.apps["cart"].public_url
    product_id, slug = await _product(settings, units)
    # No jar of the client's own: each Buyer keeps its cookies.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    limits = httpx.Limits(max_connections=buyers, max_keepalive_connections=buyers)
    outcome = Outcome()
    async with httpx.AsyncClient(
        cookies=no_cookies, limits=limits, timeout=120, follow_redirects=False
    ) as client:
        started = outcome.started = time.perf_counter()
        await asyncio.gather(
            *(buy(Buyer(client), market, cart, slug, product_id, n, outcome) for n in range(buyers))
        )
        elapsed = time.perf_counter() - started
    orders, stock = await _verify(settings, product_id)
    last_order_s = max(outcome.placed_at, default=elapsed)
    return {
        "buyers": buyers,
        "units": units,
        "placed": outcome.placed,
        "sold_out": outcome.sold_out,
        "errors": len(outcome.errors),
        "first_errors": outcome.errors[:3],
        "orders_in_db": orders,
        "stock_left": stock,
        "elapsed_s": elapsed,
        # The orders over the time it took to sell out (the last order placed).
        "last_order_s": last_order_s,
        "orders_per_s": orders / last_order_s,
        "buyers_per_s": buyers / elapsed,
        "exact": orders == units and outcome.placed == units and stock == 0,
    }


def run_checkout(settings: Settings, buyers: int = 200, units: int = 20) -> dict[str, Any]:
    """One round: ``buyers`` at once for ``units`` units; what happened, checked in the DB."""
    return asyncio.run(_round(settings, buyers, units))
