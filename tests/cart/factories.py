"""The shop the cart tests drive over real HTTP (cart and market apps served on loopback, the
SumUp stand-in, products committed to the run's database) and small helpers that place and read
its orders."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from quart import render_template_string
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infrastructure.fragments import header_fragments, page_fragments
from shared.models import AuditLog, Order, Payment, Product
from shared.services.cart.sumup_standin import SumUpStandIn
from tests.support import Browser, csrf_in
from tests.support.live import Platform


@dataclass
class Shop:
    platform: Platform
    standin: SumUpStandIn
    sessions: async_sessionmaker[AsyncSession]
    products: list[int] = field(default_factory=list)

    def url(self, app: str) -> str:
        return self.platform.url(app)

    async def product(self, stock: int | None = 10, price_minor: int = 450, **kw: Any) -> int:
        async with self.sessions.begin() as db:
            product = Product(
                slug=f"p-{secrets.token_hex(5)}",
                title=str(kw.pop("title", "Sourdough loaf")),
                price_minor=price_minor,
                stock=stock,
                **kw,
            )
            db.add(product)
            await db.flush()
            self.products.append(product.id)
            return product.id

    async def stock(self, product_id: int) -> int | None:
        async with self.sessions() as db:
            return await db.scalar(select(Product.stock).where(Product.id == product_id))

    async def orders(self, product_id: int) -> list[Order]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Order)
                .where(
                    text(
                        "orders.id IN (SELECT order_id FROM order_lines "
                        "WHERE kind = 'product' AND item_id = :p)"
                    ).bindparams(p=product_id)
                )
                .order_by(Order.id)
            )
            return list(rows)

    async def audit(self, order_id: int, action: str | None = None) -> list[AuditLog]:
        async with self.sessions() as db:
            query = select(AuditLog).where(
                AuditLog.object_type == "order", AuditLog.object_id == str(order_id)
            )
            if action:
                query = query.where(AuditLog.action == action)
            return list(await db.scalars(query.order_by(AuditLog.id)))

    async def serve(self, *names: str) -> None:
        """Serve the apps; market gets a page showing the add-to-cart macro for a product
        (what its product pages do). Federation always runs: first visits take a silent
        single sign-on trip there."""
        for name in ("federation", *names):
            await self.platform.start(name, setup=_product_page if name == "market" else _noop)

    async def add(
        self,
        browser: Browser,
        product_id: int,
        quantity: int = 1,
        *,
        htmx: bool = False,
        follow: bool = True,
    ) -> Any:
        page = await browser.get(f"{self.url('market')}/test-product/{product_id}")
        assert 'action="/cart-add"' in page.text
        # The form carries no token (pages showing it are cached whole); a browser sends
        # its Origin, which /cart-add checks.
        headers = {"Origin": self.url("market")}
        return await browser.post(
            f"{self.url('market')}/cart-add",
            {"kind": "product", "item_id": str(product_id), "quantity": str(quantity)},
            headers={**headers, "HX-Request": "true"} if htmx else headers,
            follow=follow,
        )

    async def checkout(self, browser: Browser, **fields: str) -> Any:
        page = await browser.get(f"{self.url('cart')}/checkout")
        assert page.status_code == 200, page.text
        data = {
            "name": "Rowan Guest",
            "email": "rowan@guests.rose-ash.test",
            "fulfilment": "collection",
            "csrf_token": csrf_in(page.text),
            **fields,
        }
        return await browser.post(f"{self.url('cart')}/checkout", data, follow=False)


PRODUCT_PAGE = """{% extends "base.html" %}
{% from "macros/add_to_cart.html" import add_to_cart %}
{% block content %}<h1>Product {{ pid }}</h1>{{ add_to_cart("product", pid) }}{% endblock %}"""


def _noop(_app: Any) -> None:
    return None


def _product_page(app: Any) -> None:
    async def product_page(pid: int) -> str:
        await page_fragments(*header_fragments("market"))
        return await render_template_string(PRODUCT_PAGE, pid=pid)

    app.add_url_rule("/test-product/<int:pid>", "test_product", product_page)


async def checkout_id(shop: Shop, order_id: int) -> str:
    async with shop.sessions() as db:
        found = await db.scalar(select(Payment.checkout_id).where(Payment.order_id == order_id))
    assert found
    return found


async def order_status(shop: Shop, order_id: int) -> tuple[str, bool]:
    async with shop.sessions() as db:
        order = await db.get(Order, order_id)
        assert order is not None
        return order.status, order.needs_attention


async def place_order(shop: Shop, browser: Browser, product: int, quantity: int = 1) -> int:
    await shop.add(browser, product, quantity)
    resp = await shop.checkout(browser)
    assert resp.status_code == 302, resp.text
    orders = await shop.orders(product)
    return orders[-1].id
