"""What every part of the cart service shares: its wiring (the settings, the SumUp client,
the mailer, the domains that sell through the cart), the links to an order, the money rules,
and the helpers more than one part uses.

Money rules live here, in one place (:func:`line_total`, :func:`total_of`): a line costs its
unit price times its quantity, an order costs the sum of its lines, both in integer minor
units of one currency; nothing is ever rounded because nothing is ever divided (a partial
refund is an amount staff type, checked against what is left).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings
from shared.contracts.dtos import CartOwner, Money, PaymentDTO
from shared.errors import DomainError
from shared.infrastructure.mail import Mailer
from shared.models import CartItem, Payment
from shared.services.cart.sumup import SumUpClient

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


class CartCore:
    """The cart service's wiring and the links to an order, shared by its parts (see
    :class:`shared.services.cart.service.SqlCartService`).

    ``providers`` are the domains that sell through the cart, by kind
    (``SellableProvider``)."""

    def __init__(
        self, settings: Settings | None = None, providers: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self._providers: dict[str, Any] = dict(providers or {})
        self.mailer = Mailer(settings) if settings is not None else None
        self.sumup = (
            SumUpClient.from_settings(settings)
            if settings is not None
            else SumUpClient("https://api.sumup.com", None, None)
        )

    def provider(self, kind: str) -> Any:
        provider = self._providers.get(kind)
        if provider is None or not hasattr(provider, "sellables"):
            raise DomainError("unknown_kind", "That cannot be bought here.")
        return provider

    def _link_key(self) -> bytes:
        secret = (self.settings.secrets.secret_key if self.settings else None) or ""
        return hmac.new(secret.encode(), b"cart:order-link", hashlib.sha256).digest()

    def order_token(self, order_id: int) -> str:
        """The token of a guest's link to their order (in the receipt)."""
        return hmac.new(self._link_key(), f"order:{order_id}".encode(), "sha256").hexdigest()[:40]

    def check_order_token(self, order_id: int, token: str) -> bool:
        return hmac.compare_digest(self.order_token(order_id), token or "")

    def _cart_url(self, path: str) -> str:
        base = self.settings.apps["cart"].public_url if self.settings else ""
        return base + path

    def order_url(self, order_id: int, *, token: bool = True) -> str:
        base = self.settings.apps["cart"].public_url if self.settings else ""
        url = f"{base}/orders/{order_id}"
        return f"{url}?t={self.order_token(order_id)}" if token else url

    def member_order_url(self, order_id: int) -> str:
        """Where a member reads their order: its page in the account app."""
        base = self.settings.apps["account"].public_url if self.settings else ""
        return f"{base}/orders/{order_id}"
