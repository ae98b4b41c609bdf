"""The federation social hub: members' fediverse accounts, follows, statuses, likes,
notifications, blocks and mutes, domain blocks and reports; ``ap_activities.actor_account_id``
marks what a member's own actor published.

Revision ID: 0010
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "social_accounts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("avatar_url", sa.String(length=500), nullable=True),
        sa.Column("header_url", sa.String(length=500), nullable=True),
        sa.Column(
            "fields", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column("inbox_url", sa.String(length=500), nullable=True),
        sa.Column("shared_inbox_url", sa.String(length=500), nullable=True),
        sa.Column("locked", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("hide_followers", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("discoverable", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) = (domain IS NOT NULL)",
            name=op.f("ck_social_accounts_local_iff_member"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_social_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_accounts")),
        sa.UniqueConstraint("uri", name=op.f("uq_social_accounts_uri")),
        sa.UniqueConstraint("user_id", name=op.f("uq_social_accounts_user_id")),
    )
    op.create_index(
        "ix_social_accounts_handle",
        "social_accounts",
        [sa.literal_column("lower(username)"), sa.literal_column("lower(domain)")],
        unique=False,
    )
    op.create_index(
        "uq_social_accounts_local_username",
        "social_accounts",
        [sa.literal_column("lower(username)")],
        unique=True,
        postgresql_where=sa.text("domain IS NULL"),
    )
    op.create_table(
        "social_domain_blocks",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_social_domain_blocks_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_social_domain_blocks")),
    )
    op.create_table(
        "social_blocks",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('block','mute')", name=op.f("ck_social_blocks_kind_known")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_blocks_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_blocks_target_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "target_id", name=op.f("pk_social_blocks")),
    )
    op.create_table(
        "social_follows",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("follower_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("follow_uri", sa.String(length=500), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('pending','accepted')", name=op.f("ck_social_follows_state_known")
        ),
        sa.CheckConstraint("follower_id <> target_id", name=op.f("ck_social_follows_not_self")),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_follows_follower_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_follows_target_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_follows")),
        sa.UniqueConstraint("follow_uri", name=op.f("uq_social_follows_follow_uri")),
        sa.UniqueConstraint("follower_id", "target_id", name=op.f("uq_social_follows_follower_id")),
    )
    op.create_index(
        "ix_social_follows_target", "social_follows", ["target_id", "state"], unique=False
    )
    op.create_table(
        "social_statuses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_local", sa.Boolean(), nullable=False),
        sa.Column("object_type", sa.String(length=20), server_default="Note", nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("content", sa.Text(), server_default="", nullable=False),
        sa.Column("spoiler_text", sa.String(length=500), server_default="", nullable=False),
        sa.Column("sensitive", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("in_reply_to_uri", sa.String(length=500), nullable=True),
        sa.Column("reblog_of_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "attachments", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "tags", postgresql.JSONB(astext_type=Text()), server_default="[]", nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visibility IN ('public','unlisted','private','direct')",
            name=op.f("ck_social_statuses_visibility_known"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_statuses_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reblog_of_id"],
            ["social_statuses.id"],
            name=op.f("fk_social_statuses_reblog_of_id_social_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_statuses")),
        sa.UniqueConstraint(
            "account_id", "reblog_of_id", name=op.f("uq_social_statuses_account_id")
        ),
        sa.UniqueConstraint("uri", name=op.f("uq_social_statuses_uri")),
    )
    op.create_index(
        "ix_social_statuses_account", "social_statuses", ["account_id", "id"], unique=False
    )
    op.create_index(
        "ix_social_statuses_in_reply_to", "social_statuses", ["in_reply_to_uri"], unique=False
    )
    op.create_index(
        "ix_social_statuses_local_timeline",
        "social_statuses",
        ["id"],
        unique=False,
        postgresql_where=sa.text("is_local AND visibility = 'public' AND deleted_at IS NULL"),
    )
    op.create_table(
        "social_favourites",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_favourites_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["social_statuses.id"],
            name=op.f("fk_social_favourites_status_id_social_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_favourites")),
        sa.UniqueConstraint(
            "account_id", "status_id", name=op.f("uq_social_favourites_account_id")
        ),
        sa.UniqueConstraint("uri", name=op.f("uq_social_favourites_uri")),
    )
    op.create_table(
        "social_mentions",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_mentions_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["social_statuses.id"],
            name=op.f("fk_social_mentions_status_id_social_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("status_id", "account_id", name=op.f("pk_social_mentions")),
    )
    op.create_index(
        "ix_social_mentions_account", "social_mentions", ["account_id", "status_id"], unique=False
    )
    op.create_table(
        "social_notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("from_account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('follow','follow_request','mention','reply','like','boost')",
            name=op.f("ck_social_notifications_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_notifications_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_notifications_from_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["social_statuses.id"],
            name=op.f("fk_social_notifications_status_id_social_statuses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_notifications")),
    )
    op.create_index(
        "ix_social_notifications_account",
        "social_notifications",
        ["account_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_social_notifications_unread",
        "social_notifications",
        ["account_id"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "social_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_reports_reporter_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["users.id"],
            name=op.f("fk_social_reports_resolved_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["social_statuses.id"],
            name=op.f("fk_social_reports_status_id_social_statuses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_account_id"],
            ["social_accounts.id"],
            name=op.f("fk_social_reports_target_account_id_social_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_reports")),
    )
    op.create_index(
        "ix_social_reports_open",
        "social_reports",
        ["id"],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.add_column("ap_activities", sa.Column("actor_account_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_ap_activities_actor_account_id_social_accounts"),
        "ap_activities",
        "social_accounts",
        ["actor_account_id"],
        ["id"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_ap_activities_actor_account_id_social_accounts"),
        "ap_activities",
        type_="foreignkey",
    )
    op.drop_column("ap_activities", "actor_account_id")
    op.drop_index(
        "ix_social_reports_open",
        table_name="social_reports",
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.drop_table("social_reports")
    op.drop_index(
        "ix_social_notifications_unread",
        table_name="social_notifications",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_index("ix_social_notifications_account", table_name="social_notifications")
    op.drop_table("social_notifications")
    op.drop_index("ix_social_mentions_account", table_name="social_mentions")
    op.drop_table("social_mentions")
    op.drop_table("social_favourites")
    op.drop_index(
        "ix_social_statuses_local_timeline",
        table_name="social_statuses",
        postgresql_where=sa.text("is_local AND visibility = 'public' AND deleted_at IS NULL"),
    )
    op.drop_index("ix_social_statuses_in_reply_to", table_name="social_statuses")
    op.drop_index("ix_social_statuses_account", table_name="social_statuses")
    op.drop_table("social_statuses")
    op.drop_index("ix_social_follows_target", table_name="social_follows")
    op.drop_table("social_follows")
    op.drop_table("social_blocks")
    op.drop_table("social_domain_blocks")
    op.drop_index(
        "uq_social_accounts_local_username",
        table_name="social_accounts",
        postgresql_where=sa.text("domain IS NULL"),
    )
    op.drop_index("ix_social_accounts_handle", table_name="social_accounts")
    op.drop_table("social_accounts")
