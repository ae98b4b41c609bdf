"""What the order page says about paying comes from the order alone: after SumUp sends the
buyer back it says "paid" or "not heard yet", never both, whatever the address says and
whichever of the webhook and the buyer's return arrives first."""

from __future__ import annotations

import re

from tests.cart.factories import Shop, checkout_id, order_status, place_order
from tests.support import Browser

NOT_HEARD = "We have not heard from SumUp that this order is paid yet"
THANKS = "Thank you: your payment was received."


async def test_back_from_sumup_before_it_has_word_then_after_the_webhook(
    shop: Shop, browser: Browser
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450)
    order_id = await place_order(shop, browser, product)
    cart = shop.url("cart")

    # Back from SumUp while the checkout is still pending: it says so, and pay is offered.
    waiting = await browser.get(f"{cart}/orders/{order_id}/return")
    assert str(waiting.url) == f"{cart}/orders/{order_id}?from=sumup"
    assert NOT_HEARD in waiting.text
    assert THANKS not in waiting.text
    assert 'class="order-status">pending payment<' in waiting.text
    # Its times are in the site's zone, named (GMT or BST), not UTC.
    assert "UTC" not in waiting.text
    assert re.search(r"reserved for you until \d\d:\d\d (GMT|BST)", waiting.text)

    # The webhook pays the order; the same address now says paid, and only that.
    shop.standin.mark_paid(await checkout_id(shop, order_id))
    await shop.standin.delivered()
    assert (await order_status(shop, order_id))[0] == "paid"
    paid = await browser.get(f"{cart}/orders/{order_id}?from=sumup")
    assert THANKS in paid.text
    assert NOT_HEARD not in paid.text
    assert 'class="order-status">paid<' in paid.text
    # The return arriving after the webhook, or an address saying "pending", changes nothing.
    for address in (f"/orders/{order_id}/return", f"/orders/{order_id}?notice=payment_pending"):
        again = await browser.get(cart + address)
        assert NOT_HEARD not in again.text, address
        assert 'class="order-status">paid<' in again.text


async def test_the_buyers_return_pays_an_order_whose_webhook_is_lost(
    shop: Shop, browser: Browser
) -> None:
    await shop.serve("market", "cart")
    product = await shop.product(stock=5, price_minor=450)
    order_id = await place_order(shop, browser, product)
    shop.standin.mark_paid(await checkout_id(shop, order_id), notify=False)
    back = await browser.get(f"{shop.url('cart')}/orders/{order_id}/return")
    assert THANKS in back.text
    assert NOT_HEARD not in back.text
    assert (await order_status(shop, order_id))[0] == "paid"
