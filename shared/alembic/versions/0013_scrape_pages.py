"""The supplier-catalogue importer's bookkeeping: what each fetched page answered (validators
for conditional requests, a hash of its body, what was extracted) and staff's "run now"
requests waiting for a worker.

Revision ID: 0013
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_scrape_pages",
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["market_products.id"],
            name=op.f("fk_market_scrape_pages_product_id_market_products"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["market_scrape_sources.id"],
            name=op.f("fk_market_scrape_pages_source_id_market_scrape_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "url", name=op.f("pk_market_scrape_pages")),
    )
    op.create_index(
        op.f("ix_market_scrape_pages_product_id"),
        "market_scrape_pages",
        ["product_id"],
        unique=False,
    )
    op.create_table(
        "market_scrape_requests",
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_market_scrape_requests_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["market_scrape_sources.id"],
            name=op.f("fk_market_scrape_requests_source_id_market_scrape_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_market_scrape_requests")),
    )


def downgrade() -> None:
    op.drop_table("market_scrape_requests")
    op.drop_index(op.f("ix_market_scrape_pages_product_id"), table_name="market_scrape_pages")
    op.drop_table("market_scrape_pages")
