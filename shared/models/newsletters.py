"""Newsletters (the account app): lists, their subscribers, the issues staff write, one
delivery row per issue and recipient, and the addresses that bounced.

A subscription belongs to an email address (people without an account may subscribe); a
member's subscriptions also carry their ``user_id`` so the dashboard finds them. Sending an
issue first writes every recipient's delivery row (one per subscription, unique), then the
worker works through the pending rows: the unique row is what makes a resend or a resumed
send reach each address exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of, updated_at_column

SUBSCRIPTION_STATUSES = ("pending", "active", "unsubscribed", "bounced")
ISSUE_STATUSES = ("draft", "sending", "paused", "sent")
DELIVERY_STATUSES = ("pending", "sent", "failed", "skipped")


class Newsletter(Base):
    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class NewsletterSubscription(Base):
    """One address on one newsletter. ``pending`` until the address is confirmed (double
    opt-in); ``bounced`` when a permanent SMTP failure suppressed it."""

    __tablename__ = "newsletter_subscriptions"
    __table_args__ = (
        Index(
            "uq_newsletter_subscriptions_address",
            "newsletter_id",
            text("lower(email)"),
            unique=True,
        ),
        CheckConstraint(one_of("status", SUBSCRIPTION_STATUSES), name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("newsletters.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class NewsletterIssue(Base):
    """An issue: ``html`` is sanitized. ``draft`` until staff send it, ``sending`` while
    deliveries are pending, ``sent`` when none is left; ``paused`` when the mail relay refused
    ``newsletters.pause_after_refusals`` messages in a row (``refusals_in_a_row``, the last
    answer in ``paused_reason``), until staff resume it."""

    __tablename__ = "newsletter_issues"
    __table_args__ = (CheckConstraint(one_of("status", ISSUE_STATUSES), name="status_known"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("newsletters.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    html: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="draft")
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    send_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refusals_in_a_row: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    paused_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class NewsletterDelivery(Base):
    """One issue to one subscription: written when the send starts, then ``sent``,
    ``failed`` (with the reason), or ``skipped`` (unsubscribed or suppressed meanwhile)."""

    __tablename__ = "newsletter_deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscription_id", name="uq_newsletter_deliveries_recipient"),
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status_known"),
        # The worker's queue: pending rows by due time.
        Index(
            "ix_newsletter_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    issue_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("newsletter_issues.id", ondelete="CASCADE"), nullable=False
    )
    subscription_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("newsletter_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class EmailSuppression(Base):
    """An address no newsletter is sent to again (it bounced permanently); lower case."""

    __tablename__ = "email_suppressions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
