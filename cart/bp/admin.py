"""Staff's orders: every order, its payment and audit-worthy actions (mark fulfilled, cancel
an unpaid one, refund all or part of a paid one). Admins only."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from quart import Blueprint, redirect, request

from shared.contracts import Money
from shared.errors import DomainError, NotFound, field_errors
from shared.infrastructure.auth import current_user, require_role
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.models.cart import ORDER_STATUSES

bp = Blueprint("orders_admin", __name__)


def _staff_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


@bp.get("/admin/orders")
@require_role("admin")
async def index() -> str:
    status = request.args.get("status") or None
    if status not in (None, *ORDER_STATUSES):
        status = None
    attention = request.args.get("attention") == "1"
    orders = await services().cart.admin_orders(db_session(), status=status, attention=attention)
    return await render_page(
        "admin/orders.html",
        orders=orders,
        status=status,
        attention=attention,
        statuses=ORDER_STATUSES,
    )


@bp.get("/admin/orders/<int:order_id>")
@require_role("admin")
async def show(order_id: int) -> str:
    order = await services().cart.order(db_session(), order_id)
    if order is None:
        raise NotFound("order_not_found", "No such order.")
    notice = _said(request.args.get("notice", ""), order_id)
    return await render_page("admin/order.html", order=order, notice=notice, error=None)


# What staff are told after an action (?notice=<action>), in plain words.
_DONE = {
    "fulfil": "Order {id} marked fulfilled.",
    "cancel": "Order {id} cancelled; its stock is back on sale.",
    "refund": "Refund for order {id} sent through SumUp.",
    "clear": "Order {id} no longer needs attention.",
}


def _said(action: str, order_id: int) -> str | None:
    template = _DONE.get(action)
    return template.format(id=order_id) if template else None


async def _act(order_id: int, action: str) -> Any:
    cart = services().cart
    db = db_session()
    form = await request.form
    try:
        if action == "fulfil":
            await cart.mark_fulfilled(db, order_id, by_user_id=_staff_id())
        elif action == "cancel":
            await cart.cancel(db, order_id, by_user_id=_staff_id())
        elif action == "clear":
            await cart.clear_attention(db, order_id, by_user_id=_staff_id())
        elif action == "refund":
            order = await cart.order(db, order_id)
            if order is None:
                raise NotFound("order_not_found", "No such order.")
            amount = _amount(form.get("amount", ""), order.total.currency)
            await cart.refund(
                db,
                order_id,
                amount,
                reason=form.get("reason", ""),
                by_user_id=_staff_id(),
            )
    except DomainError as err:
        await db.rollback()
        order = await cart.order(db, order_id)
        if order is None:
            raise
        errors = field_errors(err)
        if action == "refund" and not errors and err.status == 400:
            errors = {"amount": err.message}  # the refund form's one number: said beside it
        body = await render_page(
            "admin/order.html", order=order, notice=None, error=err, errors=errors, form=form
        )
        return body, err.status
    return redirect(f"/admin/orders/{order_id}?notice={action}")


def _amount(raw: str, currency: str) -> Money:
    """A staff-typed amount in major units ("12.50") as exact Money."""
    try:
        value = Decimal(raw.strip()) * 100
    except InvalidOperation:
        raise DomainError("refund_amount", "Enter the amount to refund, like 12.50.") from None
    if value != value.to_integral_value() or not value.is_finite():
        raise DomainError("refund_amount", "Enter the amount to refund, like 12.50.")
    return Money(int(value), currency)


@bp.post("/admin/orders/<int:order_id>/fulfil")
@require_role("admin")
async def fulfil(order_id: int) -> Any:
    return await _act(order_id, "fulfil")


@bp.post("/admin/orders/<int:order_id>/cancel")
@require_role("admin")
async def cancel(order_id: int) -> Any:
    return await _act(order_id, "cancel")


@bp.post("/admin/orders/<int:order_id>/refund")
@require_role("admin")
async def refund(order_id: int) -> Any:
    return await _act(order_id, "refund")


@bp.post("/admin/orders/<int:order_id>/clear")
@require_role("admin")
async def clear(order_id: int) -> Any:
    return await _act(order_id, "clear")
