"""Who a stored media file belongs to: one row per domain and member that uploaded it (or, for
files older than this record, that used it when it was made; migration 0019).

Files are named by their content, so two uploads of the same image are one file with two rows.
A member may point their profile only at files they have a row for, and a file is removed only
when the last row for it goes (:mod:`shared.infrastructure.media`).

That removal is queued, not done where the last row went: a :class:`MediaErasure` row, written in
the same transaction, which the worker's stage of the store's domain takes up where the files
live, re-checks, carries out, verifies and retries until it has (decision 0112).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
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


class MediaErasure(Base):
    """A stored file to be removed from one media store, and what became of it."""

    __tablename__ = "media_erasures"
    __table_args__ = (
        # One pending erasure per file and store: releasing it again adds nothing.
        Index(
            "uq_media_erasures_pending",
            "store",
            "name",
            unique=True,
            postgresql_where=text("done_at IS NULL"),
        ),
        # The stage's claim: the pending rows whose time has come.
        Index(
            "ix_media_erasures_due",
            "next_attempt_at",
            postgresql_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The file's name under ``images/``: ``<sha256>.<ext>``.
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    # The store it lives in: the domain whose uploads it was (blog, social). One directory
    # or bucket for all in `rose-ash up` and with the object store; a volume each in the stack.
    store: Mapped[str] = mapped_column(String(20), nullable=False)
    requested_at: Mapped[datetime] = created_at_column()
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Why the last attempt failed (one line), until one succeeds.
    last_error: Mapped[str | None] = mapped_column(Text)
    # When it was settled: removed and seen gone ("erased"), or in use again ("kept").
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(10))
