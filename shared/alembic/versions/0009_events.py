"""Events: calendars, events (single or recurring, times in UTC beside their IANA zone),
exceptions to a recurrence, free bookings and their waiting list, ticket types sold through the
cart, issued tickets, and members' private calendar-feed tokens.

Revision ID: 0009
Revises: 0013
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_calendars",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("colour", sa.String(length=7), server_default="#7a3b69", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
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
        sa.CheckConstraint("colour ~ '^#[0-9a-f]{6}$'", name=op.f("ck_event_calendars_colour_hex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_calendars")),
        sa.UniqueConstraint("slug", name=op.f("uq_event_calendars_slug")),
    )
    op.create_table(
        "event_feed_tokens",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_feed_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_event_feed_tokens")),
        sa.UniqueConstraint("token", name=op.f("uq_event_feed_tokens_token")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("calendar_id", sa.BigInteger(), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("uid", sa.String(length=191), nullable=False),
        sa.Column("sequence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description_html", sa.Text(), server_default="", nullable=False),
        sa.Column("image_url", sa.String(length=2000), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("all_day", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=True),
        sa.Column("recur_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("location_address", sa.String(length=500), server_default="", nullable=False),
        sa.Column("map_url", sa.String(length=2000), nullable=True),
        sa.Column("organiser", sa.String(length=255), server_default="", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("per_person_limit", sa.Integer(), server_default="4", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("ap_object_uri", sa.String(length=500), nullable=True),
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
            "status IN ('draft', 'published', 'cancelled')", name=op.f("ck_events_status_known")
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 0", name=op.f("ck_events_capacity_not_negative")
        ),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_events_ends_after_start")),
        sa.CheckConstraint(
            "per_person_limit >= 1", name=op.f("ck_events_per_person_limit_positive")
        ),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["event_calendars.id"],
            name=op.f("fk_events_calendar_id_event_calendars"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("slug", name=op.f("uq_events_slug")),
        sa.UniqueConstraint("uid", name=op.f("uq_events_uid")),
        sa.UniqueConstraint("ap_object_uri", name=op.f("uq_events_ap_object_uri")),
    )
    op.create_index(op.f("ix_events_calendar_id"), "events", ["calendar_id"], unique=False)
    op.create_index("ix_events_tags", "events", ["tags"], unique=False, postgresql_using="gin")
    op.create_index(
        "ix_events_window", "events", ["status", "start_at", "recur_until"], unique=False
    )
    op.create_table(
        "event_bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
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
            "status IN ('confirmed', 'waiting', 'cancelled')",
            name=op.f("ck_event_bookings_status_known"),
        ),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_event_bookings_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_bookings_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_bookings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_event_bookings_code")),
    )
    op.create_index(
        "ix_event_bookings_occurrence",
        "event_bookings",
        ["event_id", "occurrence_start", "status"],
        unique=False,
    )
    op.create_index(op.f("ix_event_bookings_user_id"), "event_bookings", ["user_id"], unique=False)
    op.create_table(
        "event_exceptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("new_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_end", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "cancelled OR (new_start IS NOT NULL AND new_end IS NOT NULL AND new_end > new_start)",
            name=op.f("ck_event_exceptions_moved_has_times"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_exceptions_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_exceptions")),
        sa.UniqueConstraint("event_id", "occurrence_start", name="uq_event_exceptions_occurrence"),
    )
    op.create_table(
        "event_ticket_types",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="GBP", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("taken", sa.Integer(), server_default="0", nullable=False),
        sa.Column("available", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 0",
            name=op.f("ck_event_ticket_types_capacity_not_negative"),
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR taken <= capacity",
            name=op.f("ck_event_ticket_types_taken_within_capacity"),
        ),
        sa.CheckConstraint(
            "price_minor >= 0", name=op.f("ck_event_ticket_types_price_not_negative")
        ),
        sa.CheckConstraint("taken >= 0", name=op.f("ck_event_ticket_types_taken_not_negative")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_ticket_types_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_ticket_types")),
    )
    op.create_index(
        "ix_event_ticket_types_occurrence",
        "event_ticket_types",
        ["event_id", "occurrence_start"],
        unique=False,
    )
    op.create_table(
        "event_tickets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_type_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("holder_email", sa.String(length=320), nullable=False),
        sa.Column("holder_name", sa.String(length=191), server_default="", nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_line_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="issued", nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('issued', 'cancelled')", name=op.f("ck_event_tickets_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_tickets_event_id_events"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"],
            ["event_ticket_types.id"],
            name=op.f("fk_event_tickets_ticket_type_id_event_ticket_types"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_tickets_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_tickets")),
        sa.UniqueConstraint("code", name=op.f("uq_event_tickets_code")),
        sa.UniqueConstraint("order_line_id", "seq", name="uq_event_tickets_order_line"),
    )
    op.create_index(
        "ix_event_tickets_occurrence",
        "event_tickets",
        ["event_id", "occurrence_start"],
        unique=False,
    )
    op.create_index(op.f("ix_event_tickets_user_id"), "event_tickets", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_tickets_user_id"), table_name="event_tickets")
    op.drop_index("ix_event_tickets_occurrence", table_name="event_tickets")
    op.drop_table("event_tickets")
    op.drop_index("ix_event_ticket_types_occurrence", table_name="event_ticket_types")
    op.drop_table("event_ticket_types")
    op.drop_table("event_exceptions")
    op.drop_index(op.f("ix_event_bookings_user_id"), table_name="event_bookings")
    op.drop_index("ix_event_bookings_occurrence", table_name="event_bookings")
    op.drop_table("event_bookings")
    op.drop_index("ix_events_window", table_name="events")
    op.drop_index("ix_events_tags", table_name="events", postgresql_using="gin")
    op.drop_index(op.f("ix_events_calendar_id"), table_name="events")
    op.drop_table("events")
    op.drop_table("event_feed_tokens")
    op.drop_table("event_calendars")
