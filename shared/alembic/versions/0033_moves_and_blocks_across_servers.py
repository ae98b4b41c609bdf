"""Moderation across servers: accounts move, blocks travel.

An account gains the aliases it is also known as (``alsoKnownAs``: a member's old accounts,
named by the member, so their old server may send ``Move``; a remote account's as it said) and
the account it moved to (``movedTo``), by URI: a moved account names its successor even when
we have no row for it any more. A block remembers the ``Block`` activity's id (ours when a
member blocks a remote account, theirs when a remote account blocks a member, which is
recorded as that account's block of the member) so that ``Undo`` can name it, and blocks are
also looked up by whom they target (what a member sees leaves out who blocked them).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "social_accounts",
        sa.Column(
            "also_known_as",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.add_column("social_accounts", sa.Column("moved_to_uri", sa.String(500), nullable=True))
    op.add_column("social_blocks", sa.Column("uri", sa.String(500), nullable=True))
    op.create_index("ix_social_blocks_target", "social_blocks", ["target_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_social_blocks_target", table_name="social_blocks")
    op.drop_column("social_blocks", "uri")
    op.drop_column("social_accounts", "moved_to_uri")
    op.drop_column("social_accounts", "also_known_as")
