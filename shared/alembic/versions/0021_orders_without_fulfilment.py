"""Orders with nothing to hand over: ``orders.fulfilment`` may be ``none``.

An order of tickets only is neither collected nor delivered; its checkout asks for neither.
The delivery address is required only for delivery.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_orders_fulfilment_known"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_fulfilment_known"),
        "orders",
        "fulfilment IN ('collection', 'delivery', 'none')",
    )
    op.drop_constraint(op.f("ck_orders_delivery_address"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_delivery_address"),
        "orders",
        "fulfilment <> 'delivery' OR length(btrim(address)) > 0",
    )


def downgrade() -> None:
    op.execute("UPDATE orders SET fulfilment = 'collection' WHERE fulfilment = 'none'")
    op.drop_constraint(op.f("ck_orders_delivery_address"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_delivery_address"),
        "orders",
        "fulfilment = 'collection' OR length(btrim(address)) > 0",
    )
    op.drop_constraint(op.f("ck_orders_fulfilment_known"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_fulfilment_known"),
        "orders",
        "fulfilment IN ('collection', 'delivery')",
    )
