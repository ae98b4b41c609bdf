"""Site navigation (nav_items, with a default set) and the seed of the cart (cart_items).

Both back the header every app shows, composed from fragments: ``blog/nav`` reads nav_items
and ``cart/mini`` counts a member's or anonymous visitor's cart_items. The default links are
inserted here so a fresh database has a usable header; editors change them later.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_NAVIGATION = (
    ("Home", "blog", "/", 10),
    ("Market", "market", "/", 20),
    ("Events", "events", "/", 30),
    ("Community", "federation", "/", 40),
)


def upgrade() -> None:
    nav_items = op.create_table(
        "nav_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("app", sa.String(length=20), nullable=True),
        sa.Column("path", sa.String(length=500), server_default="/", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "app IS NULL OR app IN ('blog','market','cart','events','federation','account')",
            name=op.f("ck_nav_items_app_known"),
        ),
        sa.CheckConstraint(
            "(app IS NOT NULL AND path LIKE '/%') OR (app IS NULL AND path LIKE 'https://%')",
            name=op.f("ck_nav_items_path_form"),
        ),
        sa.CheckConstraint("length(btrim(label)) > 0", name=op.f("ck_nav_items_label_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nav_items")),
    )
    op.create_index("ix_nav_items_position", "nav_items", ["position", "id"], unique=False)
    op.bulk_insert(
        nav_items,
        [
            {"label": label, "app": app, "path": path, "position": position}
            for label, app, path, position in DEFAULT_NAVIGATION
        ],
    )

    op.create_table(
        "cart_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("cart_key", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (cart_key IS NULL)", name=op.f("ck_cart_items_one_owner")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_items_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cart_items_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_items")),
    )
    op.create_index("ix_cart_items_user_id", "cart_items", ["user_id"], unique=False)
    op.create_index("ix_cart_items_cart_key", "cart_items", ["cart_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cart_items_cart_key", table_name="cart_items")
    op.drop_index("ix_cart_items_user_id", table_name="cart_items")
    op.drop_table("cart_items")
    op.drop_index("ix_nav_items_position", table_name="nav_items")
    op.drop_table("nav_items")
