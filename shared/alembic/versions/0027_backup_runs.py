"""Each completed backup is recorded, so the worker's /metrics and the status page can say when.

``backup_runs`` holds one row per backup `rose-ash backup` finished: when, its directory's
name, its size (the dump and the media files) and the schema revision it holds.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backup_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("schema_revision", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_runs")),
    )
    op.create_index(
        op.f("ix_backup_runs_finished_at"), "backup_runs", ["finished_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_backup_runs_finished_at"), table_name="backup_runs")
    op.drop_table("backup_runs")
