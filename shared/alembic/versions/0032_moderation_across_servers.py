"""Moderation across servers: a report can come from another server (a received ``Flag``:
no reporting member, its origin instead, and the posts it named), and a member's report of a
remote account remembers when it was forwarded there. A domain block gains its severity:
``block`` (what every existing row means) or ``limit``.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "social_domain_blocks",
        sa.Column("severity", sa.String(length=10), server_default="block", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_social_domain_blocks_severity_known"),
        "social_domain_blocks",
        "severity IN ('limit', 'block')",
    )
    op.alter_column("social_reports", "reporter_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column("social_reports", sa.Column("origin_domain", sa.String(length=255)))
    op.add_column("social_reports", sa.Column("origin_actor_uri", sa.String(length=500)))
    op.add_column(
        "social_reports",
        sa.Column("status_ids", postgresql.JSONB(), server_default="[]", nullable=False),
    )
    op.add_column("social_reports", sa.Column("forwarded_at", sa.DateTime(timezone=True)))
    op.add_column("social_reports", sa.Column("forwarded_by", sa.BigInteger()))
    op.create_foreign_key(
        op.f("fk_social_reports_forwarded_by_users"),
        "social_reports",
        "users",
        ["forwarded_by"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        op.f("ck_social_reports_reporter_or_origin"),
        "social_reports",
        "reporter_id IS NOT NULL OR origin_domain IS NOT NULL",
    )


def downgrade() -> None:
    op.execute("DELETE FROM social_reports WHERE reporter_id IS NULL")
    op.drop_constraint(
        op.f("ck_social_reports_reporter_or_origin"), "social_reports", type_="check"
    )
    op.drop_constraint(
        op.f("fk_social_reports_forwarded_by_users"), "social_reports", type_="foreignkey"
    )
    for column in ("forwarded_by", "forwarded_at", "status_ids", "origin_actor_uri"):
        op.drop_column("social_reports", column)
    op.drop_column("social_reports", "origin_domain")
    op.alter_column("social_reports", "reporter_id", existing_type=sa.BigInteger(), nullable=False)
    op.execute("DELETE FROM social_domain_blocks WHERE severity = 'limit'")
    op.drop_constraint(
        op.f("ck_social_domain_blocks_severity_known"), "social_domain_blocks", type_="check"
    )
    op.drop_column("social_domain_blocks", "severity")
