"""ActivityPub: the transactional outbox, the delivery queue, followers and remote-actor caches.

``ap_activities`` is written in the same transaction as the domain change it announces (a post
published, an event created), so an activity exists exactly when its change committed. The
OutboxProcessor fans each one out into ``ap_deliveries`` (one row per distinct inbox), claims
deliveries with ``FOR UPDATE SKIP LOCKED``, and records every attempt in
``ap_delivery_attempts``. ``ap_hosts`` remembers hosts that keep failing so they can be skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of

DELIVERY_STATUSES = ("pending", "delivered", "dead")
INTERACTION_KINDS = ("like", "boost", "reply")
ATTEMPT_OUTCOMES = ("delivered", "retry", "dead")


class ApActivity(Base):
    """One activity an app actor published (the outbox)."""

    __tablename__ = "ap_activities"
    __table_args__ = (
        # The outbox pages newest first by id, per actor, public activities only.
        Index(
            "ix_ap_activities_outbox",
            "actor_app",
            "id",
            postgresql_where=text("is_public"),
        ),
        Index(
            "ix_ap_activities_unfanned",
            "id",
            postgresql_where=text("fanned_out_at IS NULL"),
        ),
        Index("ix_ap_activities_object_uri", "object_uri", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    actor_app: Mapped[str] = mapped_column(String(20), nullable=False)
    # Set when a member's own actor published it (federation's social hub): signed with the
    # member's key and fanned out to the member's followers instead of the app actor's.
    actor_account_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    activity_type: Mapped[str] = mapped_column(String(30), nullable=False)
    object_uri: Mapped[str | None] = mapped_column(String(500))
    object_type: Mapped[str | None] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # Public activities are listed in the outbox; an Accept is addressed to one follower only.
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    to_followers: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    target_inboxes: Mapped[list[str]] = mapped_column(
        ARRAY(String(500)), nullable=False, server_default="{}"
    )
    created_at: Mapped[datetime] = created_at_column()
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApDelivery(Base):
    """One activity to one inbox; retried until delivered or dead."""

    __tablename__ = "ap_deliveries"
    __table_args__ = (
        UniqueConstraint("activity_id", "inbox_url"),
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status_known"),
        Index(
            "ix_ap_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_ap_deliveries_status_host", "status", "host"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ap_activities.id", ondelete="CASCADE"), nullable=False
    )
    inbox_url: Mapped[str] = mapped_column(String(500), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Also the claim's lease: a claimed delivery is pushed into the future, so a worker that
    # dies mid-flight only delays it (at-least-once delivery).
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class ApDeliveryAttempt(Base):
    """Every attempt at a delivery, kept for staff and for counting."""

    __tablename__ = "ap_delivery_attempts"
    __table_args__ = (
        CheckConstraint(one_of("outcome", ATTEMPT_OUTCOMES), name="outcome_known"),
        Index("ix_ap_delivery_attempts_delivery_id", "delivery_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ap_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = created_at_column()
    worker: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(12), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class ApFollower(Base):
    """A remote actor following one of our app actors."""

    __tablename__ = "ap_followers"
    __table_args__ = (UniqueConstraint("actor_app", "actor_uri"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor_app: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    inbox_url: Mapped[str] = mapped_column(String(500), nullable=False)
    shared_inbox_url: Mapped[str | None] = mapped_column(String(500))
    follow_activity_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class ApRemoteActor(Base):
    """A remote actor and its public key, fetched once and refreshed when stale or rotated."""

    __tablename__ = "ap_remote_actors"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    key_id: Mapped[str | None] = mapped_column(String(500), unique=True)
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    inbox_url: Mapped[str | None] = mapped_column(String(500))
    shared_inbox_url: Mapped[str | None] = mapped_column(String(500))
    preferred_username: Mapped[str | None] = mapped_column(String(200))
    actor_type: Mapped[str | None] = mapped_column(String(30))
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApInboundActivity(Base):
    """Ids of activities already received, per sending actor, so a duplicate delivery changes
    nothing (an id is the sender's to claim: one actor cannot shadow another's)."""

    __tablename__ = "ap_inbound_activities"
    __table_args__ = (UniqueConstraint("actor_uri", "uri"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), nullable=False)
    actor_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    activity_type: Mapped[str] = mapped_column(String(30), nullable=False)
    recipient_app: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = created_at_column()


class ApAppInteraction(Base):
    """A Like, boost or reply one of our app actors' objects received (staff see them)."""

    __tablename__ = "ap_app_interactions"
    __table_args__ = (
        UniqueConstraint("actor_uri", "activity_uri"),
        CheckConstraint(one_of("kind", INTERACTION_KINDS), name="kind_known"),
        Index("ix_ap_app_interactions_app", "actor_app", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor_app: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    actor_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    activity_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    object_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    reply_uri: Mapped[str | None] = mapped_column(String(500))
    reply_url: Mapped[str | None] = mapped_column(String(500))
    reply_text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at_column()


class ApHost(Base):
    """Delivery health of one remote host."""

    __tablename__ = "ap_hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unavailable_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_probe_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
