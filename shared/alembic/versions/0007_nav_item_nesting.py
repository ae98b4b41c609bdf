"""Site navigation nesting: a link may sit under another (one level deep).

``nav_items.parent_id`` points at a top-level item; deleting the parent deletes its
sub-items with it. "One level deep" is the editor's rule (the service checks it): a
CHECK constraint cannot look at another row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nav_items", sa.Column("parent_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_nav_items_parent_id_nav_items"),
        "nav_items",
        "nav_items",
        ["parent_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_nav_items_parent_id"), "nav_items", ["parent_id"], unique=False)
    op.create_check_constraint(
        op.f("ck_nav_items_not_own_parent"), "nav_items", "parent_id IS NULL OR parent_id <> id"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_nav_items_not_own_parent"), "nav_items", type_="check")
    op.drop_index(op.f("ix_nav_items_parent_id"), table_name="nav_items")
    op.drop_constraint(op.f("fk_nav_items_parent_id_nav_items"), "nav_items", type_="foreignkey")
    op.drop_column("nav_items", "parent_id")
