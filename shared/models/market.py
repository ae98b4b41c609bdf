"""The market's catalogue: suppliers, categories, products and their prices and stock, the
curated market pages staff compose, and the supplier sites the importer crawls.

Money is integer minor units (pence, cents) beside an ISO 4217 currency, never a float. Stock
is a count, or NULL for "unlimited"; it only ever changes under
:func:`shared.infrastructure.locking.lock_objects` (see :mod:`shared.services.market.stock`),
and a CHECK keeps it from going negative whatever a bug might try. Products that vanish from a
supplier's site are marked unavailable, never deleted: orders keep pointing at them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of, updated_at_column

PRODUCT_SEARCH_EXPRESSION = " || ".join(
    f"setweight(to_tsvector('english'::regconfig, "
    f"translate(coalesce({column}, ''), '<>', '  ')), '{weight}')"
    for column, weight in (("title", "A"), ("summary", "B"), ("plaintext", "C"))
)
SCRAPE_SOURCE_KINDS = ("page", "sitemap")
SCRAPE_RUN_STATUSES = ("running", "finished", "failed")
PRICE_CHANGE_SOURCES = ("staff", "csv", "scrape")


class Supplier(Base):
    __tablename__ = "market_suppliers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(191), nullable=False)
    website: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)  # sanitized HTML
    logo_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Category(Base):
    """A node of the category tree (``parent_id`` NULL at the top)."""

    __tablename__ = "market_categories"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(191), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # A category with sub-categories or products cannot be deleted by accident.
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("market_categories.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Product(Base):
    __tablename__ = "market_products"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        Index("ix_market_products_search", "search", postgresql_using="gin"),
        # One product per page of a supplier's site: a re-import updates it.
        Index(
            "uq_market_products_supplier_source",
            "supplier_id",
            "source_url",
            unique=True,
            postgresql_where=text("source_url IS NOT NULL"),
        ),
        Index("ix_market_products_listing", "available", "created_at", "id"),
        # What the fediverse has not yet been brought in line with (MarketFederating).
        Index(
            "ix_market_products_ap_pending",
            "updated_at",
            postgresql_where=text("ap_synced_at IS NULL OR updated_at > ap_synced_at"),
        ),
        # The public listings' sorts and filters, read in order and by keyset (decision 0105).
        Index(
            "ix_market_products_price",
            "price_minor",
            "id",
            postgresql_where=text("available IS TRUE"),
        ),
        Index(
            "ix_market_products_name",
            text("lower(title)"),
            "id",
            postgresql_where=text("available IS TRUE"),
        ),
        Index(
            "ix_market_products_supplier_price",
            "supplier_id",
            "price_minor",
            "id",
            postgresql_where=text("available IS TRUE"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    summary: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)  # sanitized HTML
    plaintext: Mapped[str | None] = mapped_column(Text)  # derived from description
    sku: Mapped[str | None] = mapped_column(String(100))
    supplier_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("market_suppliers.id", ondelete="RESTRICT"), index=True
    )
    price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="GBP")
    unit: Mapped[str] = mapped_column(String(32), nullable=False, server_default="each")
    stock: Mapped[int | None] = mapped_column(Integer)  # NULL: unlimited
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    featured: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    source_url: Mapped[str | None] = mapped_column(String(2000))
    last_imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # On the fediverse (shared/services/market/federating.py): the object id the market actor
    # announced it under (None: not federated), a digest of what was last sent, and when the
    # fediverse was last brought in line with the row.
    ap_object_uri: Mapped[str | None] = mapped_column(String(2000))
    ap_digest: Mapped[str | None] = mapped_column(String(64))
    ap_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(PRODUCT_SEARCH_EXPRESSION, persisted=True), deferred=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ProductImage(Base):
    __tablename__ = "market_product_images"
    __table_args__ = (Index("ix_market_product_images_product", "product_id", "position"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_products.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    alt: Mapped[str] = mapped_column(String(300), nullable=False, server_default="")
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class ProductCategory(Base):
    __tablename__ = "market_product_categories"

    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_products.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("market_categories.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )


class PriceChange(Base):
    """The price history of a product: one row per change, whoever made it."""

    __tablename__ = "market_price_changes"
    __table_args__ = (
        CheckConstraint(one_of("source", PRICE_CHANGE_SOURCES), name="source_known"),
        Index("ix_market_price_changes_product", "product_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_products.id", ondelete="CASCADE"), nullable=False
    )
    old_price_minor: Mapped[int | None] = mapped_column(Integer)
    new_price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    changed_at: Mapped[datetime] = created_at_column()


class MarketPage(Base):
    """A curated landing page: an intro and an ordered selection of products or categories."""

    __tablename__ = "market_pages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    intro: Mapped[str | None] = mapped_column(Text)  # sanitized HTML
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    ap_object_uri: Mapped[str | None] = mapped_column(String(2000))
    ap_digest: Mapped[str | None] = mapped_column(String(64))
    ap_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class MarketPageItem(Base):
    __tablename__ = "market_page_items"
    __table_args__ = (
        CheckConstraint(
            "(product_id IS NULL) <> (category_id IS NULL)", name="product_or_category"
        ),
        Index("ix_market_page_items_page", "page_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    page_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_pages.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("market_products.id", ondelete="CASCADE")
    )
    category_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("market_categories.id", ondelete="CASCADE")
    )


class ScrapeSource(Base):
    """Where the importer starts crawling a supplier's site: a catalogue page or a sitemap."""

    __tablename__ = "market_scrape_sources"
    __table_args__ = (CheckConstraint(one_of("kind", SCRAPE_SOURCE_KINDS), name="kind_known"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("market_suppliers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    start_url: Mapped[str] = mapped_column(String(2000), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, server_default="page")
    # Crawl settings: page limit, delay, link patterns ... (see the importer).
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    interval_hours: Mapped[int] = mapped_column(Integer, nullable=False, server_default="24")
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class ScrapeRun(Base):
    """What one crawl of a source did."""

    __tablename__ = "market_scrape_runs"
    __table_args__ = (
        CheckConstraint(one_of("status", SCRAPE_RUN_STATUSES), name="status_known"),
        Index("ix_market_scrape_runs_source", "source_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_scrape_sources.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="running")
    started_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pages_fetched: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    unavailable: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # [{"url": ..., "error": ...}, ...]
    errors: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
