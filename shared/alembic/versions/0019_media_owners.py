"""Who a stored media file belongs to: ``media_owners``.

A file under ``<media.root>/images/`` was nobody's: any member could point their avatar at a
blog's feature image and, by clearing it, have the file removed. Each row says that a domain
(and, when one was signed in, a member) uploaded the file named ``name``; a member may point
their profile only at files with a row of theirs, and a file is removed only when its last row
goes and nothing refers to it.

The files already in use get rows here, from what refers to them: blog posts' images (blog),
products' images (market), events' images (events), members' avatars, headers and post images
(social, with the member).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The stored file's name at the end of a URL of ours: ``.../images/<sha256>.<ext>``.
NAME = r"substring({} from '/images/([0-9a-f]{{64}}\.(png|jpg|gif|webp))$')"

BACKFILL = [
    ("blog", NAME.format("feature_image"), "NULL::bigint", "blog_posts", "TRUE"),
    ("blog", NAME.format("og_image"), "NULL::bigint", "blog_posts", "TRUE"),
    ("market", NAME.format("url"), "NULL::bigint", "market_product_images", "TRUE"),
    ("events", NAME.format("image_url"), "NULL::bigint", "events", "TRUE"),
    ("social", NAME.format("avatar_url"), "user_id", "social_accounts", "user_id IS NOT NULL"),
    ("social", NAME.format("header_url"), "user_id", "social_accounts", "user_id IS NOT NULL"),
]


def upgrade() -> None:
    op.create_table(
        "media_owners",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("domain", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_media_owners_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_owners")),
        sa.UniqueConstraint("name", "domain", "user_id", name="uq_media_owners"),
    )
    op.create_index("ix_media_owners_user_id", "media_owners", ["user_id"], unique=False)
    for domain, name, user, table, where in BACKFILL:
        op.execute(
            f"INSERT INTO media_owners (name, domain, user_id) "  # noqa: S608 - constants
            f"SELECT DISTINCT {name}, '{domain}', {user} FROM {table} "
            f"WHERE {where} AND {name} IS NOT NULL ON CONFLICT DO NOTHING"
        )
    # Members' post images: the attachments they uploaded (local ones) of each status.
    attachment = NAME.format("a.value ->> 'url'")
    op.execute(
        "INSERT INTO media_owners (name, domain, user_id) "  # noqa: S608 - constants
        f"SELECT DISTINCT {attachment}, 'social', acc.user_id "
        "FROM social_statuses s JOIN social_accounts acc ON acc.id = s.account_id, "
        "jsonb_array_elements(s.attachments) a "
        "WHERE acc.user_id IS NOT NULL AND (a.value ->> 'local')::boolean IS TRUE "
        f"AND {attachment} IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_index("ix_media_owners_user_id", table_name="media_owners")
    op.drop_table("media_owners")
