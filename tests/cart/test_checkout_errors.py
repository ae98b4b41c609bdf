"""Checkout shows every problem with the details at once, each beside its field; nothing is
placed and what was typed stays."""

from __future__ import annotations

import re

from tests.cart.factories import Shop
from tests.support import Browser


async def test_every_problem_at_once_each_beside_its_field(shop: Shop, browser: Browser) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450, title="Rye loaf")
    await shop.add(browser, product, 1)

    resp = await shop.checkout(
        browser, name=" ", email="not-an-address", phone="call me", fulfilment="delivery"
    )
    assert resp.status_code == 400
    html = resp.text
    fields = re.findall(r'class="field-error" id="e-([a-z]+)"', html)
    assert fields == ["name", "email", "phone", "address"]
    for name in fields:
        assert f'aria-describedby="e-{name}"' in html, name
    # The summary at the top links to each field.
    assert re.findall(r'<li><a href="#f-([a-z]+)">', html) == fields
    assert 'value="call me"' in html
    assert 'value="delivery" checked' in html
    assert await shop.orders(product) == []
    assert await shop.stock(product) == 5

    # Put right, it is placed.
    resp = await shop.checkout(browser)
    assert resp.status_code == 302
    assert len(await shop.orders(product)) == 1
