"""ActivityPub: the transactional outbox, the delivery queue, followers and remote caches.

ap_activities is the outbox each domain writes in its own transaction; the EventProcessor fans
activities out into ap_deliveries (one per distinct inbox), records every attempt in
ap_delivery_attempts and tracks failing hosts in ap_hosts. ap_followers, ap_remote_actors and
ap_inbound_activities serve the inboxes (followers, cached remote keys, seen activity ids).

It follows 0005 (the blog's content), which reached main first: revision ids are names, the
chain is what orders them.

Revision ID: 0004
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "ap_activities",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("actor_app", sa.String(length=20), nullable=False),
        sa.Column("activity_type", sa.String(length=30), nullable=False),
        sa.Column("object_uri", sa.String(length=500), nullable=True),
        sa.Column("object_type", sa.String(length=30), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("to_followers", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "target_inboxes",
            postgresql.ARRAY(sa.String(length=500)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("fanned_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_activities")),
        sa.UniqueConstraint("uri", name=op.f("uq_ap_activities_uri")),
    )
    op.create_index(
        "ix_ap_activities_outbox",
        "ap_activities",
        ["actor_app", "id"],
        postgresql_where=sa.text("is_public"),
    )
    op.create_index(
        "ix_ap_activities_unfanned",
        "ap_activities",
        ["id"],
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.create_index("ix_ap_activities_object_uri", "ap_activities", ["object_uri", "id"])

    op.create_table(
        "ap_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("inbox_url", sa.String(length=500), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','delivered','dead')", name=op.f("ck_ap_deliveries_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["ap_activities.id"],
            name=op.f("fk_ap_deliveries_activity_id_ap_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_deliveries")),
        sa.UniqueConstraint("activity_id", "inbox_url", name=op.f("uq_ap_deliveries_activity_id")),
    )
    op.create_index(
        "ix_ap_deliveries_due",
        "ap_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_ap_deliveries_status_host", "ap_deliveries", ["status", "host"])

    op.create_table(
        "ap_delivery_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "attempted_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('delivered','retry','dead')",
            name=op.f("ck_ap_delivery_attempts_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["ap_deliveries.id"],
            name=op.f("fk_ap_delivery_attempts_delivery_id_ap_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_delivery_attempts")),
    )
    op.create_index(
        "ix_ap_delivery_attempts_delivery_id", "ap_delivery_attempts", ["delivery_id", "id"]
    )

    op.create_table(
        "ap_followers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("actor_app", sa.String(length=20), nullable=False),
        sa.Column("actor_uri", sa.String(length=500), nullable=False),
        sa.Column("inbox_url", sa.String(length=500), nullable=False),
        sa.Column("shared_inbox_url", sa.String(length=500), nullable=True),
        sa.Column("follow_activity_uri", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_followers")),
        sa.UniqueConstraint("actor_app", "actor_uri", name=op.f("uq_ap_followers_actor_app")),
    )

    op.create_table(
        "ap_remote_actors",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=500), nullable=True),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("inbox_url", sa.String(length=500), nullable=True),
        sa.Column("shared_inbox_url", sa.String(length=500), nullable=True),
        sa.Column("preferred_username", sa.String(length=200), nullable=True),
        sa.Column("actor_type", sa.String(length=30), nullable=True),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_remote_actors")),
        sa.UniqueConstraint("uri", name=op.f("uq_ap_remote_actors_uri")),
        sa.UniqueConstraint("key_id", name=op.f("uq_ap_remote_actors_key_id")),
    )

    op.create_table(
        "ap_inbound_activities",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("actor_uri", sa.String(length=500), nullable=False),
        sa.Column("activity_type", sa.String(length=30), nullable=False),
        sa.Column("recipient_app", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_inbound_activities")),
        sa.UniqueConstraint("uri", name=op.f("uq_ap_inbound_activities_uri")),
    )

    op.create_table(
        "ap_hosts",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unavailable_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_ap_hosts")),
    )


def downgrade() -> None:
    op.drop_table("ap_hosts")
    op.drop_table("ap_inbound_activities")
    op.drop_table("ap_remote_actors")
    op.drop_table("ap_followers")
    op.drop_table("ap_delivery_attempts")
    op.drop_table("ap_deliveries")
    op.drop_table("ap_activities")
