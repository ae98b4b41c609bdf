"""Guest bookings of free events: a booking belongs to a member or to a guest's address.

``event_bookings.user_id`` becomes optional; a guest's booking has ``guest_email``
(lower-cased) and ``guest_name`` instead (exactly one of member and guest), and starts
``pending``: it counts for nothing until the guest confirms it through the signed link
emailed to them.

Revision ID: 0017
Revises: 0010
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("event_bookings", "user_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column("event_bookings", sa.Column("guest_email", sa.String(length=320), nullable=True))
    op.add_column(
        "event_bookings",
        sa.Column("guest_name", sa.String(length=191), server_default="", nullable=False),
    )
    op.create_index(
        op.f("ix_event_bookings_guest_email"), "event_bookings", ["guest_email"], unique=False
    )
    op.create_check_constraint(
        op.f("ck_event_bookings_member_or_guest"),
        "event_bookings",
        "(user_id IS NULL) <> (guest_email IS NULL)",
    )
    op.drop_constraint(op.f("ck_event_bookings_status_known"), "event_bookings", type_="check")
    op.create_check_constraint(
        op.f("ck_event_bookings_status_known"),
        "event_bookings",
        "status IN ('pending', 'confirmed', 'waiting', 'cancelled')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_bookings WHERE user_id IS NULL")
    op.drop_constraint(op.f("ck_event_bookings_status_known"), "event_bookings", type_="check")
    op.create_check_constraint(
        op.f("ck_event_bookings_status_known"),
        "event_bookings",
        "status IN ('confirmed', 'waiting', 'cancelled')",
    )
    op.drop_constraint(op.f("ck_event_bookings_member_or_guest"), "event_bookings", type_="check")
    op.drop_index(op.f("ix_event_bookings_guest_email"), table_name="event_bookings")
    op.drop_column("event_bookings", "guest_name")
    op.drop_column("event_bookings", "guest_email")
    op.alter_column("event_bookings", "user_id", existing_type=sa.BigInteger(), nullable=False)
