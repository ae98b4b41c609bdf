"""Stored files are erased through a queue (decision 0112): ``media_erasures`` holds each file
whose last owner went, the store it lives in, and its attempts, until the worker's stage of that
store has removed it and seen it gone (or found it in use again).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_erasures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("store", sa.String(length=20), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_erasures")),
    )
    op.create_index(
        "uq_media_erasures_pending",
        "media_erasures",
        ["store", "name"],
        unique=True,
        postgresql_where=sa.text("done_at IS NULL"),
    )
    op.create_index(
        "ix_media_erasures_due",
        "media_erasures",
        ["next_attempt_at"],
        postgresql_where=sa.text("done_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_media_erasures_due", table_name="media_erasures")
    op.drop_index("uq_media_erasures_pending", table_name="media_erasures")
    op.drop_table("media_erasures")
