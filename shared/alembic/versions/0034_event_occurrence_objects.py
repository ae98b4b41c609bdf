"""Each occurrence of a recurring event announced to the fediverse as its own Event.

``event_occurrence_objects`` holds one row per occurrence object sent: the event, the
occurrence (its RECURRENCE-ID), the object's id, the times and digest last sent, and when its
Delete went out. A partial unique index keeps one standing object per occurrence.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_occurrence_objects",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_uri", sa.String(length=500), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_occurrence_objects_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_occurrence_objects")),
        sa.UniqueConstraint("object_uri", name=op.f("uq_event_occurrence_objects_object_uri")),
    )
    op.create_index(
        "ix_event_occurrence_objects_standing",
        "event_occurrence_objects",
        ["event_id", "occurrence_start"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_event_occurrence_objects_standing",
        table_name="event_occurrence_objects",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_table("event_occurrence_objects")
