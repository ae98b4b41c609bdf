"""Blog content: posts and pages, tags, authors, old slugs, full-text search, Ghost sync state.

``blog_posts.search`` is a generated tsvector (title A, excerpt B, body text C) with a GIN
index, so search never needs a trigger and can never be stale.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_EXPRESSION = (
    "setweight(to_tsvector('english'::regconfig, translate(coalesce(title, ''), '<>', '  ')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, translate(coalesce(excerpt, ''), '<>', '  ')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, translate(coalesce(plaintext, ''), '<>', '  ')), 'C')"
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "blog_authors",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("profile_image", sa.String(length=2000), nullable=True),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("ghost_id", sa.String(length=24), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_blog_authors_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blog_authors")),
        sa.UniqueConstraint("ghost_id", name=op.f("uq_blog_authors_ghost_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_blog_authors_slug")),
    )
    op.create_index(op.f("ix_blog_authors_user_id"), "blog_authors", ["user_id"], unique=False)

    op.create_table(
        "blog_tags",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=10), server_default="public", nullable=False),
        sa.Column("ghost_id", sa.String(length=24), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "visibility IN ('public', 'internal')", name=op.f("ck_blog_tags_visibility_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blog_tags")),
        sa.UniqueConstraint("ghost_id", name=op.f("uq_blog_tags_ghost_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_blog_tags_slug")),
    )

    op.create_table(
        "blog_posts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(length=10), server_default="post", nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=191), nullable=False),
        sa.Column("html", sa.Text(), server_default="", nullable=False),
        sa.Column("plaintext", sa.Text(), server_default="", nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("feature_image", sa.String(length=2000), nullable=True),
        sa.Column("feature_image_alt", sa.String(length=191), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("featured", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("visibility", sa.String(length=10), server_default="public", nullable=False),
        sa.Column("meta_title", sa.String(length=300), nullable=True),
        sa.Column("meta_description", sa.String(length=500), nullable=True),
        sa.Column("og_title", sa.String(length=300), nullable=True),
        sa.Column("og_description", sa.String(length=500), nullable=True),
        sa.Column("og_image", sa.String(length=2000), nullable=True),
        sa.Column("canonical_url", sa.String(length=2000), nullable=True),
        sa.Column("ghost_id", sa.String(length=24), nullable=True),
        sa.Column("ghost_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_EXPRESSION, persisted=True),
            nullable=True,
        ),
        sa.CheckConstraint("kind IN ('post', 'page')", name=op.f("ck_blog_posts_kind_known")),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'published')",
            name=op.f("ck_blog_posts_status_known"),
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'members')", name=op.f("ck_blog_posts_visibility_known")
        ),
        sa.CheckConstraint(
            "status = 'draft' OR published_at IS NOT NULL",
            name=op.f("ck_blog_posts_dated_when_live"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blog_posts")),
        sa.UniqueConstraint("ghost_id", name=op.f("uq_blog_posts_ghost_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_blog_posts_slug")),
    )
    op.create_index(
        "ix_blog_posts_search", "blog_posts", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_blog_posts_listing",
        "blog_posts",
        ["kind", "status", sa.text("published_at DESC")],
        unique=False,
    )

    op.create_table(
        "blog_post_tags",
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["blog_posts.id"],
            name=op.f("fk_blog_post_tags_post_id_blog_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["blog_tags.id"],
            name=op.f("fk_blog_post_tags_tag_id_blog_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "tag_id", name=op.f("pk_blog_post_tags")),
    )
    op.create_index(op.f("ix_blog_post_tags_tag_id"), "blog_post_tags", ["tag_id"], unique=False)

    op.create_table(
        "blog_post_authors",
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["blog_authors.id"],
            name=op.f("fk_blog_post_authors_author_id_blog_authors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["blog_posts.id"],
            name=op.f("fk_blog_post_authors_post_id_blog_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "author_id", name=op.f("pk_blog_post_authors")),
    )
    op.create_index(
        op.f("ix_blog_post_authors_author_id"), "blog_post_authors", ["author_id"], unique=False
    )

    op.create_table(
        "blog_slug_redirects",
        sa.Column("old_slug", sa.String(length=191), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["blog_posts.id"],
            name=op.f("fk_blog_slug_redirects_post_id_blog_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("old_slug", name=op.f("pk_blog_slug_redirects")),
    )
    op.create_index(
        op.f("ix_blog_slug_redirects_post_id"), "blog_slug_redirects", ["post_id"], unique=False
    )

    op.create_table(
        "ghost_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ghost_state")),
    )


def downgrade() -> None:
    op.drop_table("ghost_state")
    op.drop_table("blog_slug_redirects")
    op.drop_table("blog_post_authors")
    op.drop_table("blog_post_tags")
    op.drop_table("blog_posts")
    op.drop_table("blog_tags")
    op.drop_table("blog_authors")
