"""Indexes for the market's public listings, read in order of their sorts and by keyset.

Partial (available products only, as every public listing is): by price, by name (lower
case) and by a supplier's products by price, each with the id that breaks ties, so a
listing's page is read in order and stops after a page — also after a cursor
(decision 0105). Newest first already has ``ix_market_products_listing``.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AVAILABLE = sa.text("available IS TRUE")


def upgrade() -> None:
    op.create_index(
        "ix_market_products_price",
        "market_products",
        ["price_minor", "id"],
        postgresql_where=AVAILABLE,
    )
    op.create_index(
        "ix_market_products_name",
        "market_products",
        [sa.text("lower(title)"), "id"],
        postgresql_where=AVAILABLE,
    )
    op.create_index(
        "ix_market_products_supplier_price",
        "market_products",
        ["supplier_id", "price_minor", "id"],
        postgresql_where=AVAILABLE,
    )


def downgrade() -> None:
    op.drop_index("ix_market_products_supplier_price", table_name="market_products")
    op.drop_index("ix_market_products_name", table_name="market_products")
    op.drop_index("ix_market_products_price", table_name="market_products")
