"""The cart domain: cart lines, orders with their snapshotted lines, SumUp payments, refunds.

A cart line names something a domain sells by ``(kind, item_id)`` (``"product"``: a market
product; ``"ticket"``: an event ticket type) and holds only a quantity: prices are re-read
from the owning domain whenever the cart is shown and at checkout.

An order snapshots what was bought (title, unit price, quantity) so later price changes
never rewrite history. Money is integer minor units plus the order's one currency.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of, updated_at_column

ORDER_STATUSES = (
    "pending_payment",
    "paid",
    "fulfilled",
    "cancelled",
    "expired",
    "refunded",
    "partly_refunded",
)
SELLABLE_KINDS = ("product", "ticket")
# How an order is handed over; "none": nothing to hand over (tickets only).
FULFILMENTS = ("collection", "delivery", "none")


class CartItem(Base):
    """A line in a cart, owned by a member (``user_id``) or an anonymous cart key, never both;
    one line per owner and item."""

    __tablename__ = "cart_items"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (cart_key IS NULL)", name="one_owner"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(one_of("kind", SELLABLE_KINDS), name="kind_known"),
        Index("ix_cart_items_user_id", "user_id"),
        Index("ix_cart_items_cart_key", "cart_key"),
        Index(
            "uq_cart_items_member_item",
            "user_id",
            "kind",
            "item_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_cart_items_key_item",
            "cart_key",
            "kind",
            "item_id",
            unique=True,
            postgresql_where=text("cart_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    cart_key: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    item_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Order(Base):
    """An order: who, how it is fulfilled, what it costs, and where it is in its life.

    ``status`` moves only through :mod:`shared.services.cart.service` (each move audited):
    pending_payment -> paid -> fulfilled, or cancelled / expired / refunded / partly_refunded.
    ``needs_attention`` flags an order staff must look at (a payment that did not match).
    """

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", ORDER_STATUSES), name="status_known"),
        CheckConstraint(one_of("fulfilment", FULFILMENTS), name="fulfilment_known"),
        CheckConstraint(
            "fulfilment <> 'delivery' OR length(btrim(address)) > 0", name="delivery_address"
        ),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= total_minor", name="refund_within_total"
        ),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        Index("ix_orders_user_id", "user_id", "id"),
        Index("ix_orders_status", "status", "reserved_until"),
        # The unpaid orders a guest's browser placed (the cart page names them).
        Index(
            "ix_orders_unpaid_cart_key",
            "cart_key",
            postgresql_where=text("cart_key IS NOT NULL AND status = 'pending_payment'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default="pending_payment"
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    phone: Mapped[str] = mapped_column(String(40), nullable=False, server_default="")
    fulfilment: Mapped[str] = mapped_column(String(20), nullable=False)
    address: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    reserved_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A guest's cart key when the order was placed: the browser that placed it finds it
    # again even if the answer to its checkout was lost.
    cart_key: Mapped[str | None] = mapped_column(String(128))
    needs_attention: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    attention_reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OrderLine(Base):
    """One line of an order as it was bought (the snapshot), and whether it was fulfilled."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="price_not_negative"),
        CheckConstraint(one_of("kind", SELLABLE_KINDS), name="kind_known"),
        Index("ix_order_lines_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    item_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    url: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    """One SumUp checkout of an order, as last read from SumUp: one per payment attempt.
    ``checkout_reference`` is the order id for the first attempt and ``<order id>-<attempt>``
    for a retry after SumUp reported the previous checkout FAILED or EXPIRED (a reference can
    be used once); see :func:`shared.services.cart._common.checkout_reference`."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_status", "status"),
        UniqueConstraint("order_id", "attempt", name="uq_payments_order_attempt"),
        CheckConstraint("attempt > 0", name="attempt_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    checkout_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="NEW")
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    hosted_url: Mapped[str] = mapped_column(String(1000), nullable=False, server_default="")
    transaction_id: Mapped[str | None] = mapped_column(String(100))
    transaction_code: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Refund(Base):
    """Money given back through SumUp's refund endpoint, per transaction."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_refunds_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    transaction_id: Mapped[str] = mapped_column(String(100), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    by_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
