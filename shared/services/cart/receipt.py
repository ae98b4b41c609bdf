"""The receipt a buyer is sent once their order is paid (its words are in
``shared/templates/email/order_receipt/``)."""

from __future__ import annotations

from shared.contracts import OrderDTO
from shared.infrastructure.mail import Email, build_email
from shared.services.cart._base import CartBase


class CartReceipt(CartBase):
    """The receipt email (part of ``SqlCartService``)."""

    def receipt_email(self, order: OrderDTO) -> Email:
        # The registry always builds the cart with settings (without them there is no mailer).
        assert self.settings is not None, "a cart without settings writes no receipts"
        # A member reads it in their account; a guest through the signed link.
        link = self.member_order_url(order.id) if order.user_id else self.order_url(order.id)
        return build_email(
            self.settings, "order_receipt", order.email, {"order": order, "link": link}
        )
