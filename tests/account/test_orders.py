"""The member's orders in the account app, from the real cart (SqlCartService) and the SumUp
stand-in: the dashboard lists them newest first, the order page shows lines, totals, status,
every payment attempt and refund to its owner only, the receipt prints; the member's data
export holds their orders and erasure anonymises them, keeping the accounts' figures."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from account import personal
from account.bp.orders import PER_PAGE
from shared.config import Settings
from shared.contracts import (
    AccountDTO,
    CartOwner,
    CheckoutDetails,
    MemberOrders,
    Money,
    OrderDTO,
    PersonalData,
    implements,
)
from shared.infrastructure.context import SERVICES_EXTENSION, services
from shared.infrastructure.factory import RoseQuart
from shared.models import AuditLog, CartItem, Order, OrderLine, Product
from shared.services.cart.service import SqlCartService
from shared.services.cart.sumup_standin import SumUpStandIn
from tests.identity.factories import client_signed_in, make_member
from tests.support import BROWSER_ACCEPT, SmtpSink
from tests.support.settings import AppMaker, make_settings


@pytest.fixture
async def standin() -> AsyncIterator[SumUpStandIn]:
    sumup = SumUpStandIn()
    await sumup.start()
    try:
        yield sumup
    finally:
        await sumup.stop()


@pytest.fixture
def shop_settings(
    database_url: str, redis_url: str, smtp_sink: SmtpSink, standin: SumUpStandIn
) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        ROSE_SMTP__HOST="127.0.0.1",
        ROSE_SMTP__PORT=str(smtp_sink.port),
        ROSE_SUMUP__BASE_URL=standin.url,
        ROSE_SUMUP_API_KEY=standin.api_key,
        ROSE_SUMUP_MERCHANT_CODE=standin.merchant_code,
    )


@pytest.fixture
async def app(make_app: AppMaker, shop_settings: Settings) -> RoseQuart:
    return await make_app("account", app_settings=shop_settings)


def cart_of(app: RoseQuart) -> SqlCartService:
    cart = app.extensions[SERVICES_EXTENSION].cart
    assert isinstance(cart, SqlCartService)  # the real one, not a stand-in
    return cart


async def product(db: AsyncSession, title: str, price_minor: int, stock: int = 10) -> int:
    row = Product(
        slug=f"p-{secrets.token_hex(5)}", title=title, price_minor=price_minor, stock=stock
    )
    db.add(row)
    await db.flush()
    return row.id


async def order(
    db: AsyncSession,
    cart: SqlCartService,
    member: AccountDTO,
    items: dict[int, int],
    **details: str,
) -> OrderDTO:
    """An order the member placed (not paid yet), through the cart's own checkout."""
    owner = CartOwner(user_id=member.id)
    for item_id, quantity in items.items():
        await cart.add(db, owner, "product", item_id, quantity)
    fields = {"email": member.email, "name": "Hazel Nut", "fulfilment": "collection", **details}
    placed = await cart.place_order(db, owner, CheckoutDetails(**fields))
    await db.commit()
    return placed


async def pay(db: AsyncSession, cart: SqlCartService, standin: SumUpStandIn, order_id: int) -> str:
    """Pay the order's current checkout on the stand-in; returns the transaction id."""
    payment = await cart.ensure_checkout(db, order_id)
    assert payment.checkout_id is not None
    checkout = standin.mark_paid(payment.checkout_id, notify=False)
    assert (await cart.sync_payment(db, order_id)).result == "paid"
    await db.commit()
    return str(checkout.transactions[-1]["id"])


async def signed_in(app: RoseQuart, db: AsyncSession, member: AccountDTO) -> Client:
    sign_in = await services().identity.start_session(db, member.id)
    await db.commit()
    client = await client_signed_in(app, member.id, sign_in.sid)
    return client


