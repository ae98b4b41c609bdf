"""The cart's fragments for every app's pages: ``cart/mini``, the header's cart count."""

from __future__ import annotations

from quart import render_template

from shared.contracts import CartOwner, CartSummaryDTO
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet

fragments = FragmentSet("cart")


# Per user: the count of the acting member's cart, or of the anonymous visitor's cart key.
@fragments.fragment("mini", ttl_s=60, per_user=True)
async def mini(req: FragmentRequest) -> str:
    visitor = req.visitor
    if visitor.user_id is not None:
        owner: CartOwner | None = CartOwner(user_id=visitor.user_id)
    elif visitor.cart_key is not None:
        owner = CartOwner(cart_key=visitor.cart_key)
    else:
        owner = None  # nobody to own a cart yet: it is empty
    summary = (
        await services().cart.mini_summary(db_session(), owner)
        if owner is not None
        else CartSummaryDTO(item_count=0)
    )
    return await render_template("cart/_mini.html", summary=summary)
