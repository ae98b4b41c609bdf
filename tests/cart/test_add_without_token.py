"""``POST /cart-add`` takes no CSRF token (its form sits in pages cached whole for anonymous
visitors) but only from the platform's own origins; the pages showing it set no cookie."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.context import current_platform
from shared.models import CartItem, Product
from tests.support.settings import AppMaker


async def test_add_to_cart_needs_its_origin_and_no_token(
    make_app: AppMaker, db: AsyncSession
) -> None:
    product = Product(slug="origin-bread", title="Origin loaf", price_minor=300, stock=5)
    db.add(product)
    await db.commit()
    market = await make_app("market")
    async with market.app_context():
        own = current_platform().settings.apps["market"].public_url
    form = {"kind": "product", "item_id": str(product.id), "quantity": "1"}

    page = await market.test_client().get(f"/products/{product.slug}")
    body = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="/cart-add"' in body
    assert "csrf_token" not in body
    assert "Set-Cookie" not in page.headers, "a cookie would keep the page out of the cache"

    refused = [
        {},  # no Origin: a browser always sends one with a POST
        {"Origin": "https://elsewhere.example"},
        {"Origin": own, "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in refused:
        resp = await market.test_client().post("/cart-add", form=form, headers=headers)
        assert resp.status_code == 400, headers
    assert (await db.scalars(select(CartItem))).all() == []

    resp = await market.test_client().post("/cart-add", form=form, headers={"Origin": own})
    assert resp.status_code in (302, 303)
    assert "rose_cart=" in resp.headers.get("Set-Cookie", "")
    [item] = (await db.scalars(select(CartItem).where(CartItem.item_id == product.id))).all()
    assert item.quantity == 1
