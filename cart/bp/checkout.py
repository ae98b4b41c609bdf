"""Checkout: contact details (prefilled for members), collection or delivery, notes; then the
order is placed (stock reserved) and the buyer sent to SumUp's hosted checkout page."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from cart.bp._common import remember_guest_order
from shared.contracts import CheckoutDetails
from shared.contracts.errors import CheckoutInvalid, PaymentUnavailable, SoldOut, Unavailable
from shared.errors import DomainError
from shared.infrastructure.auth import current_user
from shared.infrastructure.cart_web import cart_changed, cart_owner
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited

bp = Blueprint("checkout", __name__)


async def _form_page(
    values: dict[str, str], error: DomainError | None = None, status: int = 200
) -> Any:
    owner = cart_owner()
    cart = await services().cart.cart(db_session(), owner) if owner is not None else None
    if cart is None or not cart.lines:
        return redirect("/?notice=cart_empty")
    # Every problem with the details at once, each shown beside its field.
    errors = error.errors if isinstance(error, CheckoutInvalid) else {}
    body = await render_page("checkout.html", cart=cart, values=values, error=error, errors=errors)
    return body, status


@bp.get("/checkout")
async def checkout_form() -> Any:
    user = current_user()
    values = {"fulfilment": "collection"}
    if user is not None:
        account = await services().identity.get_account(db_session(), user.id)
        values["name"] = user.name
        if account is not None:
            values["email"] = account.email
    return await _form_page(values)


@bp.post("/checkout")
@rate_limited("cart")
async def place() -> Any:
    form = await request.form
    values = {
        k: form.get(k, "") for k in ("email", "name", "phone", "fulfilment", "address", "notes")
    }
    owner = cart_owner()
    if owner is None:
        return redirect("/?notice=cart_empty")
    details = CheckoutDetails(
        email=values["email"],
        name=values["name"],
        fulfilment=values["fulfilment"],
        phone=values["phone"],
        address=values["address"],
        notes=values["notes"],
    )
    db = db_session()
    try:
        order = await services().cart.place_order(db, owner, details)
    except (SoldOut, Unavailable) as err:
        await db.rollback()
        return await _form_page(values, _stock_error(err), 409)
    except DomainError as err:
        await db.rollback()
        return await _form_page(values, err, err.status)
    cart_changed(owner)
    # The order and its reservation stand whatever SumUp says next.
    await db.commit()
    if owner.user_id is None:
        remember_guest_order(order.id)
    try:
        payment = await services().cart.ensure_checkout(db, order.id)
    except PaymentUnavailable:
        return redirect(f"/orders/{order.id}?notice=payment_unavailable")
    if payment.hosted_url and payment.status == "PENDING":
        # Straight to SumUp's hosted checkout page (the cart's CSP form-action allows it),
        # which sends the buyer back to /orders/<id>/return.
        return redirect(payment.hosted_url)
    return redirect(f"/orders/{order.id}")


def _stock_error(err: DomainError) -> DomainError:
    if isinstance(err, SoldOut):
        return DomainError(
            "sold_out",
            "Sorry, some of your cart sold out while you were checking out. Nothing was "
            "charged: check your cart and try again.",
        )
    return DomainError(
        "unavailable",
        "Sorry, something in your cart is no longer available. Nothing was charged: check "
        "your cart and try again.",
    )
