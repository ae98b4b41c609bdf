"""Payment attempts: an order may have several SumUp checkouts, one per attempt.

A checkout that SumUp reports FAILED or EXPIRED cannot be paid again, and a
``checkout_reference`` can be used only once, so a buyer who tries again gets a new checkout
with the reference ``<order id>-<attempt>`` (the first attempt keeps the bare order id).
``payments`` therefore holds one row per attempt: the one-row-per-order constraint becomes
one row per (order, attempt). Existing rows are attempt 1.

Revision ID: 0016
Revises: 0017
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("attempt", sa.Integer(), server_default="1", nullable=False)
    )
    op.drop_constraint(op.f("uq_payments_order_id"), "payments", type_="unique")
    op.create_unique_constraint(
        op.f("uq_payments_order_attempt"), "payments", ["order_id", "attempt"]
    )
    op.create_check_constraint(op.f("ck_payments_attempt_positive"), "payments", "attempt > 0")


def downgrade() -> None:
    # Only the latest attempt of each order can be kept under the old constraint.
    op.execute(
        "DELETE FROM payments p USING payments q "
        "WHERE p.order_id = q.order_id AND p.attempt < q.attempt"
    )
    op.drop_constraint(op.f("ck_payments_attempt_positive"), "payments", type_="check")
    op.drop_constraint(op.f("uq_payments_order_attempt"), "payments", type_="unique")
    op.create_unique_constraint(op.f("uq_payments_order_id"), "payments", ["order_id"])
    op.drop_column("payments", "attempt")
