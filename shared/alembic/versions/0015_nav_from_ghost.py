"""Site navigation from Ghost: links the Ghost sync adopted from Ghost's own navigation.

``nav_items.from_ghost`` marks them. Every sync (and every ``site.changed`` webhook)
replaces exactly those rows with Ghost's current navigation; the editors' own links are
never touched, and editors cannot change Ghost's (the service refuses). Ghost's navigation
is flat, so its links are always top-level.

Revision ID: 0015
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "nav_items",
        sa.Column("from_ghost", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_nav_items_ghost_top_level"),
        "nav_items",
        "NOT from_ghost OR parent_id IS NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_nav_items_ghost_top_level"), "nav_items", type_="check")
    op.drop_column("nav_items", "from_ghost")
