"""Who a stored media file belongs to: one row per domain and member that uploaded it (or, for
files older than this record, that used it when it was made; migration 0019).

Files are named by their content, so two uploads of the same image are one file with two rows.
A member may point their profile only at files they have a row for, and a file is removed only
when the last row for it goes (:mod:`shared.infrastructure.media`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column


class MediaOwner(Base):
    __tablename__ = "media_owners"
    __table_args__ = (
        UniqueConstraint("name", "domain", "user_id", name="uq_media_owners"),
        Index("ix_media_owners_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The stored file's name under ``<media.root>/images/``: ``<sha256>.<ext>``.
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    # The domain that uploaded or uses it: blog, market, events, social.
    domain: Mapped[str] = mapped_column(String(20), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
