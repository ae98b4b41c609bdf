"""The market federates its products and market pages: each row remembers the object id it
was announced under, a digest of what was sent and when the fediverse was last brought in
line with it. Rows that exist already count as in line (their first change announces them),
so an upgrade does not flood followers with the whole catalogue.

Calendars gain the category their events are filed under on other event sites (Mobilizon's
list); existing ones are meetings until staff choose.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("market_products", "market_pages")


def upgrade() -> None:
    op.add_column(
        "event_calendars",
        sa.Column("category", sa.String(length=32), server_default="MEETING", nullable=False),
    )
    for table in TABLES:
        op.add_column(table, sa.Column("ap_object_uri", sa.String(length=2000), nullable=True))
        op.add_column(table, sa.Column("ap_digest", sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column("ap_synced_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE market_products SET ap_synced_at = updated_at")
    op.execute("UPDATE market_pages SET ap_synced_at = updated_at")
    op.create_index(
        "ix_market_products_ap_pending",
        "market_products",
        ["updated_at"],
        postgresql_where=sa.text("ap_synced_at IS NULL OR updated_at > ap_synced_at"),
    )


def downgrade() -> None:
    op.drop_column("event_calendars", "category")
    op.drop_index("ix_market_products_ap_pending", table_name="market_products")
    for table in TABLES:
        op.drop_column(table, "ap_synced_at")
        op.drop_column(table, "ap_digest")
        op.drop_column(table, "ap_object_uri")
