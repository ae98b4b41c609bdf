"""Members and staff: the cart merges at sign-in, members see only their own orders, staff
fulfil, cancel and refund (through SumUp), and listings cost the same queries for 3 or 30."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.contracts import CartOwner, CheckoutDetails, Money
from shared.infrastructure.context import services
from shared.models import Order, Product
from tests.cart.factories import Shop, checkout_id, order_status
from tests.identity.factories import MEMBER_PASSWORD, make_member, sign_in_at
from tests.support import Browser, SmtpSink, count_statements, csrf_in, errors_beside_fields


async def test_guest_cart_merges_at_sign_in_and_the_member_sees_only_their_orders(
    shop: Shop, browser: Browser, smtp_sink: SmtpSink
) -> None:
    await shop.serve("market", "cart", "account")
    await shop.platform.member("hazel", display_name="Hazel Nut")
    await shop.platform.member("rowan")
    bread = await shop.product(stock=5, price_minor=300)
    jam = await shop.product(stock=5, price_minor=250, title="Jam")
    await shop.add(browser, bread, 1)
    await shop.add(browser, jam, 2)

    await sign_in_at(browser, shop.url("cart"), "hazel", MEMBER_PASSWORD)
    cart = await browser.get(f"{shop.url('cart')}/")
    assert cart.text.count('class="cart-line"') == 2
    assert "£8.00" in cart.text  # 3.00 + 2 x 2.50
    assert "rose_cart" not in browser.http.cookies  # the anonymous key is gone

    # Contact details are prefilled for a member.
    form = await browser.get(f"{shop.url('cart')}/checkout")
    assert f'value="hazel@{shop.platform.domain}"' in form.text
    assert 'value="Hazel Nut"' in form.text
    resp = await browser.post(
        f"{shop.url('cart')}/checkout",
        {
            "name": "Hazel Nut",
            "email": f"hazel@{shop.platform.domain}",
            "fulfilment": "delivery",
            "address": "1 Orchard Lane",
            "csrf_token": csrf_in(form.text),
        },
        follow=False,
    )
    assert resp.status_code == 302
    [order] = await shop.orders(bread)
    assert order.user_id is not None
    assert (order.fulfilment, order.address) == ("delivery", "1 Orchard Lane")
    shop.standin.mark_paid(await checkout_id(shop, order.id))
    await shop.standin.delivered()
    assert (await order_status(shop, order.id))[0] == "paid"

    mine = await browser.get(f"{shop.url('cart')}/orders")
    assert f"/orders/{order.id}" in mine.text
    page = await browser.get(f"{shop.url('cart')}/orders/{order.id}")
    assert page.status_code == 200
    assert "1 Orchard Lane" in page.text

    # What the account app asks: the member's orders, and nobody else's.
    async with shop.sessions() as db:
        cart_service = services().cart
        listed = await cart_service.orders_for_member(db, order.user_id)
        assert [o.id for o in listed] == [order.id]
        assert listed[0].item_count == 3
        assert listed[0].total == Money(800, "GBP")
        assert await cart_service.order_for_member(db, order.user_id, order.id) is not None
        assert await cart_service.order_for_member(db, order.user_id + 10_000, order.id) is None

    other = Browser()
    try:
        await sign_in_at(other, shop.url("cart"), "rowan", MEMBER_PASSWORD)
        assert (await other.get(f"{shop.url('cart')}/orders/{order.id}")).status_code == 404
        assert (await other.get(f"{shop.url('cart')}/orders/{order.id}/receipt")).status_code == 404
    finally:
        await other.aclose()


async def test_staff_fulfil_cancel_and_refund_part_then_all(shop: Shop, browser: Browser) -> None:
    await shop.serve("market", "cart")
    await shop.platform.member("sorrel", roles=("admin",))
    await shop.platform.member("basil")
    product = await shop.product(stock=10, price_minor=1000)
    # A pending order (to cancel) and a paid one (to refund).
    await shop.add(browser, product, 2)
    await shop.checkout(browser)
    await shop.add(browser, product, 1)
    await shop.checkout(browser)
    pending, paid = await shop.orders(product)
    shop.standin.mark_paid(await checkout_id(shop, paid.id))
    await shop.standin.delivered()
    assert await shop.stock(product) == 7

    member = Browser()
    try:
        await sign_in_at(member, shop.url("cart"), "basil", MEMBER_PASSWORD)
        assert (await member.get(f"{shop.url('cart')}/admin/orders")).status_code == 403
    finally:
        await member.aclose()

    staff = Browser()
    try:
        await sign_in_at(staff, shop.url("cart"), "sorrel", MEMBER_PASSWORD)
        listing = await staff.get(f"{shop.url('cart')}/admin/orders")
        assert f"/admin/orders/{paid.id}" in listing.text
        page = await staff.get(f"{shop.url('cart')}/admin/orders/{pending.id}")
        token = csrf_in(page.text)
        base = f"{shop.url('cart')}/admin/orders"

        said = await staff.post(f"{base}/{pending.id}/cancel", {"csrf_token": token})
        assert (await order_status(shop, pending.id))[0] == "cancelled"
        # Staff are told what happened in plain words; the address cannot make it say more.
        assert f"Order {pending.id} cancelled; its stock is back on sale." in said.text
        forged = await staff.get(f"{base}/{pending.id}?notice=Refunded+everything")
        assert "Refunded everything" not in forged.text
        assert await shop.stock(product) == 9

        bad = await staff.post(f"{base}/{paid.id}/refund", {"amount": "10.01", "csrf_token": token})
        assert bad.status_code == 400
        assert 'data-error-code="refund_amount"' in bad.text
        # Said beside the amount, which keeps what was typed.
        assert set(errors_beside_fields(bad.text)) == {"amount"}
        assert 'value="10.01"' in bad.text
        await staff.post(
            f"{base}/{paid.id}/refund",
            {"amount": "2.50", "reason": "bruised", "csrf_token": token},
        )
        assert (await order_status(shop, paid.id))[0] == "partly_refunded"
        said = await staff.post(f"{base}/{paid.id}/fulfil", {"csrf_token": token})
        assert (await order_status(shop, paid.id))[0] == "fulfilled"
        assert f'<p class="notice" role="status">Order {paid.id} marked fulfilled.</p>' in said.text
        await staff.post(f"{base}/{paid.id}/refund", {"amount": "7.50", "csrf_token": token})
        assert (await order_status(shop, paid.id))[0] == "refunded"
        again = await staff.post(
            f"{base}/{paid.id}/refund", {"amount": "0.01", "csrf_token": token}
        )
        assert again.status_code == 409
    finally:
        await staff.aclose()
    assert sum(r["amount"] for r in shop.standin.refunds) == 10
    actions = [a.action for a in await shop.audit(paid.id)]
    assert actions == [
        "order.placed",
        "order.paid",
        "order.refunded",
        "order.fulfilled",
        "order.refunded",
    ]
    async with shop.sessions() as db:
        refunded = await db.scalar(select(Order.refunded_minor).where(Order.id == paid.id))
    assert refunded == 1000


async def test_order_listings_and_the_cart_cost_the_same_queries_for_3_or_30(
    db: AsyncSession, engine: AsyncEngine
) -> None:
    cart = services().cart
    member = await make_member(db, "listing_member")
    products = []
    for i in range(30):
        product = Product(slug=f"listing-{i}", title=f"Thing {i}", price_minor=100 + i, stock=50)
        db.add(product)
        products.append(product)
    await db.flush()
    owner = CartOwner(user_id=member.id)
    details = CheckoutDetails(email="l@m.test", name="L", fulfilment="collection")

    async def place(n: int) -> None:
        for product in products[:n]:
            await cart.add(db, owner, "product", product.id, 1)
        await cart.place_order(db, owner, details)
        await db.commit()  # one order per transaction, as in a request

    await place(3)
    with count_statements(engine) as few:
        await cart.orders_for_member(db, member.id)
        await cart.admin_orders(db)
    for _ in range(9):
        await place(3)
    for product in products:
        await cart.add(db, owner, "product", product.id, 1)
    with count_statements(engine) as many:
        assert len(await cart.orders_for_member(db, member.id)) == 10
        await cart.admin_orders(db)
    assert len(many) == len(few)
    with count_statements(engine) as cart_reads:
        summary = await cart.mini_summary(db, owner)
    assert summary.item_count == 30
    assert len(cart_reads) <= 3


async def test_cart_changes_refuse_bad_input_and_change_nothing(db: AsyncSession) -> None:
    from shared.errors import DomainError

    cart = services().cart
    product = Product(slug="refusals-1", title="Honey", price_minor=500, stock=2)
    gone = Product(slug="refusals-2", title="Old honey", price_minor=500, stock=5, available=False)
    db.add_all([product, gone])
    await db.flush()
    owner = CartOwner(cart_key="k" * 32)
    for kind, item, quantity, code in (
        ("product", product.id, 3, "short_stock"),
        ("product", product.id, 0, "invalid_quantity"),
        ("product", product.id, 100, "invalid_quantity"),
        ("product", gone.id, 1, "unavailable"),
        ("product", 987654321, 1, "unavailable"),
        ("spaceship", product.id, 1, "unknown_kind"),
    ):
        with pytest.raises(DomainError) as refused:
            await cart.add(db, owner, kind, item, quantity)
        assert refused.value.code == code, (kind, item, quantity)
    assert (await cart.cart(db, owner)).lines == ()
    await cart.add(db, owner, "product", product.id, 2)
    await cart.set_quantity(db, owner, "product", product.id, 1)
    assert (await cart.cart(db, owner)).item_count == 1
    await cart.set_quantity(db, owner, "product", product.id, 0)
    assert (await cart.cart(db, owner)).lines == ()


@pytest.mark.parametrize("fulfilment", ["", "none", "teleport"])
async def test_an_order_with_anything_physical_must_say_collection_or_delivery(
    db: AsyncSession, fulfilment: str
) -> None:
    from shared.contracts import CheckoutDetails
    from shared.errors import DomainError

    cart = services().cart
    product = Product(slug="fulfil-1", title="Jam", price_minor=300, stock=4)
    db.add(product)
    await db.flush()
    owner = CartOwner(cart_key="f" * 32)
    await cart.add(db, owner, "product", product.id, 1)
    assert (await cart.cart(db, owner)).needs_fulfilment is True
    details = CheckoutDetails(email="a@guests.rose-ash.test", name="A", fulfilment=fulfilment)
    with pytest.raises(DomainError) as refused:
        await cart.place_order(db, owner, details)
    assert refused.value.code == "invalid_fulfilment"
    assert (await cart.cart(db, owner)).item_count == 1  # nothing changed
