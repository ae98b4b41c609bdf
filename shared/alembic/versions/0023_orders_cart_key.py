"""Orders remember the guest's cart key, so the browser that placed one finds it again.

A buyer whose checkout answer was lost (the app died after the commit) found an empty cart and
no sign of the order. ``orders.cart_key`` is the guest's cart key at the time (members' orders
have ``user_id``); the cart page lists that browser's unpaid orders through the partial index.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("cart_key", sa.String(length=128), nullable=True))
    op.create_index(
        "ix_orders_unpaid_cart_key",
        "orders",
        ["cart_key"],
        unique=False,
        postgresql_where=sa.text("cart_key IS NOT NULL AND status = 'pending_payment'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_orders_unpaid_cart_key",
        table_name="orders",
        postgresql_where=sa.text("cart_key IS NOT NULL AND status = 'pending_payment'"),
    )
    op.drop_column("orders", "cart_key")
