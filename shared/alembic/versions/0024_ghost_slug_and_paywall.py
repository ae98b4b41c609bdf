"""Ghost's slug of a synced item, and where a members-only body's paywall stands.

``blog_posts.ghost_slug`` is the slug Ghost gives a synced item, which the blog's own
``slug`` may not be (a local post had it first): Ghost's navigation, the links inside Ghost's
bodies and Ghost's old URLs (``/<slug>/``) name items by it. ``blog_posts.paywall_at`` is
the length of the part of ``html`` that visitors read of a members-only item (what stood
before Ghost's paywall card); members read the whole body. Without it a locked item shows
only its excerpt, as before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("blog_posts", sa.Column("ghost_slug", sa.String(length=191), nullable=True))
    op.create_unique_constraint(op.f("uq_blog_posts_ghost_slug"), "blog_posts", ["ghost_slug"])
    op.add_column("blog_posts", sa.Column("paywall_at", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("blog_posts", "paywall_at")
    op.drop_constraint(op.f("uq_blog_posts_ghost_slug"), "blog_posts", type_="unique")
    op.drop_column("blog_posts", "ghost_slug")
