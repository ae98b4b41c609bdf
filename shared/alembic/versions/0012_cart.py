"""The cart: lines that name what a domain sells, orders with snapshotted lines, SumUp
payments and refunds.

The seed's cart lines only had a title; they name nothing that can be bought, so they are
dropped (they never held anything a visitor could check out).

Revision ID: 0012
Revises: 0015
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending_payment", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), server_default="", nullable=False),
        sa.Column("fulfilment", sa.String(length=20), nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("needs_attention", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("attention_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "fulfilment = 'collection' OR length(btrim(address)) > 0",
            name=op.f("ck_orders_delivery_address"),
        ),
        sa.CheckConstraint(
            "fulfilment IN ('collection','delivery')", name=op.f("ck_orders_fulfilment_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment','paid','fulfilled','cancelled','expired','refunded','partly_refunded')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_orders_currency_code")),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= total_minor",
            name=op.f("ck_orders_refund_within_total"),
        ),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_orders_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index("ix_orders_status", "orders", ["status", "reserved_until"], unique=False)
    op.create_index("ix_orders_user_id", "orders", ["user_id", "id"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), server_default="", nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('product', 'ticket')", name=op.f("ck_order_lines_kind_known")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint("unit_price_minor >= 0", name=op.f("ck_order_lines_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index("ix_order_lines_order_id", "order_lines", ["order_id"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("checkout_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="NEW", nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hosted_url", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("transaction_id", sa.String(length=100), nullable=True),
        sa.Column("transaction_code", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("checkout_id", name=op.f("uq_payments_checkout_id")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payments_order_id")),
    )
    op.create_index("ix_payments_status", "payments", ["status"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("by_user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["users.id"],
            name=op.f("fk_refunds_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_order_id", "refunds", ["order_id"], unique=False)
    op.execute("DELETE FROM cart_items")
    op.add_column("cart_items", sa.Column("kind", sa.String(length=20), nullable=False))
    op.add_column("cart_items", sa.Column("item_id", sa.BigInteger(), nullable=False))
    op.add_column(
        "cart_items",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "uq_cart_items_key_item",
        "cart_items",
        ["cart_key", "kind", "item_id"],
        unique=True,
        postgresql_where=sa.text("cart_key IS NOT NULL"),
    )
    op.create_index(
        "uq_cart_items_member_item",
        "cart_items",
        ["user_id", "kind", "item_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_column("cart_items", "title")
    op.create_check_constraint(
        op.f("ck_cart_items_kind_known"), "cart_items", "kind IN ('product', 'ticket')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM cart_items")
    op.drop_constraint(op.f("ck_cart_items_kind_known"), "cart_items", type_="check")
    op.add_column(
        "cart_items",
        sa.Column("title", sa.VARCHAR(length=200), autoincrement=False, nullable=False),
    )
    op.drop_index(
        "uq_cart_items_member_item",
        table_name="cart_items",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_cart_items_key_item",
        table_name="cart_items",
        postgresql_where=sa.text("cart_key IS NOT NULL"),
    )
    op.drop_column("cart_items", "updated_at")
    op.drop_column("cart_items", "item_id")
    op.drop_column("cart_items", "kind")
    op.drop_index("ix_refunds_order_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payments_status", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_order_lines_order_id", table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_user_id", table_name="orders")
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_table("orders")
