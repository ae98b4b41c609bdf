"""A member's own orders: every order (``/orders``, newest first, paged), the detail page
(lines, totals, status, payment attempts, refunds) and a printable receipt, read from the cart
through its contract (``MemberOrders``, ``order_for_member``).

Only the order's owner sees it: another member's order, or an id that does not exist,
answers the same 404; someone not signed in is sent to sign in. Paying stays in the cart
app (one place for guests and members): a pending order links to its page there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from quart import Blueprint, Response, render_template, request

from shared.contracts import MemberOrders, OrderDTO, implements
from shared.errors import NotFound
from shared.infrastructure import auth, inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page

bp = Blueprint("orders", __name__)

PRINT_CSS = Path(__file__).resolve().parent.parent / "templates" / "orders" / "receipt.css"
PRIVATE = {"Cache-Control": "private, no-store"}
PER_PAGE = 25

STATUS_LABELS = {
    "pending_payment": "Awaiting payment",
    "paid": "Paid",
    "fulfilled": "Fulfilled",
    "cancelled": "Cancelled",
    "expired": "Expired (not paid in time)",
    "refunded": "Refunded",
    "partly_refunded": "Partly refunded",
}


async def _own_order(order_id: int) -> OrderDTO:
    user = auth.current_user()
    assert user is not None  # login_required
    order = await services().cart.order_for_member(db_session(), user.id, order_id)
    if order is None:
        raise NotFound("order_not_found", "No such order.")
    return order


def page_number() -> int:
    """``?page=N`` (1 when absent); anything else is a missing page."""
    page = inputs.parse_int(request.args.get("page", "1"), maximum=inputs.MAX_PAGE)
    if page is None:
        raise NotFound("page_out_of_range", "There is no such page.")
    return page


@bp.get("/orders")
@auth.login_required
async def index() -> Any:
    """Every order of the member's, newest first, a page at a time."""
    user = auth.current_user()
    assert user is not None  # login_required
    cart = services().cart
    if not implements(cart, MemberOrders):
        raise NotFound("not_found", "There are no orders here.")
    page = page_number()
    # One more than a page: whether there is a next one.
    found = await cast(MemberOrders, cart).dashboard_orders(
        db_session(), user.id, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE
    )
    if page > 1 and not found:
        raise NotFound("page_out_of_range", "There is no such page.")
    body = await render_page(
        "orders/list.html",
        orders=found[:PER_PAGE],
        page=page,
        has_next=len(found) > PER_PAGE,
        status_labels=STATUS_LABELS,
    )
    return body, 200, PRIVATE


@bp.get("/orders/<int:order_id>")
@auth.login_required
async def show(order_id: int) -> Any:
    """The member's order: what was bought, what it cost, how it was paid and refunded."""
    order = await _own_order(order_id)
    body = await render_page(
        "orders/detail.html",
        order=order,
        status_label=STATUS_LABELS.get(order.status, order.status),
        pay_url=services().cart.order_url(order.id, token=False),
    )
    return body, 200, PRIVATE


@bp.get("/orders/<int:order_id>/receipt")
@auth.login_required
async def receipt(order_id: int) -> Any:
    """The order as a receipt to print (or save as PDF from the browser's print dialog)."""
    order = await _own_order(order_id)
    # A page of its own, without the site's header and fragments: it is for paper.
    body = await render_template(
        "orders/receipt.html",
        order=order,
        status_label=STATUS_LABELS.get(order.status, order.status),
    )
    return body, 200, PRIVATE


@bp.get("/orders/receipt.css")
async def receipt_css() -> Response:
    """The receipt's print stylesheet (the CSP allows only our own stylesheets)."""
    return Response(
        PRINT_CSS.read_text(),
        mimetype="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )
