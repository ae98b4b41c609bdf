"""The importer's own bookkeeping beside the market's tables (see shared/models/market.py for
sources and runs).

``market_scrape_pages`` remembers, per source, what each fetched page answered last time: its
validators (ETag, Last-Modified) for conditional requests, a hash of its body, what was
extracted from it (the product, or the links of a listing page) and the product it maps to.
A 304 or an identical body then costs no parsing, and a listing page that has not changed
still leads to its products. ``market_scrape_requests`` holds "run now" requests from staff
until a worker starts that source's run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class ScrapePage(Base):
    __tablename__ = "market_scrape_pages"

    source_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_scrape_sources.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("market_products.id", ondelete="SET NULL"), index=True
    )
    # {"product": {...} | null, "links": [...]}: what the page said when it was last parsed.
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    fetched_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ScrapeRequest(Base):
    """Staff asked for a run of this source now; the worker takes it (one per source)."""

    __tablename__ = "market_scrape_requests"

    source_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("market_scrape_sources.id", ondelete="CASCADE"), primary_key=True
    )
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    requested_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
