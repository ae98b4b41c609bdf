"""What came in for the app actors' objects: Likes, boosts and replies, for staff to see.

``ap_app_interactions`` holds one row per received Like, Announce or reply (a Create whose object
is inReplyTo one of our app actors' objects): which app actor's object, who, the activity's id
(unique per sender, so a repeated delivery adds nothing; an Undo removes it) and, for a reply,
its note's id, link and text.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ap_app_interactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("actor_app", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("actor_uri", sa.String(length=500), nullable=False),
        sa.Column("activity_uri", sa.String(length=500), nullable=False),
        sa.Column("object_uri", sa.String(length=500), nullable=False),
        sa.Column("reply_uri", sa.String(length=500), nullable=True),
        sa.Column("reply_url", sa.String(length=500), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('like', 'boost', 'reply')", name=op.f("ck_ap_app_interactions_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ap_app_interactions")),
        sa.UniqueConstraint(
            "actor_uri", "activity_uri", name=op.f("uq_ap_app_interactions_actor_uri")
        ),
    )
    op.create_index(
        "ix_ap_app_interactions_app", "ap_app_interactions", ["actor_app", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ap_app_interactions_app", table_name="ap_app_interactions")
    op.drop_table("ap_app_interactions")
