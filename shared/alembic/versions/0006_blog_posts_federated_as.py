"""Blog posts remember the ActivityPub id they are federated under.

``blog_posts.ap_object_uri`` is the id of the ``Article`` the blog's actor published for the
post (``/ap/objects/<uid>`` on the blog host) while the post is live on the fediverse: set with
its ``Create``, reused by every ``Update``, cleared by its ``Delete`` (unpublished, made
members-only, deleted). A post published again gets a fresh id, because servers such as Mastodon
keep a tombstone for a deleted id and never accept it again. Posts published before this
migration stay NULL: they were never federated, and are not announced retroactively.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("blog_posts", sa.Column("ap_object_uri", sa.String(length=500), nullable=True))
    op.create_unique_constraint(
        op.f("uq_blog_posts_ap_object_uri"), "blog_posts", ["ap_object_uri"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_blog_posts_ap_object_uri"), "blog_posts", type_="unique")
    op.drop_column("blog_posts", "ap_object_uri")
