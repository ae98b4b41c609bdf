"""The base every part of the cart service builds on: its wiring (the settings, the SumUp
client, the mailer, the domains that sell through the cart) and the links to an order."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from shared.config import Settings
from shared.errors import DomainError
from shared.infrastructure.mail import Mailer
from shared.services.cart.sumup import SumUpClient


class CartBase:
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
        url = self._cart_url(f"/orders/{order_id}")
        return f"{url}?t={self.order_token(order_id)}" if token else url

    def member_order_url(self, order_id: int) -> str:
        """Where a member reads their order: its page in the account app."""
        base = self.settings.apps["account"].public_url if self.settings else ""
        return f"{base}/orders/{order_id}"
