"""What a post shows and shares as Ghost has it: the Twitter card's own title, description
and image, the feature image's caption, and the feature image's size.

``blog_posts`` gains ``twitter_title``, ``twitter_description``, ``twitter_image`` (Ghost's
``twitter_*`` fields, used for the Twitter card before the OpenGraph ones),
``feature_image_caption`` (sanitized HTML) and ``feature_image_width`` /
``feature_image_height`` (``og:image:width`` / ``og:image:height``, known for images in the
media store). All are optional: nothing to backfill.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("blog_posts", sa.Column("feature_image_caption", sa.Text(), nullable=True))
    op.add_column("blog_posts", sa.Column("feature_image_width", sa.Integer(), nullable=True))
    op.add_column("blog_posts", sa.Column("feature_image_height", sa.Integer(), nullable=True))
    op.add_column("blog_posts", sa.Column("twitter_title", sa.String(length=300), nullable=True))
    op.add_column(
        "blog_posts", sa.Column("twitter_description", sa.String(length=500), nullable=True)
    )
    op.add_column("blog_posts", sa.Column("twitter_image", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    for column in (
        "twitter_image",
        "twitter_description",
        "twitter_title",
        "feature_image_height",
        "feature_image_width",
        "feature_image_caption",
    ):
        op.drop_column("blog_posts", column)