async def text(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status_code == status, (path, resp.status_code)
    return await resp.get_data(as_text=True)


async def test_the_cart_offers_the_dashboard_and_personal_data_capabilities(
    app: RoseQuart,
) -> None:
    assert implements(cart_of(app), MemberOrders)
    assert implements(cart_of(app), PersonalData)


async def test_the_dashboard_lists_the_members_real_orders_newest_first(
    app: RoseQuart, db: AsyncSession, standin: SumUpStandIn, shop_settings: Settings
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    rowan = await make_member(db, "rowan")
    bread = await product(db, "Rye loaf", 450)
    jam = await product(db, "Damson jam", 325)
    first = await order(db, cart, hazel, {bread: 2})
    await pay(db, cart, standin, first.id)
    second = await order(db, cart, hazel, {jam: 1})
    theirs = await order(db, cart, rowan, {jam: 1})

    listed = await cart.dashboard_orders(db, hazel.id)
    assert [o.id for o in listed] == [second.id, first.id]
    assert [o.status for o in listed] == ["pending_payment", "paid"]
    assert listed[1].total == Money(900, "GBP")
    account_url = shop_settings.apps["account"].public_url
    assert listed[0].url == f"{account_url}/orders/{second.id}"
    assert [o.id for o in await cart.dashboard_orders(db, hazel.id, limit=1)] == [second.id]

    html = await text(await signed_in(app, db, hazel), "/")
    assert 'id="orders"' in html
    assert f'<a href="{account_url}/orders/{first.id}">#{first.id}</a>' in html
    assert f'<a href="{account_url}/orders/{second.id}">#{second.id}</a>' in html
    assert html.index(f"#{second.id}<") < html.index(f"#{first.id}<")
    assert "£9.00" in html
    assert "£3.25" in html
    assert ">pending payment</td>" in html
    assert f"#{theirs.id}<" not in html


async def test_every_order_has_its_page_the_members_own_only_newest_first_and_paged(
    app: RoseQuart, db: AsyncSession
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    rowan = await make_member(db, "rowan")
    jam = await product(db, "Damson jam", 325, stock=100)
    mine = [await order(db, cart, hazel, {jam: 1}) for _ in range(PER_PAGE + 2)]
    theirs = await order(db, cart, rowan, {jam: 2})

    client = await signed_in(app, db, hazel)
    assert '<a href="/orders">All your orders</a>' in await text(client, "/")
    resp = await client.get("/orders")
    assert resp.headers["Cache-Control"] == "private, no-store"
    first = await resp.get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'<tr data-order-id="(\d+)">', first)]
    assert listed == [o.id for o in reversed(mine)][:PER_PAGE]
    assert '<a rel="next" href="/orders?page=2">Older orders</a>' in first
    second = await text(client, "/orders?page=2")
    assert [int(i) for i in re.findall(r'<tr data-order-id="(\d+)">', second)] == [
        mine[1].id,
        mine[0].id,
    ]
    assert 'rel="next"' not in second
    assert f'data-order-id="{theirs.id}"' not in first + second
    for bad in ("?page=3", "?page=0", "?page=x"):
        await text(client, "/orders" + bad, 404)

    # Rowan sees his own only; someone not signed in is sent to sign in.
    rowans = await text(await signed_in(app, db, rowan), "/orders")
    assert re.findall(r'<tr data-order-id="(\d+)">', rowans) == [str(theirs.id)]
    anonymous = app.test_client()
    anonymous.set_cookie("127.0.0.1", "account_sso", "-")  # silent sign-on done: nobody
    resp = await anonymous.get("/orders", headers={"Accept": BROWSER_ACCEPT})
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/auth/login?")


async def test_an_empty_order_list_says_so(app: RoseQuart, db: AsyncSession) -> None:
    alder = await make_member(db, "alder")
    html = await text(await signed_in(app, db, alder), "/")
    assert 'id="orders"' in html
    assert "No orders yet." in html


async def test_the_owner_reads_lines_totals_payments_and_refunds_and_prints_a_receipt(
    app: RoseQuart, db: AsyncSession, standin: SumUpStandIn
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    bread = await product(db, "Rye loaf", 450)
    jam = await product(db, "Damson jam", 325)
    placed = await order(
        db, cart, hazel, {bread: 2, jam: 1}, fulfilment="delivery", address="1 Orchard Lane"
    )
    # The first checkout is declined; the buyer tries again and pays; staff refund the jam.
    declined = await cart.ensure_checkout(db, placed.id)
    assert declined.checkout_id is not None
    standin.mark_failed(declined.checkout_id, notify=False)
    retried = await cart.retry_checkout(db, placed.id)
    assert retried.attempt == 2
    await db.commit()
    await pay(db, cart, standin, placed.id)
    await cart.refund(db, placed.id, Money(325, "GBP"), reason="Jar broken", by_user_id=None)
    await db.commit()
    paid = await cart.order(db, placed.id)
    assert paid is not None
    assert paid.payment is not None
    code = paid.payment.transaction_code
    assert code

    client = await signed_in(app, db, hazel)
    resp = await client.get(f"/orders/{placed.id}")
    assert resp.status_code == 200
    assert "no-store" in resp.headers["Cache-Control"]
    html = await resp.get_data(as_text=True)
    assert f"Order #{placed.id}" in html
    assert html.count('class="order-line"') == 2
    assert "<td>Rye loaf</td><td>£4.50</td><td>2</td><td>£9.00</td>" in html
    assert 'class="order-total">£12.25<' in html
    assert 'class="order-refunded">£3.25<' in html
    assert 'class="order-net">£9.00<' in html
    assert 'data-status="partly_refunded">Partly refunded<' in html
    assert "1 Orchard Lane" in html
    assert 'data-attempt="1" data-status="FAILED"' in html
    assert 'data-attempt="2" data-status="PAID"' in html
    assert code in html
    assert "Jar broken" in html
    assert "Pay for this order" not in html  # paid: nothing to pay

    receipt = await client.get(f"/orders/{placed.id}/receipt")
    assert receipt.status_code == 200
    body = await receipt.get_data(as_text=True)
    assert f"Receipt for order #{placed.id}" in body
    assert '<link rel="stylesheet" href="/orders/receipt.css">' in body
    assert f"transaction {code}" in body
    assert "Refunded £3.25" in body
    css = await client.get("/orders/receipt.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"
    assert "@media print" in await css.get_data(as_text=True)


async def test_a_pending_order_links_to_the_cart_to_pay(
    app: RoseQuart, db: AsyncSession, shop_settings: Settings
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    placed = await order(db, cart, hazel, {await product(db, "Rye loaf", 450): 1})
    html = await text(await signed_in(app, db, hazel), f"/orders/{placed.id}")
    cart_url = shop_settings.apps["cart"].public_url
    assert f'href="{cart_url}/orders/{placed.id}">Pay for this order' in html
    assert "No payment has been started yet." in html


async def test_only_the_owner_sees_an_order_others_get_404_and_strangers_sign_in(
    app: RoseQuart, db: AsyncSession
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    rowan = await make_member(db, "rowan")
    placed = await order(db, cart, hazel, {await product(db, "Rye loaf", 450): 1})
    other = await signed_in(app, db, rowan)
    for path in (f"/orders/{placed.id}", f"/orders/{placed.id}/receipt"):
        assert "Rye loaf" not in await text(other, path, 404)
        await text(other, f"/orders/{placed.id + 10_000}", 404)
        # A stranger's browser is sent to sign in (through federation); a script gets 401.
        resp = await app.test_client().get(path, headers={"Accept": BROWSER_ACCEPT})
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/auth/login?next=")
        assert (await app.test_client().get(path)).status_code == 401
    assert "Rye loaf" in await text(await signed_in(app, db, hazel), f"/orders/{placed.id}")


async def test_the_export_holds_the_members_orders_and_cart(
    app: RoseQuart, db: AsyncSession, standin: SumUpStandIn
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    rowan = await make_member(db, "rowan")
    bread = await product(db, "Rye loaf", 450)
    placed = await order(
        db, cart, hazel, {bread: 2}, phone="01234 567890", notes="Ring twice", name="Hazel Nut"
    )
    await pay(db, cart, standin, placed.id)
    await order(db, cart, rowan, {bread: 1})
    await cart.add(db, CartOwner(user_id=hazel.id), "product", bread, 3)
    await db.commit()

    resp = await (await signed_in(app, db, hazel)).get("/data/export")
    assert resp.status_code == 200
    data = json.loads(await resp.get_data(as_text=True))
    [exported] = data["cart"]["orders"]
    assert exported["id"] == placed.id
    assert (exported["status"], exported["total_minor"], exported["currency"]) == (
        "paid",
        900,
        "GBP",
    )
    assert (exported["name"], exported["email"], exported["phone"], exported["notes"]) == (
        "Hazel Nut",
        hazel.email,
        "01234 567890",
        "Ring twice",
    )
    assert exported["lines"] == [
        {
            "kind": "product",
            "item_id": bread,
            "title": "Rye loaf",
            "unit_price_minor": 450,
            "quantity": 2,
        }
    ]
    assert [p["status"] for p in exported["payments"]] == ["PAID"]
    assert data["cart"]["cart"] == [{"kind": "product", "item_id": bread, "quantity": 3}]


async def test_erasure_anonymises_orders_keeps_their_figures_and_empties_the_cart(
    app: RoseQuart, db: AsyncSession, standin: SumUpStandIn
) -> None:
    cart = cart_of(app)
    hazel = await make_member(db, "hazel")
    rowan = await make_member(db, "rowan")
    bread = await product(db, "Rye loaf", 450)
    delivered = await order(
        db,
        cart,
        hazel,
        {bread: 2},
        fulfilment="delivery",
        address="1 Orchard Lane",
        phone="01234 567890",
        notes="Ring twice",
    )
    await pay(db, cart, standin, delivered.id)
    collected = await order(db, cart, hazel, {bread: 1})
    theirs = await order(db, cart, rowan, {bread: 1}, notes="Leave by the door")
    await cart.add(db, CartOwner(user_id=hazel.id), "product", bread, 1)
    await db.commit()

    await personal.erase(db, app.extensions[SERVICES_EXTENSION], hazel.id)
    await db.commit()
    db.expire_all()
    for order_id, address in ((delivered.id, "(erased)"), (collected.id, "")):
        row = await db.get(Order, order_id)
        assert row is not None
        assert (row.name, row.email, row.phone, row.address, row.notes) == (
            "(erased)",
            "",
            "",
            address,
            "",
        )
        assert row.user_id == hazel.id  # the anonymised account, kept for the accounts
    row = await db.get(Order, delivered.id)
    assert row is not None
    assert (row.status, row.total_minor, row.currency) == ("paid", 900, "GBP")
    lines = await db.scalars(select(OrderLine.title).where(OrderLine.order_id == delivered.id))
    assert list(lines) == ["Rye loaf"]
    assert await db.scalar(select(func.count()).where(CartItem.user_id == hazel.id)) == 0
    erased = await db.scalars(
        select(AuditLog.object_id).where(AuditLog.action == "order.personal_data_erased")
    )
    assert sorted(erased) == sorted([str(delivered.id), str(collected.id)])
    # Someone else's order is untouched.
    other = await db.get(Order, theirs.id)
    assert other is not None
    assert (other.name, other.notes) == ("Hazel Nut", "Leave by the door")
