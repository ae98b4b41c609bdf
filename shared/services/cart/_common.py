"""What the parts of the cart service share: the money rules, SumUp's checkout references,
and the helpers more than one part uses.

Money rules live here, in one place (:func:`line_total`, :func:`total_of`): a line costs its
unit price times its quantity, an order costs the sum of its lines, both in integer minor
units of one currency; nothing is ever rounded because nothing is ever divided (a partial
refund is an amount staff type, checked against what is left).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from shared.contracts import CartOwner, Money, PaymentDTO
from shared.models import CartItem, Payment

PAID_STATUSES = ("paid", "fulfilled", "partly_refunded")


def checkout_reference(order_id: int, attempt: int) -> str:
    """SumUp's ``checkout_reference`` (its idempotency key, usable once) of an order's
    payment attempt: the bare order id for the first, ``<order id>-<attempt>`` after."""
    return str(order_id) if attempt == 1 else f"{order_id}-{attempt}"


# --- money: the one place totals are made -------------------------------------------------


def line_total(unit_price: Money, quantity: int) -> Money:
    return unit_price * quantity


def total_of(amounts: Iterable[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total


# --- helpers more than one part uses ------------------------------------------------------


def now_utc() -> datetime:
    return datetime.now(UTC)


def owner_filter(owner: CartOwner) -> Any:
    if owner.user_id is not None:
        return CartItem.user_id == owner.user_id
    return CartItem.cart_key == owner.cart_key


def payment_dto(payment: Payment) -> PaymentDTO:
    return PaymentDTO(
        status=payment.status,
        checkout_id=payment.checkout_id,
        hosted_url=payment.hosted_url,
        amount=Money(payment.amount_minor, payment.currency),
        transaction_id=payment.transaction_id,
        transaction_code=payment.transaction_code,
        last_error=payment.last_error,
        attempt=payment.attempt,
        created_at=payment.created_at,
    )
