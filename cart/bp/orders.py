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

NOTICES = {
    "payment_unavailable": (
        "We could not reach the payment provider just now. Your order is reserved: try "
        "paying again in a minute."
    ),
    "payment_pending": "We have not heard from SumUp that this order is paid yet.",
    "payment_failed": (
        "SumUp says the payment did not go through, and nothing was taken. You can try again."
    ),
    "paid": "Thank you: your payment was received.",
    "placed": "Your order is reserved for you. Pay with SumUp to complete it.",
}


@bp.get("/orders/<int:order_id>")
async def show(order_id: int) -> str:
    token = request.args.get("t")
    order = await visible_order(order_id, token)
    code = request.args.get("notice", "")
    return await render_page(
        "order.html", order=order, token=token, notice=NOTICES.get(code), printable=False
    )


@bp.get("/orders/<int:order_id>/receipt")
async def receipt(order_id: int) -> str:
    token = request.args.get("t")
    order = await visible_order(order_id, token)
    return await render_page("order.html", order=order, token=token, notice=None, printable=True)


@bp.post("/orders/<int:order_id>/pay")
@rate_limited("cart")
async def pay(order_id: int) -> Any:
    order = await visible_order(order_id, request.args.get("t"))
    if not order.awaiting_payment:
        return redirect(f"/orders/{order_id}")
    try:
        # The current checkout, or a new attempt once SumUp said the last one failed.
        await services().cart.retry_checkout(db_session(), order.id)
    except PaymentUnavailable:
        return redirect(f"/orders/{order_id}?notice=payment_unavailable")
    except DomainError:
        return redirect(f"/orders/{order_id}")
    return redirect(
        f"/orders/{order_id}" + (f"?t={token}" if (token := request.args.get("t")) else "")
    )


@bp.get("/orders/<int:order_id>/return")
async def returned(order_id: int) -> Any:
    """SumUp sends the buyer back here: re-read the checkout (the return proves nothing)."""
    order = await visible_order(order_id, request.args.get("t"))
    notice = "payment_pending"
    if order.awaiting_payment and order.payment is not None and order.payment.checkout_id:
        try:
            outcome = await services().cart.sync_payment(db_session(), order.id)
            if outcome.result == "paid":
                notice = "paid"
            else:
                now = await services().cart.order(db_session(), order.id)
                if now is not None and now.payment and now.payment.status in ("FAILED", "EXPIRED"):
                    notice = "payment_failed"
        except SumUpError as err:
            log.warning("order %s: return re-read failed: %s", order_id, err)
    elif not order.awaiting_payment:
        notice = ""
    return redirect(f"/orders/{order_id}" + (f"?notice={notice}" if notice else ""))


@bp.get("/orders")
@login_required
async def mine() -> str:
    user = current_user()
    assert user is not None
    orders = await services().cart.orders_for_member(db_session(), user.id)
    return await render_page("orders.html", orders=orders)
