"""The cart domain's service: carts, checkout, orders and their SumUp payments.

One object, :class:`SqlCartService`, implements the CartService protocol (and MemberOrders
and PersonalData for the account app); its parts live in modules of their own:

- ``_base``: the wiring and the links to an order; ``_common``: the money rules
  (:func:`~shared.services.cart._common.line_total` and ``total_of``, the one place totals
  are made) and the helpers more than one part uses;
- :mod:`~shared.services.cart.carts`: the cart's lines, at today's prices and stock;
- :mod:`~shared.services.cart.checkout`: the buyer's details and placing an order (every
  line reserved under one set of locks);
- :mod:`~shared.services.cart.orders`: reading orders and staff's changes of state;
- :mod:`~shared.services.cart.payments`: the SumUp checkouts an order is paid through;
- :mod:`~shared.services.cart.payment_sync`: acting on what SumUp says, the only path to
  "paid" (webhooks, the buyer's return and the worker's poll all end there);
- :mod:`~shared.services.cart.refunds`: refunds through SumUp;
- :mod:`~shared.services.cart.expiry`: the worker's polls and expired reservations;
- :mod:`~shared.services.cart.members`: a member's dashboard and personal data;
- :mod:`~shared.services.cart.receipt`: the receipt email.

Each part is a class building on ``_base`` and inheriting the parts it calls, so mypy checks
every call between parts and callers see a single object.
"""

from __future__ import annotations

from shared.services.cart.checkout import CartCheckout
from shared.services.cart.expiry import CartExpiry
from shared.services.cart.members import CartMemberData
from shared.services.cart.payments import CartPayments
from shared.services.cart.refunds import CartRefunds


class SqlCartService(CartCheckout, CartPayments, CartRefunds, CartExpiry, CartMemberData):
    """Implements :class:`shared.contracts.CartService` (and ``MemberOrders``,
    ``PersonalData``): ``SqlCartService(settings, {"product": catalog, "ticket": events})``,
    the second argument being the domains that sell through the cart, by kind
    (``SellableProvider``)."""
