"""The cart page: lines at today's prices, change quantities, remove."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from shared.contracts import OrderSummaryDTO
from shared.errors import DomainError
from shared.infrastructure.cart_web import KINDS, cart_changed, cart_owner
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited

bp = Blueprint("basket", __name__)

# What the page says after an add or change elsewhere (?notice=<code>): fixed wording, so a
# link cannot make the page say anything else.
NOTICES = {
    "added": "Added to your cart.",
    "updated": "Your cart was updated.",
    "removed": "Removed from your cart.",
    "unavailable": "Sorry, that is not available any more.",
    "short_stock": "Sorry, there are not that many left.",
    "sold_out": "Sorry, that is sold out.",
    "invalid_quantity": "Choose a quantity between 1 and 99.",
    "unknown_kind": "That cannot be bought here.",
    "cart_empty": "Your cart is empty.",
}


@bp.get("/")
async def index() -> str:
    owner = cart_owner()
    cart = services().cart
    db = db_session()
    lines = None
    unpaid: list[tuple[OrderSummaryDTO, str]] = []
    if owner is not None:
        lines = await cart.cart(db, owner)
        # Orders this browser (or member) placed and has not paid: found even when the
        # answer to the checkout never arrived. A guest's link carries the order's token.
        unpaid = [
            (order, cart.order_url(order.id, token=owner.user_id is None))
            for order in await cart.unpaid_orders(db, owner)
        ]
    code = request.args.get("notice", "")
    return await render_page(
        "home.html",
        cart=lines,
        unpaid=unpaid,
        notice=NOTICES.get(code),
        notice_code=code if code in NOTICES else None,
    )


def _line(form: Any) -> tuple[str, int]:
    kind = form.get("kind", "")
    raw = form.get("item_id", "")
    if kind not in KINDS or not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise DomainError("invalid_line", "That request did not make sense.")
    return kind, int(raw)


@bp.post("/lines")
@rate_limited("cart")
async def update_line() -> Any:
    form = await request.form
    kind, item_id = _line(form)
    raw = form.get("quantity", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        return redirect("/?notice=invalid_quantity")
    owner = cart_owner()
    if owner is None:
        return redirect("/")
    try:
        await services().cart.set_quantity(db_session(), owner, kind, item_id, int(raw))
    except DomainError as err:
        await db_session().rollback()
        return redirect(f"/?notice={err.code}")
    cart_changed(owner)
    return redirect("/?notice=" + ("removed" if int(raw) == 0 else "updated"))


@bp.post("/lines/remove")
@rate_limited("cart")
async def remove_line() -> Any:
    kind, item_id = _line(await request.form)
    owner = cart_owner()
    if owner is not None:
        await services().cart.remove(db_session(), owner, kind, item_id)
        cart_changed(owner)
    return redirect("/?notice=removed")
