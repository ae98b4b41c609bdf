"""The buyer's order page (lines, totals, payment, refunds; printable as a receipt), paying
for it (again, after SumUp reported a checkout failed or expired), and the buyer's return
from SumUp (which only triggers a re-read).

Paying is always done here, by guests (the browser that placed the order, or the receipt's
signed link) and members alike; a member's record of their orders, with the payment history
and a printable receipt, is the account app's ``/orders/<id>``, which links back here while
an order awaits payment."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, redirect, request

from cart.bp._common import visible_order
from shared.contracts.errors import PaymentUnavailable
from shared.errors import DomainError
from shared.infrastructure.auth import current_user, login_required
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited
from shared.services.cart.sumup import SumUpError

log = logging.getLogger(__name__)

bp = Blueprint("orders", __name__)

# What the page says after a redirect (?notice=<code>), in fixed words. Whether the order is
# paid is never one of them: the page says that from the order itself (order.html), so it
# cannot contradict the status beside it.
NOTICES = {
    "payment_unavailable": (
        "We could not reach the payment provider just now. Your order is reserved: try "
        "paying again in a minute."
    ),
}


@bp.get("/orders/<int:order_id>")
async def show(order_id: int) -> str:
    token = request.args.get("t")
    order = await visible_order(order_id, token)
    code = request.args.get("notice", "")
    return await render_page(
        "order.html",
        order=order,
        token=token,
        notice=NOTICES.get(code),
        returned=request.args.get("from") == "sumup",
        printable=False,
    )


@bp.get("/orders/<int:order_id>/receipt")
async def receipt(order_id: int) -> str:
    token = request.args.get("t")
    order = await visible_order(order_id, token)
    return await render_page(
        "order.html", order=order, token=token, notice=None, returned=False, printable=True
    )


@bp.post("/orders/<int:order_id>/pay")
@rate_limited("cart")
async def pay(order_id: int) -> Any:
    order = await visible_order(order_id, request.args.get("t"))
    if not order.awaiting_payment:
        return redirect(f"/orders/{order_id}")
    token = request.args.get("t")
    back = f"/orders/{order_id}" + (f"?t={token}" if token else "")
    try:
        # The current checkout, or a new attempt once SumUp said the last one failed.
        payment = await services().cart.retry_checkout(db_session(), order.id)
    except PaymentUnavailable:
        return redirect(f"/orders/{order_id}?notice=payment_unavailable")
    except DomainError:
        return redirect(back)
    if payment.hosted_url and payment.status == "PENDING":
        return redirect(payment.hosted_url)  # straight to SumUp's page (CSP allows it)
    return redirect(back)


@bp.get("/orders/<int:order_id>/return")
async def returned(order_id: int) -> Any:
    """SumUp sends the buyer back here: re-read the checkout (the return proves nothing), then
    show the order, which says from its own state whether it is paid."""
    token = request.args.get("t")
    order = await visible_order(order_id, token)
    if order.awaiting_payment and order.payment is not None and order.payment.checkout_id:
        try:
            await services().cart.sync_payment(db_session(), order.id)
        except SumUpError as err:
            log.warning("order %s: return re-read failed: %s", order_id, err)
    return redirect(f"/orders/{order_id}?from=sumup" + (f"&t={token}" if token else ""))


@bp.get("/orders")
@login_required
async def mine() -> str:
    user = current_user()
    assert user is not None
    orders = await services().cart.orders_for_member(db_session(), user.id)
    return await render_page("orders.html", orders=orders)
