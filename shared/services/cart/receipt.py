"""The receipt a buyer is sent once their order is paid."""

from __future__ import annotations

from shared.contracts import OrderDTO
from shared.infrastructure.mail import Email
from shared.services.cart._base import CartBase


class CartReceipt(CartBase):
    """The receipt email (part of ``SqlCartService``)."""

    def receipt_email(self, order: OrderDTO) -> Email:
        site = self.settings.site_name if self.settings else "Rose Ash"
        lines = [f"Thank you for your order at {site}.", "", f"Order {order.id}", ""]
        for line in order.lines:
            lines.append(
                f"  {line.quantity} x {line.title}  {line.unit_price}  = {line.line_total}"
            )
        lines += ["", f"Total paid: {order.total}"]
        if order.payment and order.payment.transaction_code:
            lines.append(f"SumUp transaction: {order.payment.transaction_code}")
        if order.fulfilment == "delivery":
            lines += ["", "Delivery to:", order.address]
        else:
            lines += ["", "Collection at the cooperative: we will tell you when it is ready."]
        # A member reads it in their account; a guest through the signed link.
        link = self.member_order_url(order.id) if order.user_id else self.order_url(order.id)
        lines += ["", f"Your order: {link}", ""]
        return Email(order.email, f"Your {site} order {order.id}", "\n".join(lines))
