"""Tools that sign members in with their Rose Ash account: OpenID Connect clients an admin
registers (``oidc_clients``), the members' consents to them (``oidc_consents``) and the
back-channel logout tokens owed to them (``oidc_logout_notices``), and an index to find the
tokens a tool holds.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # The worker looks for tokens of tools with a back-channel logout URI each cycle.
    op.create_index("ix_oauth_tokens_client_id", "oauth_tokens", ["client_id"])
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("redirect_uris", postgresql.ARRAY(sa.String(length=500)), nullable=False),
        sa.Column(
            "post_logout_redirect_uris",
            postgresql.ARRAY(sa.String(length=500)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("backchannel_logout_uri", sa.String(length=500), nullable=True),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("trusted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "client_id ~ '^[a-z0-9][a-z0-9-]{2,49}$'",
            name=op.f("ck_oidc_clients_client_id_format"),
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_clients")),
    )
    op.create_table(
        "oidc_consents",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.String(length=50), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_consents_client_id_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oidc_consents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_oidc_consents")),
    )
    op.create_index("ix_oidc_consents_client_id", "oidc_consents", ["client_id"])
    op.create_table(
        "oidc_logout_notices",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.Column("failed_at", _TS, nullable=True),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oidc_clients.client_id"],
            name=op.f("fk_oidc_logout_notices_client_id_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sid"],
            ["auth_sessions.sid"],
            name=op.f("fk_oidc_logout_notices_sid_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sid", "client_id", name=op.f("pk_oidc_logout_notices")),
    )


def downgrade() -> None:
    op.drop_table("oidc_logout_notices")
    op.drop_index("ix_oidc_consents_client_id", table_name="oidc_consents")
    op.drop_table("oidc_consents")
    op.drop_table("oidc_clients")
    op.drop_index("ix_oauth_tokens_client_id", table_name="oauth_tokens")
