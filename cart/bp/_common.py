"""What the cart app's routes share: the SumUp client, the buyer's view of an order."""

from __future__ import annotations

from quart import session

from shared.contracts import OrderDTO
from shared.errors import NotFound
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform, db_session, services

GUEST_ORDERS = "guest_orders"


def cart_url(path: str) -> str:
    return current_platform().settings.apps["cart"].public_url + path


def remember_guest_order(order_id: int) -> None:
    """This browser placed the order: it may see it without the receipt's link."""
    ids = [i for i in session.get(GUEST_ORDERS, []) if isinstance(i, int)][-19:]
    session[GUEST_ORDERS] = [*ids, order_id]


async def visible_order(order_id: int, token: str | None) -> OrderDTO:
    """The order if this visitor may see it (its member, the browser that placed it, or the
    receipt's signed link); otherwise 404, exactly as for an order that does not exist."""
    cart = services().cart
    user = current_user()
    order = await cart.order(db_session(), order_id)
    if order is not None:
        if user is not None and order.user_id == user.id:
            return order
        if order.user_id is None and (
            order_id in session.get(GUEST_ORDERS, [])
            or (token and cart.check_order_token(order_id, token))
        ):
            return order
    raise NotFound("order_not_found", "No such order.")
