"""The market's catalogue: suppliers, the category tree, products with prices in minor units,
stock that cannot go negative, images, price history, curated market pages, and the supplier
sites the importer crawls with a record of each run.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_categories",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
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
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_market_categories_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["market_categories.id"],
            name=op.f("fk_market_categories_parent_id_market_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_market_categories_slug")),
    )
    op.create_index(
        op.f("ix_market_categories_parent_id"), "market_categories", ["parent_id"], unique=False
    )
    op.create_table(
        "market_pages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("intro", sa.Text(), nullable=True),
        sa.Column("published", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_market_pages_slug")),
    )
    op.create_table(
        "market_suppliers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("logo_url", sa.String(length=2000), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_suppliers")),
        sa.UniqueConstraint("slug", name=op.f("uq_market_suppliers_slug")),
    )
    op.create_table(
        "market_products",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("plaintext", sa.Text(), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("supplier_id", sa.BigInteger(), nullable=True),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="GBP", nullable=False),
        sa.Column("unit", sa.String(length=32), server_default="each", nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("available", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("featured", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("last_imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english'::regconfig, translate(coalesce(title, ''), '<>', '  ')), 'A') || setweight(to_tsvector('english'::regconfig, translate(coalesce(summary, ''), '<>', '  ')), 'B') || setweight(to_tsvector('english'::regconfig, translate(coalesce(plaintext, ''), '<>', '  ')), 'C')",
                persisted=True,
            ),
            nullable=False,
        ),
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
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_market_products_currency_iso")),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_market_products_price_not_negative")),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_market_products_stock_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["market_suppliers.id"],
            name=op.f("fk_market_products_supplier_id_market_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_products")),
        sa.UniqueConstraint("slug", name=op.f("uq_market_products_slug")),
    )
    op.create_index(
        "ix_market_products_listing",
        "market_products",
        ["available", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_market_products_search",
        "market_products",
        ["search"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        op.f("ix_market_products_supplier_id"), "market_products", ["supplier_id"], unique=False
    )
    op.create_index(
        "uq_market_products_supplier_source",
        "market_products",
        ["supplier_id", "source_url"],
        unique=True,
        postgresql_where=sa.text("source_url IS NOT NULL"),
    )
    op.create_table(
        "market_scrape_sources",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("start_url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=10), server_default="page", nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("interval_hours", sa.Integer(), server_default="24", nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('page', 'sitemap')", name=op.f("ck_market_scrape_sources_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["market_suppliers.id"],
            name=op.f("fk_market_scrape_sources_supplier_id_market_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_scrape_sources")),
    )
    op.create_index(
        op.f("ix_market_scrape_sources_supplier_id"),
        "market_scrape_sources",
        ["supplier_id"],
        unique=False,
    )
    op.create_table(
        "market_page_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("page_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(product_id IS NULL) <> (category_id IS NULL)",
            name=op.f("ck_market_page_items_product_or_category"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["market_categories.id"],
            name=op.f("fk_market_page_items_category_id_market_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["page_id"],
            ["market_pages.id"],
            name=op.f("fk_market_page_items_page_id_market_pages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["market_products.id"],
            name=op.f("fk_market_page_items_product_id_market_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_page_items")),
    )
    op.create_index(
        "ix_market_page_items_page", "market_page_items", ["page_id", "position"], unique=False
    )
    op.create_table(
        "market_price_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("old_price_minor", sa.Integer(), nullable=True),
        sa.Column("new_price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('staff', 'csv', 'scrape')",
            name=op.f("ck_market_price_changes_source_known"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["market_products.id"],
            name=op.f("fk_market_price_changes_product_id_market_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_price_changes")),
    )
    op.create_index(
        "ix_market_price_changes_product",
        "market_price_changes",
        ["product_id", "changed_at"],
        unique=False,
    )
    op.create_table(
        "market_product_categories",
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["market_categories.id"],
            name=op.f("fk_market_product_categories_category_id_market_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["market_products.id"],
            name=op.f("fk_market_product_categories_product_id_market_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_id", "category_id", name=op.f("pk_market_product_categories")
        ),
    )
    op.create_index(
        op.f("ix_market_product_categories_category_id"),
        "market_product_categories",
        ["category_id"],
        unique=False,
    )
    op.create_table(
        "market_product_images",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("alt", sa.String(length=300), server_default="", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["market_products.id"],
            name=op.f("fk_market_product_images_product_id_market_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_product_images")),
    )
    op.create_index(
        "ix_market_product_images_product",
        "market_product_images",
        ["product_id", "position"],
        unique=False,
    )
    op.create_table(
        "market_scrape_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pages_fetched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unavailable", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "errors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed')",
            name=op.f("ck_market_scrape_runs_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["market_scrape_sources.id"],
            name=op.f("fk_market_scrape_runs_source_id_market_scrape_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_scrape_runs")),
    )
    op.create_index(
        "ix_market_scrape_runs_source",
        "market_scrape_runs",
        ["source_id", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_market_scrape_runs_source", table_name="market_scrape_runs")
    op.drop_table("market_scrape_runs")
    op.drop_index("ix_market_product_images_product", table_name="market_product_images")
    op.drop_table("market_product_images")
    op.drop_index(
        op.f("ix_market_product_categories_category_id"), table_name="market_product_categories"
    )
    op.drop_table("market_product_categories")
    op.drop_index("ix_market_price_changes_product", table_name="market_price_changes")
    op.drop_table("market_price_changes")
    op.drop_index("ix_market_page_items_page", table_name="market_page_items")
    op.drop_table("market_page_items")
    op.drop_index(op.f("ix_market_scrape_sources_supplier_id"), table_name="market_scrape_sources")
    op.drop_table("market_scrape_sources")
    op.drop_index(
        "uq_market_products_supplier_source",
        table_name="market_products",
        postgresql_where=sa.text("source_url IS NOT NULL"),
    )
    op.drop_index(op.f("ix_market_products_supplier_id"), table_name="market_products")
    op.drop_index("ix_market_products_search", table_name="market_products", postgresql_using="gin")
    op.drop_index("ix_market_products_listing", table_name="market_products")
    op.drop_table("market_products")
    op.drop_table("market_suppliers")
    op.drop_table("market_pages")
    op.drop_index(op.f("ix_market_categories_parent_id"), table_name="market_categories")
    op.drop_table("market_categories")
